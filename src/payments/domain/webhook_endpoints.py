"""A merchant's webhook endpoints, the events sent to them, and each delivery of an event to one.

An endpoint belongs to one merchant and receives the event types it names (every type when it names
none). An event is kept once, as it was signed and sent (`WebhookEvent.body`), so a retry, a resend or
a recovery sends the same bytes under the same `webhook-id`. A delivery is one event to one endpoint:
its attempts, the last answer, and when the next attempt is due; `generation` grows on each resend,
so a retry still queued from before a resend is recognised and dropped instead of sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from payments.domain.errors import InvalidState

# An endpoint failing this long without one success is disabled and ops are alerted.
DISABLE_AFTER_FAILING_SECONDS: Final = 5 * 24 * 3600
# What of an answer's body is kept (and read at all): enough to say why, never a whole page.
MAX_RESPONSE_EXCERPT: Final = 256
MAX_ENDPOINTS_PER_MERCHANT: Final = 20


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DisabledReason(StrEnum):
    BY_MERCHANT = "by_merchant"
    GONE = "gone"  # the endpoint answered 410
    FAILING = "failing"  # failing for DISABLE_AFTER_FAILING_SECONDS


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    webhook_endpoint_id: str  # we_...
    merchant_id: str
    url: str
    events: tuple[str, ...] | None  # None: every type
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: DisabledReason | None = None
    failing_since: datetime | None = None  # the first failed attempt since the last success
    version: int = 1

    def wants(self, event_type: str) -> bool:
        return self.enabled and (self.events is None or event_type in self.events)

    def failed_once(self, now: datetime) -> WebhookEndpoint:
        return self if self.failing_since is not None else replace(self, failing_since=now)

    def succeeded_once(self) -> WebhookEndpoint:
        return self if self.failing_since is None else replace(self, failing_since=None)

    def failing_too_long(self, now: datetime) -> bool:
        since = self.failing_since
        return since is not None and (now - since).total_seconds() >= DISABLE_AFTER_FAILING_SECONDS

    def disabled(self, reason: DisabledReason, now: datetime) -> WebhookEndpoint:
        return replace(self, enabled=False, disabled_reason=reason, updated_at=now)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """An event as its deliveries send it: the exact body, signed afresh on each attempt."""

    event_id: str  # the webhook-id: the payment's transaction id, or the checkout's / batch's event id
    merchant_id: str
    event_type: str
    body: bytes
    occurred_at: datetime
    payment_intent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook_endpoint_id: str
    event_id: str
    merchant_id: str
    event_type: str
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    generation: int = 1
    last_status_code: int | None = None  # None: no answer (refused, timed out, not allowed)
    last_latency_ms: int | None = None
    last_error: str | None = None  # why the last attempt failed, short, never the answer's body
    next_attempt_at: datetime | None = None
    updated_at: datetime | None = None
    # The queued message that made this generation's attempts: a copy of it (a duplicate notification,
    # a dispatch run twice) finds another id here and is dropped instead of retrying beside it.
    attempted_by: str | None = None

    def attempted(
        self,
        *,
        now: datetime,
        status_code: int | None,
        latency_ms: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
    ) -> Delivery:
        """After one attempt: succeeded on a 2xx; else pending until `next_attempt_at`, or failed."""
        if self.status is not DeliveryStatus.PENDING:
            raise InvalidState(f"the delivery is {self.status}", status=self.status.value)
        succeeded = status_code is not None and 200 <= status_code < 300
        status = (
            DeliveryStatus.SUCCEEDED
            if succeeded
            else (DeliveryStatus.PENDING if next_attempt_at is not None else DeliveryStatus.FAILED)
        )
        return replace(
            self,
            status=status,
            attempts=self.attempts + 1,
            last_status_code=status_code,
            last_latency_ms=latency_ms,
            last_error=None if succeeded else error,
            next_attempt_at=None if status is not DeliveryStatus.PENDING else next_attempt_at,
            updated_at=now,
        )

    def sent_again(self, now: datetime) -> Delivery:
        """A resend or recovery: a new generation from the first attempt (the id stays the same)."""
        return replace(
            self,
            status=DeliveryStatus.PENDING,
            attempts=0,
            generation=self.generation + 1,
            next_attempt_at=now,
            updated_at=now,
        )

    def as_view(self) -> dict[str, Any]:
        """The delivery as `GET /v1/webhook-endpoints/{id}/deliveries` lists it."""
        return {
            "eventId": self.event_id,
            "type": self.event_type,
            "status": self.status.value,
            "attempts": self.attempts,
            "lastStatusCode": self.last_status_code,
            "latencyMs": self.last_latency_ms,
            "nextAttemptAt": _time(self.next_attempt_at),
            "createdAt": _time(self.created_at),
        }


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
