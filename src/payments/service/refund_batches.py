"""Refund batches: import a merchant's file, queue its good rows, run each job once, count outcomes."""

from __future__ import annotations

import csv
import io
from typing import Final

from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    UpstreamUnavailable,
)
from payments.domain.ids import new_id
from payments.domain.refund_batches import (
    HEADER,
    RefundFile,
    RefundRow,
    RowError,
    RowState,
    job_id,
    parse_refund_file,
)
from payments.service.intents import Clock
from payments.service.movements import RefundIntent, refund_once
from payments.service.ports import (
    FileStore,
    IntentRepository,
    PaymentGateway,
    RefundBatch,
    RefundBatchRepository,
    RefundJobQueue,
)

FILES_PREFIX: Final = "batches/"
KEPT_ERRORS: Final = 100  # on the batch record; the import's answer lists them all
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
    body: bytes, *, batches: RefundBatchRepository, files: FileStore
) -> tuple[RefundBatch, list[RowError]]:
    """Check every row, record the batch, keep the file: its arrival queues the good rows."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the file must be UTF-8 text") from None
    parsed = parse_refund_file(text)
    batch = RefundBatch(
        batch_id=new_id("rb"),
        total=parsed.total,
        failed=len(parsed.errors),
        errors=tuple(parsed.errors[:KEPT_ERRORS]),
    )
    batches.create(batch)  # first: the file's arrival finds its batch
    files.put(file_key(batch.batch_id), _kept_copy(parsed).encode("utf-8"), content_type="text/csv")
    return batch, parsed.errors


def _kept_copy(parsed: RefundFile) -> str:
    """The file as it is stored: the header and exactly the rows import accepted, each on its own line
    number, every refused line left blank. A refused line may hold anything (a card number, say), so
    it is never written to the bucket; the file's arrival queues the same rows, with the same lines."""
    last = max([1, *(row.line for row in parsed.rows), *(error.line for error in parsed.errors)])
    lines = [",".join(HEADER), *([""] * (last - 1))]
    for row in parsed.rows:
        cells = io.StringIO()
        csv.writer(cells, lineterminator="").writerow(
            [
                row.merchant_id,
                row.payment_intent_id,
                "" if row.amount is None else row.amount,
                row.reason or "",
            ]
        )
        lines[row.line - 1] = cells.getvalue()
    return "\n".join(lines) + "\n"


def queue_refund_file(
    key: str, *, files: FileStore, jobs: RefundJobQueue, batches: RefundBatchRepository
) -> int:
    """The file's arrival: one job per good row. Delivered twice, the jobs are the same jobs."""
    batch_id = batch_id_of(key)
    rows = parse_refund_file(files.get(key).decode("utf-8")).rows
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
    gateway: PaymentGateway,
    batches: RefundBatchRepository,
    clock: Clock,
) -> RowState:
    """Refund the row once. A refusal that cannot change settles the row FAILED; a failure that may
    pass is raised for the queue to deliver again, and counted DEAD_LETTERED on its last attempt."""
    command = RefundIntent(row.payment_intent_id, job_id(batch_id, row.line), row.amount, row.reason)
    try:
        intent = intents.get(row.payment_intent_id, consistent=True)
        if intent.merchant_id != row.merchant_id:
            raise InvalidRequest(f"payment {row.payment_intent_id} is not merchant {row.merchant_id}'s")
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
