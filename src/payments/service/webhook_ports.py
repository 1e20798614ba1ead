"""The ports of merchant webhooks: where endpoints, their secrets, events and deliveries are kept,
how a delivery is queued for its next attempt, and how one is sent. Adapters implement them (DynamoDB,
Secrets Manager, SQS, HTTP); unit tests use in-memory fakes that subclass them."""

from __future__ import annotations

import abc
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from payments.domain.webhook_endpoints import Delivery, WebhookEndpoint, WebhookEvent
from payments.service.ports import Page


class WebhookEndpoints(abc.ABC):
    """Each merchant's endpoints. Reads name the merchant, so one merchant never reaches another's."""

    @abc.abstractmethod
    def add(self, endpoint: WebhookEndpoint) -> None:
        """Raises Conflict when the merchant already has MAX_ENDPOINTS_PER_MERCHANT endpoints."""

    @abc.abstractmethod
    def get(self, merchant_id: str, webhook_endpoint_id: str) -> WebhookEndpoint:
        """NotFound when the merchant has no such endpoint (another merchant's included)."""

    @abc.abstractmethod
    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        """The merchant's endpoints, oldest first."""

    @abc.abstractmethod
    def save(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        """Written only where the stored `version` is still the endpoint's (ConcurrentUpdate else);
        returns it at its next version."""

    @abc.abstractmethod
    def delete(self, merchant_id: str, webhook_endpoint_id: str) -> None:
        """NotFound when the merchant has no such endpoint."""


class WebhookSecrets(abc.ABC):
    """Endpoints' signing secrets, kept apart from the tables (Secrets Manager in AWS)."""

    @abc.abstractmethod
    def create(self, webhook_endpoint_id: str) -> str:
        """A new secret for a new endpoint; returns it (shown once, to its merchant)."""

    @abc.abstractmethod
    def signing(self, webhook_endpoint_id: str, now: datetime) -> list[str]:
        """The secrets that sign a delivery now: the current one, then a rotated one still in its
        overlap. NotFound when the endpoint has none."""

    @abc.abstractmethod
    def rotate(self, webhook_endpoint_id: str, now: datetime) -> str:
        """A new current secret; the old one keeps signing for 24 hours. Returns the new one."""

    @abc.abstractmethod
    def delete(self, webhook_endpoint_id: str) -> None: ...


class WebhookEvents(abc.ABC):
    """Events as sent, kept so a delivery, a resend or a recovery sends the same bytes."""

    @abc.abstractmethod
    def add(self, event: WebhookEvent) -> bool:
        """Keep the event unless kept already (a duplicate notification); True if this call kept it."""

    @abc.abstractmethod
    def get(self, merchant_id: str, event_id: str) -> WebhookEvent:
        """NotFound when the merchant has no such event."""


class WebhookDeliveries(abc.ABC):
    @abc.abstractmethod
    def add(self, delivery: Delivery) -> bool:
        """Record a new delivery unless one of this event to this endpoint exists; True if added."""

    @abc.abstractmethod
    def get(self, webhook_endpoint_id: str, event_id: str) -> Delivery:
        """NotFound when there is none."""

    @abc.abstractmethod
    def save(self, delivery: Delivery, *, expected_attempts: int, expected_generation: int) -> None:
        """Written only where the stored delivery still has those attempts and generation
        (ConcurrentUpdate else): two workers never both record the same attempt."""

    @abc.abstractmethod
    def list(self, webhook_endpoint_id: str, *, limit: int, next_token: str | None) -> Page[Delivery]:
        """Newest first."""

    @abc.abstractmethod
    def failed_since(self, webhook_endpoint_id: str, since: datetime) -> builtins.list[Delivery]:
        """The endpoint's failed deliveries created at or after `since`."""


@dataclass(frozen=True, slots=True)
class DeliveryTask:
    """What a queued message says: which delivery, and of which generation."""

    merchant_id: str
    webhook_endpoint_id: str
    event_id: str
    generation: int


class DeliveryQueue(abc.ABC):
    @abc.abstractmethod
    def enqueue(self, tasks: Sequence[DeliveryTask]) -> None:
        """Queue each task for its first attempt (at least once)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What an attempt got: a status code (None when nothing answered), how long it took, why it
    failed when it did (short, never the body)."""

    status_code: int | None
    latency_ms: int
    error: str | None = None


class WebhookSender(abc.ABC):
    @abc.abstractmethod
    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        """POST `body` to `url` (checked again against what its name resolves to now), following no
        redirect and reading a few KB of the answer at most. Never raises for the receiver's sake."""
