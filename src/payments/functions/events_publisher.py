"""events-publisher: the transactions table's stream -> payment-events, one event per recorded movement.

Partial batch responses (Powertools' batch utility): a record that fails is retried from there, in
order, without publishing the ones before it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payments import bootstrap
from payments.adapters.dynamodb_items import transaction_from_item
from payments.service.events import publish_movement
from payments.service.ports import EventLog, EventPublisher


@dataclass(frozen=True, slots=True)
class Dependencies:
    publisher: EventPublisher
    log: EventLog


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(publisher=bootstrap.event_publisher(env), log=bootstrap.event_log(env))


def _publish(record: Any, deps: Dependencies) -> None:
    raw = record.raw_event
    if raw.get("eventName") != "INSERT":
        return  # movements are written once; nothing else on this table is an event
    publish_movement(
        transaction_from_item(raw["dynamodb"]["NewImage"]), publisher=deps.publisher, log=deps.log
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (cold start)
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def publish(record: Any) -> None:
        _publish(record, deps)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    return dict(
        process_partial_response(event=event, record_handler=publish, processor=processor, context=context)
    )
