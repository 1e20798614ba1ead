"""POST /v1/payment-intents/{paymentIntentId}/void: release an authorization that was not captured."""

from __future__ import annotations

from payments.functions import http
from payments.functions.schemas import intent_body
from payments.functions.wiring import Movements, movements
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.movements import void_intent


def _payment_intent_id(event: http.Event) -> str:
    payment_intent_id = http.path_parameter(event, "paymentIntentId")
    http.json_body(event, required=False)  # a body, if any, must still be JSON
    return payment_intent_id


@http.route(movements, parse=_payment_intent_id, idempotent=True)
def handler(request: http.Request[str], deps: Movements) -> http.Response:
    intent = void_intent(
        request.input,
        intents=MerchantScopedIntents(deps.intents, request.caller),
        gateway=deps.gateway,
        clock=deps.clock,
        request_id=request.header("idempotency-key"),
    )
    return http.respond(200, intent_body(intent))
