"""POST /v1/checkouts: start the checkout workflow; answers at once with a tracking id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import StartCheckoutBody
from payments.service.checkout import StartCheckout, start_checkout
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import CheckoutRepository, IntentRepository, Workflow


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    checkouts: CheckoutRepository
    workflow: Workflow
    step_up_timeout_seconds: int
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        checkouts=bootstrap.checkout_repository(env),
        workflow=bootstrap.workflow(env),
        step_up_timeout_seconds=env.settings.step_up_timeout_seconds,
    )


def _command(event: http.Event) -> StartCheckout:
    body = http.parse(StartCheckoutBody, http.json_body(event))
    return StartCheckout(body.paymentIntentId, body.deviceFingerprint, body.ipAddress)


@http.route(wire, parse=_command, idempotent=True)
def handler(request: http.Request[StartCheckout], deps: Dependencies) -> http.Response:
    record = start_checkout(
        request.input,
        intents=MerchantScopedIntents(deps.intents, request.caller),
        checkouts=deps.checkouts,
        workflow=deps.workflow,
        clock=deps.clock,
        step_up_timeout_seconds=deps.step_up_timeout_seconds,
    )
    return http.respond(202, {"trackingId": record.tracking_id, "status": "RUNNING"})
