"""GET /v1/payment-intents/{paymentIntentId}."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import intent_body
from payments.service.intents import get_intent


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        payment_intent_id = http.path_parameter(event, "paymentIntentId")
        intent = get_intent(payment_intent_id, intents=bootstrap.intents_for(http.caller(event)))
        return http.respond(200, intent_body(intent))

    return http.handle(work)
