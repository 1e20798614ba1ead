"""GET /v1/refund-batches/{batchId}/failures: every row of the batch that was not refunded, and why,
by line, a page at a time: refused at import or when its refund was tried (FAILED), or waiting in the
dead-letter queue (DEAD_LETTERED). A 50,000-row file can fail whole; its reasons do not fit one answer.
Another merchant's batch is answered 404, as an unknown one is."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.functions.observability import observed
from payments.functions.schemas import row_failure_body
from payments.service.refund_batches import list_failures


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        page = list_failures(
            http.path_parameter(event, "batchId"),
            caller=http.caller(event),
            batches=bootstrap.refund_batches(),
            limit=page_limit(http.query_parameter(event, "limit")),
            next_token=http.query_parameter(event, "nextToken"),
        )
        return http.respond(
            200, {"data": [row_failure_body(failure) for failure in page.items], "nextToken": page.next_token}
        )

    return http.handle(work)
