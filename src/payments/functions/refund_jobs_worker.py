"""refund-jobs-worker: batches of up to 10 refund jobs from refund-jobs.fifo, with a partial batch
response (Powertools' FIFO processor). A job that fails for a reason that may pass is reported failed,
and only its merchant's later jobs wait with it; the queue delivers it again, and after the last
attempt moves it to refund-jobs-dlq."""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.adapters.sqs_refund_jobs import row_from_body
from payments.functions.observability import observed
from payments.service.refund_batches import count_last_delivery, run_refund_job


def _last_delivery(receives: Any) -> bool:
    return int(receives) >= bootstrap.settings().refund_jobs_max_receives


def _run(record: Any) -> None:
    batch_id, row = row_from_body(json.loads(record.body))
    run_refund_job(
        batch_id,
        row,
        last_attempt=_last_delivery(record.attributes.approximate_receive_count),
        intents=bootstrap.intent_repository(),
        gateway=bootstrap.gateway(),
        batches=bootstrap.refund_batches(),
        clock=bootstrap.now,
    )


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (cold start)
        SqsFifoPartialProcessor,
        process_partial_response,
    )

    for record in event.get("Records", []):
        if _last_delivery(record["attributes"]["ApproximateReceiveCount"]):
            batch_id, row = row_from_body(json.loads(record["body"]))
            count_last_delivery(batch_id, row, batches=bootstrap.refund_batches())
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=_run, processor=processor, context=context)
    )
    finished = len(event.get("Records", [])) - len(response.get("batchItemFailures") or [])
    emf_metrics.record_refunds_processed(finished, stage=bootstrap.settings().stage)
    return response
