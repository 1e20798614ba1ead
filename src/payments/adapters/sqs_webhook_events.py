"""Outcome events (checkouts, refund batches) onto the webhook-events queue, beside the payment events
SNS delivers there raw.

The two are told apart by a field, never by trying one shape and then the other: a message of ours
says `"kind": "webhook_event"` and carries the event as its deliveries send it (its exact body); a
payment event has no `kind` (`event_topic.event_body`). Any other `kind` is refused, as is a type
that is not an outcome's: payment events come from the payment-events topic only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.webhook_endpoints import WebhookEvent
from payments.service.webhook_outcomes import OUTCOME_TYPES, WebhookEventQueue

KIND: Final = "webhook_event"


def message_body(event: WebhookEvent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": KIND,
        "eventId": event.event_id,
        "merchantId": event.merchant_id,
        "type": event.event_type,
        "occurredAt": format_time(event.occurred_at),
        "body": event.body.decode("utf-8"),
    }
    if event.payment_intent_id is not None:
        body["paymentIntentId"] = event.payment_intent_id
    return body


def is_webhook_event(body: Mapping[str, Any]) -> bool:
    """A message of ours (True), or one without a `kind`: a payment event (False). ValueError for a
    `kind` no one sends."""
    kind = body.get("kind")
    if kind is None:
        return False
    if kind != KIND:
        raise ValueError(f"a webhook-events message of unknown kind {kind!r}")
    return True


def webhook_event_from_message(body: Mapping[str, Any]) -> WebhookEvent:
    """The event `message_body` sent, checked: an outcome's type, and a body that says that type."""
    if body.get("kind") != KIND:
        raise ValueError("not a webhook event message")
    event_type = str(body["type"])
    if event_type not in OUTCOME_TYPES:
        raise ValueError(f"{event_type!r} is no outcome event type (payment events come from the topic)")
    text = str(body["body"])
    if json.loads(text).get("type") != event_type:
        raise ValueError(f"the body of event {body['eventId']} is not a {event_type} event")
    payment_intent_id = body.get("paymentIntentId")
    return WebhookEvent(
        event_id=str(body["eventId"]),
        merchant_id=str(body["merchantId"]),
        event_type=event_type,
        body=text.encode("utf-8"),
        occurred_at=parse_time(str(body["occurredAt"])),
        payment_intent_id=None if payment_intent_id is None else str(payment_intent_id),
    )


class SqsWebhookEventQueue(WebhookEventQueue):
    def __init__(self, client: Any, *, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, event: WebhookEvent) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(message_body(event), separators=(",", ":"))
        )
