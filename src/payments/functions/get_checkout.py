"""GET /v1/checkouts/{trackingId}: where the checkout stands, and what the client must do next."""

from __future__ import annotations

from payments.functions import http
from payments.functions.checkout_wiring import Checkouts, checkouts
from payments.service.checkout import checkout_view
from payments.service.merchant_scope import MerchantScopedIntents


@http.route(checkouts, parse=http.no_body)
def handler(request: http.Request[None], deps: Checkouts) -> http.Response:
    view = checkout_view(
        request.path("trackingId"),
        checkouts=deps.checkouts,
        workflow=deps.workflow,
        intents=MerchantScopedIntents(deps.intents, request.caller),
    )
    return http.respond(200, view)
