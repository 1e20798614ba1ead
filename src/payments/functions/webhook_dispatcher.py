"""webhook-dispatcher: the webhook-events queue's messages become merchant webhook events, and a
delivery to each of the merchant's endpoints that wants one, queued on webhook-deliveries. A message is
a payment event from payment-events (raw delivery), or an outcome event the webhook-outcomes function
sent (`"kind": "webhook_event"`: adapters/sqs_webhook_events.py), told apart by that field alone. A
record that fails is reported failed alone and comes back; doing it again adds nothing twice
(service/webhook_delivery.py)."""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.adapters.event_topic import event_from_body
from payments.adapters.sqs_webhook_events import is_webhook_event, webhook_event_from_message
from payments.domain.webhook_endpoints import WebhookEvent
from payments.functions.webhook_wiring import Fanout, fanout
from payments.service.webhook_delivery import dispatch, webhook_event_for


def _event(body: dict[str, Any]) -> WebhookEvent | None:
    if is_webhook_event(body):
        return webhook_event_from_message(body)
    return webhook_event_for(event_from_body(body))


def _dispatch(record: Any, deps: Fanout) -> None:
    event = _event(json.loads(record.body))
    if event is None:  # a payment event published before events named their merchant: no one's
        return
    dispatch(
        event,
        endpoints=deps.endpoints,
        events=deps.events,
        deliveries=deps.deliveries,
        queue=deps.queue,
        now=deps.clock(),
    )


@bootstrap.lambda_function(fanout)
def handler(event: dict[str, Any], context: Any, deps: Fanout) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import (  # noqa: PLC0415 (cold start)
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def run(record: Any) -> None:
        _dispatch(record, deps)

    processor = BatchProcessor(event_type=EventType.SQS)
    return dict(
        process_partial_response(event=event, record_handler=run, processor=processor, context=context)
    )
