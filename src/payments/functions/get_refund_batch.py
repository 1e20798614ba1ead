"""GET /v1/refund-batches/{batchId}: how far the batch has come."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import refund_batch_body


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        batch = bootstrap.refund_batches().get(http.path_parameter(event, "batchId"))
        return http.respond(200, refund_batch_body(batch, errors=list(batch.errors)))

    return http.handle(work)
