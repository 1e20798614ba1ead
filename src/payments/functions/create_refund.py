"""POST /v1/refunds (payments-refund): refund all or part of what was captured, never more."""

from __future__ import annotations

import uuid
from typing import Any

from payments import bootstrap
from payments.domain.errors import PaymentsError
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import RefundBody, refund_body
from payments.service.movements import RefundIntent, refund_once


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        body = http.parse(RefundBody, http.json_body(event))
    except PaymentsError as error:
        return http.error_response(error)
    request_id = http.header(event, "idempotency-key") or str(uuid.uuid4())
    command = RefundIntent(body.paymentIntentId, request_id, body.amount, body.reason)

    def work() -> http.Response:
        # Once per Idempotency-Key even when the idempotency record was lost with a crashed process.
        refund = refund_once(
            command,
            intents=bootstrap.intents_for(http.caller(event)),
            gateway=bootstrap.gateway(),
            clock=bootstrap.now,
        )
        return http.respond(201, refund_body(refund))

    return bootstrap.idempotent_requests()(event, context, work)
