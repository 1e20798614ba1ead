"""POST /v1/payment-intents/{paymentIntentId}/capture (payments-capture): full or partial capture."""

from __future__ import annotations

from payments.functions import http
from payments.functions.schemas import CaptureBody, intent_body
from payments.functions.wiring import Movements, movements
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.movements import CaptureIntent, capture_intent


@http.route(movements, parse=http.body(CaptureBody, required=False), idempotent=True)
def handler(request: http.Request[CaptureBody], deps: Movements) -> http.Response:
    command = CaptureIntent(
        request.path("paymentIntentId"), request.input.amount, request.header("idempotency-key")
    )
    intent = capture_intent(
        command,
        intents=MerchantScopedIntents(deps.intents, request.caller),
        gateway=deps.gateway,
        clock=deps.clock,
    )
    return http.respond(200, intent_body(intent))
