"""webhook-outcomes: the checkouts and refund batches tables' streams -> webhook-events, one merchant
webhook event per outcome a write recorded (a checkout's success, failure or wait for a challenge; a
refund batch's last row settled), for the dispatcher to fan out as it does payment events.

The record of the outcome is the outbox, as the transactions table is for payment events: a task or
worker that crashes after writing it loses nothing (the stream has it), and whatever writes it (four
workflow states record failures) is announced the same way. A record is told by its table's key
(`trackingId`, or `batchId` and `item`); a failing one is retried from there, in order (partial batch
responses), and makes the same event again (service/webhook_outcomes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payments import bootstrap
from payments.adapters.dynamodb_checkouts import outcomes_of
from payments.adapters.dynamodb_refund_batches import completed_batch
from payments.service.ports import IntentRepository
from payments.service.webhook_outcomes import (
    WebhookEventQueue,
    announce_checkout_outcomes,
    announce_refund_batch_completed,
)


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository  # whose payment a checkout is, and its status now
    queue: WebhookEventQueue
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(intents=bootstrap.intent_repository(env), queue=bootstrap.webhook_event_queue(env))


def _written_at(change: Mapping[str, Any], deps: Dependencies) -> datetime:
    """When the write was made (the record's, so a retried record makes the very same event)."""
    created = change.get("ApproximateCreationDateTime")
    return deps.clock() if created is None else datetime.fromtimestamp(float(created), UTC)


def _announce(record: Any, deps: Dependencies) -> None:
    change: Mapping[str, Any] = record.raw_event["dynamodb"]
    keys = change["Keys"]
    old, new = change.get("OldImage"), change.get("NewImage")
    if "trackingId" in keys:
        outcomes = outcomes_of(old, new)
        if outcomes and new is not None:
            announce_checkout_outcomes(
                keys["trackingId"]["S"],
                new["paymentIntentId"]["S"],
                outcomes,
                _written_at(change, deps),
                intents=deps.intents,
                queue=deps.queue,
            )
    elif "batchId" in keys and "item" in keys:
        batch = completed_batch(old, new)
        if batch is not None:
            announce_refund_batch_completed(batch, _written_at(change, deps), queue=deps.queue)
    else:
        raise ValueError(f"a stream record of neither checkouts nor refund batches: keys {sorted(keys)}")


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (cold start)
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def announce(record: Any) -> None:
        _announce(record, deps)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return dict(
        process_partial_response(event=event, record_handler=announce, processor=processor, context=context)
    )
