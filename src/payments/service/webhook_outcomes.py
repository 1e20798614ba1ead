"""Merchant webhook events of outcomes that are not payment movements: a checkout that succeeded,
failed or waits for the customer's 3-D Secure challenge, and a refund batch whose last row settled.

Each is announced from the record of its outcome (the checkouts and refund batches tables' streams:
`functions/webhook_outcomes.py`), never by the code deciding it, so a crash anywhere after the record
is written still announces it, and one that comes before leaves nothing to announce. An event's id is
made from what it announces (`evt_<trackingId>_succeeded`, `evt_<trackingId>_action_required_<n>`,
`evt_<batchId>_completed`): a record read twice, or a stream batch retried, makes the same event again,
and the dispatcher keeps the first (`WebhookEvents.add`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from payments.domain.checkout import CheckoutStatus
from payments.domain.errors import NotFound
from payments.domain.intents import PaymentIntent
from payments.domain.merchant_webhooks import body_bytes, envelope
from payments.domain.webhook_endpoints import WebhookEvent
from payments.service.ports import IntentRepository, RefundBatch

CHECKOUT_TYPES: Final = MappingProxyType(
    {
        CheckoutStatus.SUCCEEDED: "checkout.succeeded",
        CheckoutStatus.FAILED: "checkout.failed",
        CheckoutStatus.ACTION_REQUIRED: "checkout.action_required",
    }
)
REFUND_BATCH_COMPLETED: Final = "refund_batch.completed"
# The types only this path makes: the dispatcher takes no other from it (payment events come as such).
OUTCOME_TYPES: Final = frozenset({*CHECKOUT_TYPES.values(), REFUND_BATCH_COMPLETED})


class WebhookEventQueue(abc.ABC):
    """Where an event waits for its fan-out to the merchant's endpoints (the webhook-events queue)."""

    @abc.abstractmethod
    def send(self, event: WebhookEvent) -> None:
        """Queue the event for the dispatcher; raises when it was not taken (the caller retries)."""


@dataclass(frozen=True, slots=True)
class CheckoutOutcome:
    """One outcome a write to a checkout recorded: ACTION_REQUIRED with the number of its wait (the
    first step-up is 1), FAILED with its code, or SUCCEEDED."""

    status: CheckoutStatus
    step_up: int | None = None
    error_code: str | None = None

    def __post_init__(self) -> None:
        if self.status not in CHECKOUT_TYPES:
            raise ValueError(f"a checkout outcome is SUCCEEDED, FAILED or ACTION_REQUIRED, not {self.status}")
        if (self.status is CheckoutStatus.ACTION_REQUIRED) != (self.step_up is not None):
            raise ValueError("a step-up number goes with ACTION_REQUIRED, and only with it")
        if (self.status is CheckoutStatus.FAILED) != (self.error_code is not None):
            raise ValueError("an error code goes with FAILED, and only with it")


def checkout_event_id(tracking_id: str, outcome: CheckoutOutcome) -> str:
    suffix = outcome.status.value.lower()
    if outcome.step_up is not None:
        suffix = f"{suffix}_{outcome.step_up}"
    return f"evt_{tracking_id}_{suffix}"


def refund_batch_event_id(batch_id: str) -> str:
    return f"evt_{batch_id}_completed"


def checkout_event(
    tracking_id: str, outcome: CheckoutOutcome, intent: PaymentIntent, occurred_at: datetime
) -> WebhookEvent:
    """The outcome as its deliveries send it. `data` says what the checkout and its payment are now
    (`version` orders it among the payment's own events); a failure gives its code only (its message
    may name a fault), and a wait gives where the customer completes the challenge, when the processor
    gave such a URL."""
    event_id = checkout_event_id(tracking_id, outcome)
    data: dict[str, Any] = {
        "eventId": event_id,
        "merchantId": intent.merchant_id,
        "trackingId": tracking_id,
        "paymentIntentId": intent.payment_intent_id,
        "status": outcome.status.value,
        "paymentStatus": intent.status.value,
        "version": intent.version,
    }
    if outcome.error_code is not None:
        data["error"] = {"code": outcome.error_code}
    if outcome.status is CheckoutStatus.ACTION_REQUIRED and intent.authentication_url is not None:
        data["redirectUrl"] = intent.authentication_url
    event_type = CHECKOUT_TYPES[outcome.status]
    return WebhookEvent(
        event_id=event_id,
        merchant_id=intent.merchant_id,
        event_type=event_type,
        body=body_bytes(envelope(event_type, occurred_at, data)),
        occurred_at=occurred_at,
        payment_intent_id=intent.payment_intent_id,
    )


def refund_batch_event(batch: RefundBatch, occurred_at: datetime) -> WebhookEvent | None:
    """The batch's counts once no row is pending; None for a platform key's batch (no merchant's)."""
    if batch.merchant_id is None:
        return None
    if batch.pending != 0:
        raise ValueError(f"refund batch {batch.batch_id} still has {batch.pending} row(s) pending")
    event_id = refund_batch_event_id(batch.batch_id)
    data: dict[str, Any] = {
        "eventId": event_id,
        "merchantId": batch.merchant_id,
        "batchId": batch.batch_id,
        "total": batch.total,
        "succeeded": batch.succeeded,
        "failed": batch.failed,
        "deadLettered": batch.dead_lettered,
    }
    return WebhookEvent(
        event_id=event_id,
        merchant_id=batch.merchant_id,
        event_type=REFUND_BATCH_COMPLETED,
        body=body_bytes(envelope(REFUND_BATCH_COMPLETED, occurred_at, data)),
        occurred_at=occurred_at,
    )


def announce_checkout_outcomes(
    tracking_id: str,
    payment_intent_id: str,
    outcomes: list[CheckoutOutcome],
    occurred_at: datetime,
    *,
    intents: IntentRepository,
    queue: WebhookEventQueue,
) -> list[WebhookEvent]:
    """Queue an event per outcome; none when the payment does not exist (a checkout of an unknown
    payment fails with `not_found`: it belongs to no merchant)."""
    if not outcomes:
        return []
    try:
        intent = intents.get(payment_intent_id, consistent=True)
    except NotFound:
        return []
    events = [checkout_event(tracking_id, outcome, intent, occurred_at) for outcome in outcomes]
    for event in events:
        queue.send(event)
    return events


def announce_refund_batch_completed(
    batch: RefundBatch, occurred_at: datetime, *, queue: WebhookEventQueue
) -> WebhookEvent | None:
    event = refund_batch_event(batch, occurred_at)
    if event is not None:
        queue.send(event)
    return event
