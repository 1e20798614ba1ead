"""GET /v1/payment-intents/{paymentIntentId}/refunds: the payment's refunds, oldest first."""

from __future__ import annotations

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import refund_body
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.movements import list_refunds
from payments.service.ports import IntentRepository


@http.route(bootstrap.intent_repository, parse=http.no_body)
def handler(request: http.Request[None], intents: IntentRepository) -> http.Response:
    intents = MerchantScopedIntents(intents, request.caller)
    refunds = list_refunds(request.path("paymentIntentId"), intents=intents)
    return http.respond(200, {"data": [refund_body(refund) for refund in refunds]})
