"""POST /v1/payment-intents/{paymentIntentId}/capture (payments-capture): full or partial capture."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.domain.errors import PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import CaptureBody, intent_body
from payments.service.movements import CaptureIntent, capture_intent


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        body = http.parse(CaptureBody, http.json_body(event, required=False))
        command = CaptureIntent(
            http.path_parameter(event, "paymentIntentId"), body.amount, http.header(event, "idempotency-key")
        )
    except PaymentsError as error:
        return http.error_response(error)

    def work() -> http.Response:
        intent = capture_intent(
            command,
            intents=bootstrap.intents_for(http.caller(event)),
            gateway=bootstrap.gateway(),
            clock=bootstrap.now,
        )
        return http.respond(200, intent_body(intent))

    return bootstrap.idempotent_requests()(event, context, work)
