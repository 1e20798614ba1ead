"""GET /v1/checkouts/{trackingId}: where the checkout stands, and what the client must do next."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.service.checkout import checkout_view
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import CheckoutRepository, IntentRepository, Workflow


@dataclass(frozen=True, slots=True)
class Dependencies:
    checkouts: CheckoutRepository
    workflow: Workflow
    intents: IntentRepository


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        checkouts=bootstrap.checkout_repository(env),
        workflow=bootstrap.workflow(env),
        intents=bootstrap.intent_repository(env),
    )


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    view = checkout_view(
        request.path("trackingId"),
        checkouts=deps.checkouts,
        workflow=deps.workflow,
        intents=MerchantScopedIntents(deps.intents, request.caller),
    )
    return http.respond(200, view)
