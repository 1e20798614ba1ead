"""refund-batch-splitter: a stored refund file (its S3 event) -> one job per good row on refund-jobs.fifo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from payments import bootstrap
from payments.service.ports import FileStore, RefundBatchRepository, RefundJobQueue
from payments.service.refund_batches import queue_refund_file


@dataclass(frozen=True, slots=True)
class Dependencies:
    files: FileStore
    jobs: RefundJobQueue
    batches: RefundBatchRepository


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        files=bootstrap.refund_files(env),
        jobs=bootstrap.refund_jobs(env),
        batches=bootstrap.refund_batches(env),
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, int]:
    queued = 0
    for record in event.get("Records", []):
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 events carry keys URL-encoded
        queued += queue_refund_file(key, files=deps.files, jobs=deps.jobs, batches=deps.batches)
    return {"queued": queued}
