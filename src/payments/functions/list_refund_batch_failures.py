"""GET /v1/refund-batches/{batchId}/failures: every row of the batch that was not refunded, and why,
by line, a page at a time: refused at import or when its refund was tried (FAILED), or waiting in the
dead-letter queue (DEAD_LETTERED). A 50,000-row file can fail whole; its reasons do not fit one answer.
Another merchant's batch is answered 404, as an unknown one is."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.functions.schemas import row_failure_body
from payments.service.ports import RefundBatchRepository
from payments.service.refund_batches import list_failures


@dataclass(frozen=True, slots=True)
class Dependencies:
    batches: RefundBatchRepository


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(batches=bootstrap.refund_batches(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    page = list_failures(
        request.path("batchId"),
        caller=request.caller,
        batches=deps.batches,
        limit=page_limit(request.query("limit")),
        next_token=request.query("nextToken"),
    )
    return http.respond(
        200, {"data": [row_failure_body(failure) for failure in page.items], "nextToken": page.next_token}
    )
