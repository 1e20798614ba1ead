"""refund-jobs-worker: batches of up to 10 refund jobs from refund-jobs.fifo, with a partial batch
response (Powertools' FIFO processor). A job that fails for a reason that may pass is reported failed,
and only its merchant's later jobs wait with it; the queue delivers it again, and after the last
attempt moves it to refund-jobs-dlq."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.adapters.sqs_refund_jobs import row_from_body
from payments.service.ports import GatewayRouting, IntentRepository, RefundBatchRepository
from payments.service.refund_batches import count_last_delivery, run_refund_job


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    gateway: GatewayRouting
    batches: RefundBatchRepository
    max_receives: int  # the queue's deliveries of a job before it moves to the dead-letter queue
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        gateway=bootstrap.gateway(env),
        batches=bootstrap.refund_batches(env),
        max_receives=env.settings.refund_jobs_max_receives,
        stage=env.settings.stage,
    )


def _last_delivery(receives: Any, deps: Dependencies) -> bool:
    return int(receives) >= deps.max_receives


def _run(record: Any, deps: Dependencies) -> None:
    batch_id, row = row_from_body(json.loads(record.body))
    run_refund_job(
        batch_id,
        row,
        last_attempt=_last_delivery(record.attributes.approximate_receive_count, deps),
        intents=deps.intents,
        gateway=deps.gateway,
        batches=deps.batches,
        clock=deps.clock,
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (cold start)
        SqsFifoPartialProcessor,
        process_partial_response,
    )

    def run(record: Any) -> None:
        _run(record, deps)

    for record in event.get("Records", []):
        if _last_delivery(record["attributes"]["ApproximateReceiveCount"], deps):
            batch_id, row = row_from_body(json.loads(record["body"]))
            count_last_delivery(batch_id, row, batches=deps.batches)
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    response: dict[str, Any] = dict(
        process_partial_response(event=event, record_handler=run, processor=processor, context=context)
    )
    finished = len(event.get("Records", [])) - len(response.get("batchItemFailures") or [])
    emf_metrics.record_refunds_processed(finished, stage=deps.stage)
    return response
