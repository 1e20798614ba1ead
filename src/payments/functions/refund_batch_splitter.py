"""refund-batch-splitter: a stored refund file (its S3 event) -> one job per good row on refund-jobs.fifo."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from payments import bootstrap
from payments.functions.observability import observed
from payments.service.refund_batches import queue_refund_file


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    queued = 0
    for record in event.get("Records", []):
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 events carry keys URL-encoded
        queued += queue_refund_file(
            key,
            files=bootstrap.refund_files(),
            jobs=bootstrap.refund_jobs(),
            batches=bootstrap.refund_batches(),
        )
    return {"queued": queued}
