"""POST /v1/checkouts/{trackingId}/challenge: the 3-D Secure outcome resumes the waiting workflow."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import ChallengeBody
from payments.service.checkout import answer_challenge
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
    tracking_id = request.path("trackingId")
    body = http.parse(ChallengeBody, http.json_body(request.event))
    answer_challenge(
        tracking_id,
        passed=body.outcome == "passed",
        checkouts=deps.checkouts,
        workflow=deps.workflow,
        intents=MerchantScopedIntents(deps.intents, request.caller),
    )
    return http.respond(202, {"trackingId": tracking_id, "status": "RUNNING"})
