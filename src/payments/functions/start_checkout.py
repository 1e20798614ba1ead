"""POST /v1/checkouts: start the checkout workflow; answers at once with a tracking id."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.domain.errors import PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import StartCheckoutBody
from payments.service.checkout import StartCheckout, start_checkout


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        body = http.parse(StartCheckoutBody, http.json_body(event))
    except PaymentsError as error:
        return http.error_response(error)
    command = StartCheckout(body.paymentIntentId, body.deviceFingerprint, body.ipAddress)

    def work() -> http.Response:
        record = start_checkout(
            command,
            intents=bootstrap.intents_for(http.caller(event)),
            checkouts=bootstrap.checkout_repository(),
            workflow=bootstrap.workflow(),
            clock=bootstrap.now,
            step_up_timeout_seconds=bootstrap.settings().step_up_timeout_seconds,
        )
        return http.respond(202, {"trackingId": record.tracking_id, "status": "RUNNING"})

    return bootstrap.idempotent_requests()(event, context, work)
