"""A merchant's webhook endpoints: create, list, read, change, delete, and rotate the signing secret.

Every use case names the merchant, and the store answers only that merchant's endpoints, so another
merchant's endpoint is `NotFound` in the very words an unknown one gets. A URL and an events filter
are checked here (`check_url`, `event_types`) before anything is written. The secret is created before
the endpoint and deleted after it: a crash in between leaves at worst a secret no endpoint uses, never
an endpoint that cannot sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Final

from payments.domain.errors import ConcurrentUpdate
from payments.domain.ids import new_id
from payments.domain.merchant_webhooks import check_url, event_types
from payments.domain.webhook_endpoints import DisabledReason, WebhookEndpoint
from payments.service.webhook_ports import WebhookEndpoints, WebhookSecrets

Clock = Callable[[], datetime]
# A change raced by the delivery worker (which records failures on the endpoint) is read and applied
# again; past this many tries the caller gets 409 concurrent_update, which it may retry.
UPDATE_ATTEMPTS: Final = 3


class Unchanged(Enum):
    """A PATCH field left out (for `events`, null means every type, so None cannot say "unchanged")."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class CreateEndpoint:
    merchant_id: str
    url: str
    events: Sequence[str] | None = None  # None: every type


@dataclass(frozen=True, slots=True)
class UpdateEndpoint:
    merchant_id: str
    webhook_endpoint_id: str
    url: str | Unchanged = UNCHANGED
    events: Sequence[str] | Unchanged | None = UNCHANGED
    enabled: bool | Unchanged = UNCHANGED


def create_endpoint(
    command: CreateEndpoint,
    *,
    endpoints: WebhookEndpoints,
    secrets: WebhookSecrets,
    clock: Clock,
    allow_loopback: bool,
) -> tuple[WebhookEndpoint, str]:
    """The new endpoint, enabled, and its signing secret (the only time it is shown)."""
    check_url(command.url, allow_loopback=allow_loopback)
    wanted = _events(command.events)
    now = clock()
    endpoint = WebhookEndpoint(
        webhook_endpoint_id=new_id("we"),
        merchant_id=command.merchant_id,
        url=command.url,
        events=wanted,
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    secret = secrets.create(endpoint.webhook_endpoint_id)
    try:
        endpoints.add(endpoint)
    except Exception:
        secrets.delete(endpoint.webhook_endpoint_id)  # over the limit (or failed): no secret left behind
        raise
    return endpoint, secret


def list_endpoints(merchant_id: str, *, endpoints: WebhookEndpoints) -> list[WebhookEndpoint]:
    return endpoints.list(merchant_id)


def get_endpoint(
    merchant_id: str, webhook_endpoint_id: str, *, endpoints: WebhookEndpoints
) -> WebhookEndpoint:
    return endpoints.get(merchant_id, webhook_endpoint_id)


def update_endpoint(
    command: UpdateEndpoint, *, endpoints: WebhookEndpoints, clock: Clock, allow_loopback: bool
) -> WebhookEndpoint:
    """The endpoint with the fields given changed. Enabling clears why it was disabled and since when
    it was failing (a fresh start); disabling records that the merchant did it."""
    if not isinstance(command.url, Unchanged):
        check_url(command.url, allow_loopback=allow_loopback)
    events = command.events if isinstance(command.events, Unchanged) else _events(command.events)
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        current = endpoints.get(command.merchant_id, command.webhook_endpoint_id)
        changed = _changed(current, command, events, clock())
        if changed == current:
            return current
        try:
            return endpoints.save(changed)
        except ConcurrentUpdate:
            if attempt == UPDATE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover (the loop returns or raises)


def delete_endpoint(
    merchant_id: str, webhook_endpoint_id: str, *, endpoints: WebhookEndpoints, secrets: WebhookSecrets
) -> WebhookEndpoint:
    """The endpoint as it was; from now on nothing is delivered to it and its secret is gone."""
    endpoint = endpoints.get(merchant_id, webhook_endpoint_id)
    endpoints.delete(merchant_id, webhook_endpoint_id)
    secrets.delete(webhook_endpoint_id)
    return endpoint


def rotate_secret(
    merchant_id: str,
    webhook_endpoint_id: str,
    *,
    endpoints: WebhookEndpoints,
    secrets: WebhookSecrets,
    clock: Clock,
) -> tuple[WebhookEndpoint, str]:
    """A new signing secret; the one it replaces keeps signing for 24 hours (both sign meanwhile)."""
    endpoint = endpoints.get(merchant_id, webhook_endpoint_id)  # the merchant's own, or NotFound
    return endpoint, secrets.rotate(webhook_endpoint_id, clock())


def _events(raw: Sequence[str] | None) -> tuple[str, ...] | None:
    return event_types(None if raw is None else list(raw))


def _changed(
    current: WebhookEndpoint,
    command: UpdateEndpoint,
    events: tuple[str, ...] | Unchanged | None,
    now: datetime,
) -> WebhookEndpoint:
    changed = current
    if not isinstance(command.url, Unchanged):
        changed = replace(changed, url=command.url)
    if not isinstance(events, Unchanged):
        changed = replace(changed, events=events)
    if command.enabled is True and not current.enabled:
        changed = replace(changed, enabled=True, disabled_reason=None, failing_since=None)
    elif command.enabled is False and current.disabled_reason is not DisabledReason.BY_MERCHANT:
        changed = changed.disabled(DisabledReason.BY_MERCHANT, now)
    return changed if changed == current else replace(changed, updated_at=now)
