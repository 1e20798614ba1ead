"""POST /v1/refunds (payments-refund): refund all or part of what was captured, never more."""

from __future__ import annotations

import uuid

from payments.functions import http
from payments.functions.schemas import RefundBody, refund_body
from payments.functions.wiring import Movements, movements
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.movements import RefundIntent, refund_once


def _command(event: http.Event) -> RefundIntent:
    body = http.parse(RefundBody, http.json_body(event))
    request_id = http.header(event, "idempotency-key") or str(uuid.uuid4())
    return RefundIntent(body.paymentIntentId, request_id, body.amount, body.reason)


@http.route(movements, parse=_command, idempotent=True)
def handler(request: http.Request[RefundIntent], deps: Movements) -> http.Response:
    # Once per Idempotency-Key even when the idempotency record was lost with a crashed process.
    refund = refund_once(
        request.input,
        intents=MerchantScopedIntents(deps.intents, request.caller),
        gateway=deps.gateway,
        clock=deps.clock,
    )
    return http.respond(201, refund_body(refund))
