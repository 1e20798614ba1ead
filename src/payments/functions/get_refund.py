"""GET /v1/refunds/{refundId}."""

from __future__ import annotations

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import refund_body
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.movements import get_refund
from payments.service.ports import IntentRepository


@http.route(bootstrap.intent_repository, parse=http.no_body)
def handler(request: http.Request[None], intents: IntentRepository) -> http.Response:
    refund = get_refund(request.path("refundId"), intents=MerchantScopedIntents(intents, request.caller))
    return http.respond(200, refund_body(refund))
