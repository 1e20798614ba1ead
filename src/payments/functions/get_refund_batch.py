"""GET /v1/refund-batches/{batchId}: how far the batch has come. Another merchant's batch is answered
404, as an unknown one is."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import refund_batch_body
from payments.service.ports import RefundBatchRepository
from payments.service.refund_batches import get_refund_batch


@dataclass(frozen=True, slots=True)
class Dependencies:
    batches: RefundBatchRepository


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(batches=bootstrap.refund_batches(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    batch = get_refund_batch(request.path("batchId"), caller=request.caller, batches=deps.batches)
    return http.respond(200, refund_batch_body(batch, errors=list(batch.errors)))
