"""Refund batches: import a merchant's file, queue its good rows, run each job once, count outcomes.

A batch belongs to the merchant of the key that uploaded it (a platform key's batch to no merchant):
another merchant's key gets the answer an unknown batch gets, and a merchant key's file may refund
its own merchant's payments only. Every row that is not refunded keeps its reason, readable through
`list_failures` page by page however many there are.
"""

from __future__ import annotations

from typing import Final

from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    UpstreamUnavailable,
)
from payments.domain.ids import new_id
from payments.domain.merchants import Caller
from payments.domain.refund_batches import (
    RefundRow,
    RowError,
    RowFailure,
    RowState,
    decode_refund_file,
    job_id,
    kept_copy,
    kept_rows,
    no_batch,
    parse_refund_file,
)
from payments.service.intents import Clock
from payments.service.movements import RefundIntent, refund_once
from payments.service.ports import (
    FileStore,
    GatewayRouting,
    IntentRepository,
    Page,
    RefundBatch,
    RefundBatchRepository,
    RefundJobQueue,
    no_intent,
)

FILES_PREFIX: Final = "batches/"
KEPT_ERRORS: Final = 100  # on the batch record; the import's answer and `list_failures` list them all
# Refused for good: retrying cannot make these succeed.
PERMANENT: Final = (NotFound, InvalidState, InvalidRequest)
# May pass on a later delivery.
TRANSIENT: Final = (UpstreamUnavailable, ConcurrentUpdate)


def file_key(batch_id: str) -> str:
    return f"{FILES_PREFIX}{batch_id}.csv"


def batch_id_of(key: str) -> str:
    if not (key.startswith(FILES_PREFIX) and key.endswith(".csv")):
        raise InvalidRequest(f"{key} is not a refund batch file")
    return key.removeprefix(FILES_PREFIX).removesuffix(".csv")


def import_refund_file(
    body: bytes, *, caller: Caller, batches: RefundBatchRepository, files: FileStore
) -> tuple[RefundBatch, list[RowError]]:
    """Check every row, record the batch (and every refused row), keep the file: its arrival queues
    the good rows. A merchant key's rows of any other merchant are refused."""
    parsed = parse_refund_file(decode_refund_file(body), merchant_id=caller.merchant_id)
    batch = RefundBatch(
        batch_id=new_id("rb"),
        total=parsed.total,
        failed=len(parsed.errors),
        errors=tuple(parsed.errors[:KEPT_ERRORS]),
        merchant_id=caller.merchant_id,
    )
    batches.create(batch, refused=parsed.errors)  # first: the file's arrival finds its batch
    files.put(file_key(batch.batch_id), kept_copy(parsed).encode("utf-8"), content_type="text/csv")
    return batch, parsed.errors


def get_refund_batch(batch_id: str, *, caller: Caller, batches: RefundBatchRepository) -> RefundBatch:
    """The batch, if the caller may see it; another merchant's is answered as an unknown one."""
    batch = batches.get(batch_id)
    if not caller.can_see(batch.merchant_id):
        raise no_batch(batch_id)
    return batch


def list_failures(
    batch_id: str, *, caller: Caller, batches: RefundBatchRepository, limit: int, next_token: str | None
) -> Page[RowFailure]:
    """One page of the batch's rows that were not refunded, by line, each with its reason."""
    get_refund_batch(batch_id, caller=caller, batches=batches)
    return batches.failures(batch_id, limit=limit, next_token=next_token)


def queue_refund_file(
    key: str, *, files: FileStore, jobs: RefundJobQueue, batches: RefundBatchRepository
) -> int:
    """The file's arrival: one job per good row. Delivered twice, the jobs are the same jobs."""
    batch_id = batch_id_of(key)
    rows = kept_rows(files.get(key).decode("utf-8"))
    queued = jobs.send(batch_id, rows)
    batches.mark_queued(batch_id, queued)
    return queued


def count_last_delivery(batch_id: str, row: RefundRow, *, batches: RefundBatchRepository) -> bool:
    """Before a job on its last delivery runs, it is counted dead-lettered (unless settled already):
    should that delivery never finish (the worker crashes, or the FIFO group skips the job behind a
    failed one), the queue moves it to the dead-letter queue already counted, so `pending` still
    reaches 0. A job that does finish replaces that count with its outcome, as a redriven one does."""
    return batches.settle_row(batch_id, row.line, RowState.DEAD_LETTERED, "not settled by its last delivery")


def run_refund_job(
    batch_id: str,
    row: RefundRow,
    *,
    last_attempt: bool,
    intents: IntentRepository,
    gateway: GatewayRouting,
    batches: RefundBatchRepository,
    clock: Clock,
) -> RowState:
    """Refund the row once. A refusal that cannot change settles the row FAILED; a failure that may
    pass is raised for the queue to deliver again, and counted DEAD_LETTERED on its last attempt."""
    command = RefundIntent(row.payment_intent_id, job_id(batch_id, row.line), row.amount, row.reason)
    try:
        intent = intents.get(row.payment_intent_id, consistent=True)
        if intent.merchant_id != row.merchant_id:
            # Answered as an unknown payment: a file learns nothing of other merchants' payments.
            raise no_intent(row.payment_intent_id)
        refund_once(command, intents=intents, gateway=gateway, clock=clock, intent=intent)
    except PERMANENT as refused:
        batches.settle_row(batch_id, row.line, RowState.FAILED, str(refused))
        return RowState.FAILED
    except TRANSIENT as error:
        if last_attempt:
            batches.settle_row(batch_id, row.line, RowState.DEAD_LETTERED, str(error))
        raise
    batches.settle_row(batch_id, row.line, RowState.SUCCEEDED, None)
    return RowState.SUCCEEDED
