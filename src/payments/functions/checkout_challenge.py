"""POST /v1/checkouts/{trackingId}/challenge: the 3-D Secure outcome resumes the waiting workflow."""

from __future__ import annotations

from payments.functions import http
from payments.functions.checkout_wiring import Checkouts, checkouts
from payments.functions.schemas import ChallengeBody
from payments.service.checkout import answer_challenge
from payments.service.merchant_scope import MerchantScopedIntents


@http.route(checkouts, parse=http.no_body)
def handler(request: http.Request[None], deps: Checkouts) -> http.Response:
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
