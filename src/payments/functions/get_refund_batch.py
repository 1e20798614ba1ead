"""GET /v1/refund-batches/{batchId}: how far the batch has come. Another merchant's batch is answered
404, as an unknown one is."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import refund_batch_body
from payments.service.refund_batches import get_refund_batch


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        batch = get_refund_batch(
            http.path_parameter(event, "batchId"),
            caller=http.caller(event),
            batches=bootstrap.refund_batches(),
        )
        return http.respond(200, refund_batch_body(batch, errors=list(batch.errors)))

    return http.handle(work)
