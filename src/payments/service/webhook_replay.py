"""Sending deliveries again: one event to its merchant's endpoints (a resend), or an endpoint's failed
deliveries since a time (a recovery).

A delivery sent again is the same delivery at its next generation (`Delivery.sent_again`): the same
event, so the receiver gets the same `webhook-id` and bytes, signed afresh, and the schedule from its
first attempt. A retry of the old generation still waiting in the queue is dropped when it comes back
instead of going on beside the new one. Each record is saved (conditionally, over the attempts and
generation it was read with) before its message is queued, since a message that came first would find
the old generation and be dropped. A crash between the two leaves deliveries pending with no message
(a resend's 20 at most; a recovery saves and queues 10 at a time, so one batch): a resend of the event
sends them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, InvalidState, NotFound
from payments.domain.webhook_endpoints import Delivery, WebhookEndpoint, WebhookEvent
from payments.service.webhook_delivery import task_for
from payments.service.webhook_ports import (
    DeliveryQueue,
    DeliveryTask,
    WebhookDeliveries,
    WebhookEndpoints,
    WebhookEvents,
)

# Events and deliveries are kept 30 days (the tables' TTL): a recovery reaches no further back.
RECOVERY_WINDOW: Final = timedelta(days=30)
# A recovery sends this many again per call, oldest first, and says how many are left: an endpoint down
# for days has thousands, and each is a conditional write and a message, within a route's 10 seconds.
MAX_RECOVERED: Final = 500
QUEUE_BATCH: Final = 10  # saved, then queued, this many at a time (one SendMessageBatch)
# A resend racing a worker that records an attempt reads the delivery again this often.
SAVE_TRIES: Final = 3
# `send_test_event`'s ids: a test event goes to the endpoint it was sent to, never to others.
TEST_EVENT_PREFIX: Final = "evt_test_"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recovered:
    recovered: int  # sent again now
    remaining: int  # failed since the time, left for the next call (past MAX_RECOVERED)


def resend_event(
    merchant_id: str,
    event_id: str,
    *,
    endpoints: WebhookEndpoints,
    events: WebhookEvents,
    deliveries: WebhookDeliveries,
    queue: DeliveryQueue,
    now: datetime,
) -> list[str]:
    """The merchant's event sent again to each of its enabled endpoints that has a delivery of it (one
    that succeeded too), and to each that wants its type now and has none (added since, or its filter
    changed: a new delivery, as the fan-out makes); the ids of the endpoints it goes to. A disabled
    endpoint is left out (its delivery would fail unsent). NotFound for another merchant's event."""
    event = events.get(merchant_id, event_id)
    tasks = [
        task
        for endpoint in endpoints.list(merchant_id)
        if endpoint.enabled and (task := _resend_to(endpoint, event, deliveries, now)) is not None
    ]
    for batch in _batches(tasks):
        queue.enqueue(batch)
    return [task.webhook_endpoint_id for task in tasks]


def _resend_to(
    endpoint: WebhookEndpoint, event: WebhookEvent, deliveries: WebhookDeliveries, now: datetime
) -> DeliveryTask | None:
    for _ in range(SAVE_TRIES):
        try:
            current = deliveries.get(endpoint.webhook_endpoint_id, event.event_id)
        except NotFound:
            if event.event_id.startswith(TEST_EVENT_PREFIX) or not endpoint.wants(event.event_type):
                return None
            fresh = Delivery(
                webhook_endpoint_id=endpoint.webhook_endpoint_id,
                event_id=event.event_id,
                merchant_id=event.merchant_id,
                event_type=event.event_type,
                created_at=now,
                updated_at=now,
            )
            if deliveries.add(fresh):
                return task_for(fresh)
            continue  # a dispatch of the same event added it meanwhile: send that one again
        again = current.sent_again(now)
        try:
            deliveries.save(again, expected_attempts=current.attempts, expected_generation=current.generation)
        except ConcurrentUpdate:
            continue  # a worker recorded an attempt meanwhile: read it again
        return task_for(again)
    raise ConcurrentUpdate(f"the delivery of {event.event_id} kept changing: try again")


def recover_deliveries(
    merchant_id: str,
    webhook_endpoint_id: str,
    since: datetime,
    *,
    endpoints: WebhookEndpoints,
    deliveries: WebhookDeliveries,
    queue: DeliveryQueue,
    now: datetime,
) -> Recovered:
    """The endpoint's failed deliveries created at or after `since` sent again, oldest first, at most
    MAX_RECOVERED of them. `since` must be within the last 30 days (InvalidRequest); the endpoint the
    merchant's (NotFound) and enabled (InvalidState: a delivery to it would fail unsent)."""
    if since > now:
        raise InvalidRequest("since must not be in the future")
    if since < now - RECOVERY_WINDOW:
        days = RECOVERY_WINDOW.days
        raise InvalidRequest(f"since must be within the last {days} days: deliveries are kept no longer")
    endpoint = endpoints.get(merchant_id, webhook_endpoint_id)
    if not endpoint.enabled:
        raise InvalidState("the webhook endpoint is disabled: enable it to recover its deliveries")
    failed = sorted(
        deliveries.failed_since(webhook_endpoint_id, since), key=lambda d: (d.created_at, d.event_id)
    )
    recovered = 0
    for batch in _batches(failed[:MAX_RECOVERED]):
        tasks = [task for delivery in batch if (task := _send_again(delivery, deliveries, now)) is not None]
        if tasks:
            queue.enqueue(tasks)
        recovered += len(tasks)
    return Recovered(recovered=recovered, remaining=max(0, len(failed) - MAX_RECOVERED))


def _send_again(delivery: Delivery, deliveries: WebhookDeliveries, now: datetime) -> DeliveryTask | None:
    """The failed delivery at its next generation; None when it changed since it was listed (a resend
    or another recovery sent it again first, and queued it)."""
    again = delivery.sent_again(now)
    try:
        deliveries.save(again, expected_attempts=delivery.attempts, expected_generation=delivery.generation)
    except ConcurrentUpdate:
        return None
    return task_for(again)


def _batches(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), QUEUE_BATCH):
        yield items[start : start + QUEUE_BATCH]
