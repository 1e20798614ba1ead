"""POST /v1/checkouts/{trackingId}/challenge: the 3-D Secure outcome resumes the waiting workflow."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import ChallengeBody
from payments.service.checkout import answer_challenge


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        tracking_id = http.path_parameter(event, "trackingId")
        body = http.parse(ChallengeBody, http.json_body(event))
        answer_challenge(
            tracking_id,
            passed=body.outcome == "passed",
            checkouts=bootstrap.checkout_repository(),
            workflow=bootstrap.workflow(),
            intents=bootstrap.intents_for(http.caller(event)),
        )
        return http.respond(202, {"trackingId": tracking_id, "status": "RUNNING"})

    return http.handle(work)
