"""POST /v1/payment-intents/{paymentIntentId}/void: release an authorization that was not captured."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.domain.errors import PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import intent_body
from payments.service.movements import void_intent


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        payment_intent_id = http.path_parameter(event, "paymentIntentId")
        http.json_body(event, required=False)  # a body, if any, must still be JSON
    except PaymentsError as error:
        return http.error_response(error)

    def work() -> http.Response:
        intent = void_intent(
            payment_intent_id,
            intents=bootstrap.intents_for(http.caller(event)),
            gateway=bootstrap.gateway(),
            clock=bootstrap.now,
            request_id=http.header(event, "idempotency-key"),
        )
        return http.respond(200, intent_body(intent))

    return bootstrap.idempotent_requests()(event, context, work)
