"""GET /v1/payment-intents/{paymentIntentId}."""

from __future__ import annotations

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import intent_body
from payments.service.intents import get_intent
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import IntentRepository


@http.route(bootstrap.intent_repository, parse=http.no_body)
def handler(request: http.Request[None], intents: IntentRepository) -> http.Response:
    intents = MerchantScopedIntents(intents, request.caller)
    return http.respond(200, intent_body(get_intent(request.path("paymentIntentId"), intents=intents)))
