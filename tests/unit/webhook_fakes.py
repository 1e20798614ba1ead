"""In-memory fakes of the merchant webhook ports (`payments.service.webhook_ports`), each keeping the
port's promises (merchant scoping, conditional writes, newest-first lists) so use cases are tested on
what the adapters guarantee."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from payments.domain.errors import ConcurrentUpdate, InvalidState, NotFound
from payments.domain.merchant_webhooks import new_secret
from payments.domain.webhook_endpoints import (
    MAX_ENDPOINTS_PER_MERCHANT,
    Delivery,
    DeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from payments.service.ports import Page
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

ROTATION_OVERLAP = timedelta(hours=24)


class FakeWebhookEndpoints(WebhookEndpoints):
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], WebhookEndpoint] = {}

    def add(self, endpoint: WebhookEndpoint) -> None:
        key = (endpoint.merchant_id, endpoint.webhook_endpoint_id)
        assert key not in self.items
        if len(self.list(endpoint.merchant_id)) >= MAX_ENDPOINTS_PER_MERCHANT:
            # InvalidState: a Conflict with a status at the edge (409), as the DynamoDB adapter raises
            raise InvalidState(f"a merchant has at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints")
        self.items[key] = endpoint

    def get(self, merchant_id: str, webhook_endpoint_id: str) -> WebhookEndpoint:
        found = self.items.get((merchant_id, webhook_endpoint_id))
        if found is None:
            raise NotFound(f"no webhook endpoint {webhook_endpoint_id}")
        return found

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        mine = [e for (merchant, _), e in self.items.items() if merchant == merchant_id]
        return sorted(mine, key=lambda e: (e.created_at, e.webhook_endpoint_id))

    def save(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        current = self.get(endpoint.merchant_id, endpoint.webhook_endpoint_id)
        if current.version != endpoint.version:
            raise ConcurrentUpdate("the webhook endpoint changed meanwhile")
        saved = replace(endpoint, version=endpoint.version + 1)
        self.items[(endpoint.merchant_id, endpoint.webhook_endpoint_id)] = saved
        return saved

    def delete(self, merchant_id: str, webhook_endpoint_id: str) -> None:
        self.get(merchant_id, webhook_endpoint_id)
        del self.items[(merchant_id, webhook_endpoint_id)]


class FakeWebhookSecrets(WebhookSecrets):
    def __init__(self) -> None:
        # endpoint id -> [(secret, signs until)], the current one first (until None)
        self.kept: dict[str, list[tuple[str, datetime | None]]] = {}

    def create(self, webhook_endpoint_id: str) -> str:
        secret = new_secret()
        self.kept[webhook_endpoint_id] = [(secret, None)]
        return secret

    def signing(self, webhook_endpoint_id: str, now: datetime) -> list[str]:
        if webhook_endpoint_id not in self.kept:
            raise NotFound(f"no signing secret for {webhook_endpoint_id}")
        return [s for s, until in self.kept[webhook_endpoint_id] if until is None or now < until]

    def rotate(self, webhook_endpoint_id: str, now: datetime) -> str:
        current = self.signing(webhook_endpoint_id, now)[0]
        secret = new_secret()
        self.kept[webhook_endpoint_id] = [(secret, None), (current, now + ROTATION_OVERLAP)]
        return secret

    def delete(self, webhook_endpoint_id: str) -> None:
        self.kept.pop(webhook_endpoint_id, None)


class FakeWebhookEvents(WebhookEvents):
    def __init__(self) -> None:
        self.items: dict[str, WebhookEvent] = {}

    def add(self, event: WebhookEvent) -> bool:
        if event.event_id in self.items:
            return False
        self.items[event.event_id] = event
        return True

    def get(self, merchant_id: str, event_id: str) -> WebhookEvent:
        found = self.items.get(event_id)
        if found is None or found.merchant_id != merchant_id:
            raise NotFound(f"no event {event_id}")
        return found


class FakeWebhookDeliveries(WebhookDeliveries):
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Delivery] = {}

    def add(self, delivery: Delivery) -> bool:
        key = (delivery.webhook_endpoint_id, delivery.event_id)
        if key in self.items:
            return False
        self.items[key] = delivery
        return True

    def get(self, webhook_endpoint_id: str, event_id: str) -> Delivery:
        found = self.items.get((webhook_endpoint_id, event_id))
        if found is None:
            raise NotFound(f"no delivery of {event_id} to {webhook_endpoint_id}")
        return copy.copy(found)

    def save(self, delivery: Delivery, *, expected_attempts: int, expected_generation: int) -> None:
        current = self.get(delivery.webhook_endpoint_id, delivery.event_id)
        if (current.attempts, current.generation) != (expected_attempts, expected_generation):
            raise ConcurrentUpdate("the delivery changed meanwhile")
        self.items[(delivery.webhook_endpoint_id, delivery.event_id)] = delivery

    def list(self, webhook_endpoint_id: str, *, limit: int, next_token: str | None) -> Page[Delivery]:
        mine = sorted(
            (d for (endpoint, _), d in self.items.items() if endpoint == webhook_endpoint_id),
            key=lambda d: (d.created_at, d.event_id),
            reverse=True,
        )
        start = int(next_token or 0)
        page = mine[start : start + limit]
        more = start + limit < len(mine)
        return Page(items=page, next_token=str(start + limit) if more else None)

    def failed_since(self, webhook_endpoint_id: str, since: datetime) -> list[Delivery]:
        return [
            d
            for (endpoint, _), d in self.items.items()
            if endpoint == webhook_endpoint_id and d.status is DeliveryStatus.FAILED and d.created_at >= since
        ]


class FakeDeliveryQueue(DeliveryQueue):
    def __init__(self) -> None:
        self.tasks: list[DeliveryTask] = []

    def enqueue(self, tasks: Sequence[DeliveryTask]) -> None:
        self.tasks.extend(tasks)


class FakeWebhookSender(WebhookSender):
    """Answers from a script, one answer per call (the last repeats); records what was sent."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [Answer(200, 12)]
        self.sent: list[tuple[str, dict[str, str], bytes]] = []

    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        self.sent.append((url, dict(headers), body))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
