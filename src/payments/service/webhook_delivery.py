"""Delivering events to merchant webhook endpoints: the fan-out of an event to the endpoints that want
it, and one attempt of one delivery (docs/decisions/0005-webhook-retries-on-sqs.md).

The delivery record is the truth and the queued message only names it (and its generation), so every
step can be repeated after a crash: an event is kept once, a delivery added once, and a delivery still
waiting for its first attempt is queued again whenever its event comes by again (a crash between the
add and the send must not lose it). The copies this makes are dropped by the worker: a delivery
remembers which message made its attempts (`Delivery.attempted_by`), and an attempt is recorded only
where the record still has the attempts and generation it was read with, so two messages never both
go on retrying one delivery.
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from payments.domain.errors import ConcurrentUpdate, InvalidState, NotFound
from payments.domain.events import PaymentEvent
from payments.domain.ids import new_id
from payments.domain.merchant_webhooks import (
    PAYMENT_TYPES,
    RetrySchedule,
    body_bytes,
    delivery_headers,
    envelope,
    payment_payload,
)
from payments.domain.webhook_endpoints import (
    Delivery,
    DeliveryStatus,
    DisabledReason,
    WebhookEndpoint,
    WebhookEvent,
)
from payments.service.ports import OpsAlerts
from payments.service.webhook_ports import (
    Answer,
    DeliveryQueue,
    DeliveryTask,
    WebhookDeliveries,
    WebhookEndpoints,
    WebhookEvents,
    WebhookSecrets,
    WebhookSender,
)

GONE: Final = 410
# A message back this close to its attempt's time is on time (SQS's waits are whole seconds).
DUE_TOLERANCE_SECONDS: Final = 1.0
# Saving an endpoint's state races the merchant's own changes: read and apply again this often.
ENDPOINT_SAVE_TRIES: Final = 3
TEST_EVENT_TYPE: Final = "payment.authorized"


# -- fan-out ----------------------------------------------------------------------------------------


def webhook_event_for(event: PaymentEvent) -> WebhookEvent | None:
    """A payment event as its deliveries send it; None for an event that names no merchant."""
    if event.merchant_id is None:
        return None
    return WebhookEvent(
        event_id=event.event_id,
        merchant_id=event.merchant_id,
        event_type=PAYMENT_TYPES[event.event_type],
        body=body_bytes(payment_payload(event)),
        occurred_at=event.occurred_at,
        payment_intent_id=event.payment_intent_id,
    )


def dispatch(
    event: WebhookEvent,
    *,
    endpoints: WebhookEndpoints,
    events: WebhookEvents,
    deliveries: WebhookDeliveries,
    queue: DeliveryQueue,
    now: datetime,
) -> list[DeliveryTask]:
    """Keep the event and queue a delivery to each of its merchant's endpoints that wants it."""
    events.add(event)  # kept already on a repeat: the same bytes, made from the same payment event
    wanted = [endpoint for endpoint in endpoints.list(event.merchant_id) if endpoint.wants(event.event_type)]
    return fan_out(event, wanted, deliveries=deliveries, queue=queue, now=now)


def fan_out(
    event: WebhookEvent,
    targets: Sequence[WebhookEndpoint],
    *,
    deliveries: WebhookDeliveries,
    queue: DeliveryQueue,
    now: datetime,
) -> list[DeliveryTask]:
    """A delivery of the event to each target, and its first attempt queued; a delivery that exists
    already is queued again only while no attempt was made (it may never have been queued)."""
    tasks = []
    for endpoint in targets:
        delivery = Delivery(
            webhook_endpoint_id=endpoint.webhook_endpoint_id,
            event_id=event.event_id,
            merchant_id=event.merchant_id,
            event_type=event.event_type,
            created_at=now,
            updated_at=now,
        )
        if not deliveries.add(delivery):
            delivery = deliveries.get(endpoint.webhook_endpoint_id, event.event_id)
            if delivery.status is not DeliveryStatus.PENDING or delivery.attempts > 0:
                continue
        tasks.append(task_for(delivery))
    if tasks:
        queue.enqueue(tasks)
    return tasks


def task_for(delivery: Delivery) -> DeliveryTask:
    return DeliveryTask(
        merchant_id=delivery.merchant_id,
        webhook_endpoint_id=delivery.webhook_endpoint_id,
        event_id=delivery.event_id,
        generation=delivery.generation,
    )


def send_test_event(
    merchant_id: str,
    webhook_endpoint_id: str,
    *,
    endpoints: WebhookEndpoints,
    events: WebhookEvents,
    deliveries: WebhookDeliveries,
    queue: DeliveryQueue,
    now: datetime,
) -> WebhookEvent:
    """A test event to one endpoint, through the same queue and worker as every delivery: of the first
    type the endpoint wants, its data marked `test: true`, its id `evt_test_...` (never a payment's)."""
    endpoint = endpoints.get(merchant_id, webhook_endpoint_id)
    if not endpoint.enabled:
        raise InvalidState("the webhook endpoint is disabled: enable it to send it a test event")
    event_type = endpoint.events[0] if endpoint.events else TEST_EVENT_TYPE
    event_id = new_id("evt_test", now_ms=int(now.timestamp() * 1000))
    data: dict[str, Any] = {
        "test": True,
        "eventId": event_id,
        "merchantId": merchant_id,
        "webhookEndpointId": webhook_endpoint_id,
    }
    event = WebhookEvent(
        event_id=event_id,
        merchant_id=merchant_id,
        event_type=event_type,
        body=body_bytes(envelope(event_type, now, data)),
        occurred_at=now,
    )
    events.add(event)
    fan_out(event, [endpoint], deliveries=deliveries, queue=queue, now=now)
    return event


# -- one attempt -------------------------------------------------------------------------------------


class MessageTimer(abc.ABC):
    """How a queued delivery waits for its next attempt: its message kept hidden that long (SQS)."""

    @abc.abstractmethod
    def postpone(self, receipt_handle: str, seconds: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What becomes of the message: dropped (done with, or a duplicate), or back in `retry_in` s; and
    the attempt it made, if it made one (for the log: never the answer's body)."""

    reason: str
    retry_in: int | None = None
    attempt: int | None = None
    answer: Answer | None = None


@dataclass(frozen=True, slots=True)
class DeliveryWork:
    """What one attempt needs."""

    endpoints: WebhookEndpoints
    secrets: WebhookSecrets
    events: WebhookEvents
    deliveries: WebhookDeliveries
    sender: WebhookSender
    alerts: OpsAlerts
    schedule: RetrySchedule
    clock: Callable[[], datetime]
    draw: random.Random | None = None  # the schedule's jitter (seeded in tests)


def attempt_delivery(task: DeliveryTask, message_id: str, work: DeliveryWork) -> Outcome:
    """One attempt of the task's delivery, if it is still to be made and due now; recorded before any
    consequence for the endpoint, so a second worker on the same attempt changes nothing."""
    try:
        delivery = work.deliveries.get(task.webhook_endpoint_id, task.event_id)
    except NotFound:
        return Outcome("no such delivery")
    stale = _stale(delivery, task, message_id)
    if stale:
        return Outcome(stale)
    now = work.clock()
    if delivery.next_attempt_at is not None:
        wait = (delivery.next_attempt_at - now).total_seconds()
        if wait > DUE_TOLERANCE_SECONDS:
            return Outcome("not due yet", retry_in=math.ceil(wait))
    try:
        endpoint = work.endpoints.get(task.merchant_id, task.webhook_endpoint_id)
        event = work.events.get(task.merchant_id, task.event_id)
        secrets = work.secrets.signing(task.webhook_endpoint_id, now)
    except NotFound as missing:
        return _give_up(delivery, f"not sent: {missing.message}", work, now)
    if not endpoint.enabled:
        return _give_up(delivery, "not sent: the endpoint is disabled", work, now)
    headers = delivery_headers(secrets, event.event_id, int(now.timestamp()), event.body)
    answer = work.sender.send(endpoint.url, headers, event.body)
    return _record(delivery, endpoint.url, answer, message_id, work)


def _stale(delivery: Delivery, task: DeliveryTask, message_id: str) -> str | None:
    if delivery.status is not DeliveryStatus.PENDING:
        return f"the delivery is {delivery.status.value}"
    if delivery.generation != task.generation:
        return f"a message of generation {task.generation}, the delivery is at {delivery.generation}"
    if delivery.attempts > 0 and delivery.attempted_by not in (None, message_id):
        return "a copy of the message that makes this delivery's attempts"
    return None


def _record(delivery: Delivery, url: str, answer: Answer, message_id: str, work: DeliveryWork) -> Outcome:
    now = work.clock()
    code = answer.status_code
    succeeded = code is not None and 200 <= code < 300
    attempt = delivery.attempts + 1
    delay = None if succeeded or code == GONE else work.schedule.delay_after(attempt, work.draw)
    recorded = replace(
        delivery.attempted(
            now=now,
            status_code=code,
            latency_ms=answer.latency_ms,
            error=answer.error or (None if code is None else f"HTTP {code}"),
            next_attempt_at=None if delay is None else now + timedelta(seconds=delay),
        ),
        attempted_by=message_id,
    )
    try:
        work.deliveries.save(
            recorded, expected_attempts=delivery.attempts, expected_generation=delivery.generation
        )
    except ConcurrentUpdate:
        return Outcome("another worker recorded this attempt", attempt=attempt, answer=answer)
    if succeeded:
        _update_endpoint(delivery, url, work, lambda endpoint: endpoint.succeeded_once())
        return Outcome("delivered", attempt=attempt, answer=answer)
    if code == GONE:
        _update_endpoint(
            delivery,
            url,
            work,
            lambda endpoint: endpoint.disabled(DisabledReason.GONE, now) if endpoint.enabled else endpoint,
        )
        return Outcome("the endpoint answered 410: disabled", attempt=attempt, answer=answer)
    _after_failure(delivery, url, work, now)
    if delay is None:
        return Outcome(f"failed after {attempt} attempts", attempt=attempt, answer=answer)
    return Outcome(f"attempt {attempt} failed", retry_in=delay, attempt=attempt, answer=answer)


def _after_failure(delivery: Delivery, url: str, work: DeliveryWork, now: datetime) -> None:
    """The endpoint has failed since its first failure; past the limit it is disabled and ops told."""

    def failing(endpoint: WebhookEndpoint) -> WebhookEndpoint:
        failed = endpoint.failed_once(now)
        if failed.enabled and failed.failing_too_long(now):
            return failed.disabled(DisabledReason.FAILING, now)
        return failed

    before, after = _update_endpoint(delivery, url, work, failing)
    if before is not None and after is not None and before.enabled and not after.enabled:
        work.alerts.alert(
            "Merchant webhook endpoint disabled: failing for 5 days",
            {
                "merchantId": after.merchant_id,
                "webhookEndpointId": after.webhook_endpoint_id,
                "failingSince": None if after.failing_since is None else after.failing_since.isoformat(),
                "lastEventId": delivery.event_id,
            },
        )


def _update_endpoint(
    delivery: Delivery,
    url: str,
    work: DeliveryWork,
    change: Callable[[WebhookEndpoint], WebhookEndpoint],
) -> tuple[WebhookEndpoint | None, WebhookEndpoint | None]:
    """(before, after) the change, saved only if it changes anything and the endpoint still has the URL
    the attempt went to (an answer of the old URL says nothing of a new one); read and applied again
    when the merchant changed the endpoint meanwhile; (None, None) when the endpoint is gone, or kept
    changing (its health is then left as it was: the attempt itself is recorded already)."""
    for _ in range(ENDPOINT_SAVE_TRIES):
        try:
            current = work.endpoints.get(delivery.merchant_id, delivery.webhook_endpoint_id)
        except NotFound:
            return None, None
        changed = change(current) if current.url == url else current
        if changed == current:
            return current, current
        try:
            return current, work.endpoints.save(changed)
        except ConcurrentUpdate:
            continue
        except NotFound:
            return None, None
    return None, None


def _give_up(delivery: Delivery, reason: str, work: DeliveryWork, now: datetime) -> Outcome:
    """The delivery failed without an attempt (its endpoint, event or secret is gone, or disabled)."""
    failed = replace(
        delivery, status=DeliveryStatus.FAILED, last_error=reason, next_attempt_at=None, updated_at=now
    )
    try:
        work.deliveries.save(
            failed, expected_attempts=delivery.attempts, expected_generation=delivery.generation
        )
    except ConcurrentUpdate:
        return Outcome("another worker recorded this delivery")
    return Outcome(reason)
