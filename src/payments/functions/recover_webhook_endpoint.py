"""POST /v1/webhook-endpoints/{webhookEndpointId}/recover {since}: the endpoint's failed deliveries
created at or after `since` sent again, each at a new generation with the same `webhook-id` (see
`service.webhook_replay`). 202 `{recovered, remaining}`: at most 500 a call, oldest first; `remaining`
ones are recovered by calling again. `since` is an ISO 8601 time with its offset, within the last 30
days; the endpoint must be the merchant's (404) and enabled (409)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.webhook_schemas import merchant
from payments.service.webhook_ports import DeliveryQueue, WebhookDeliveries, WebhookEndpoints
from payments.service.webhook_replay import recover_deliveries

MAX_SINCE_LENGTH: Final = 64


class RecoverBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    since: Annotated[str, Field(min_length=1, max_length=MAX_SINCE_LENGTH)]


@dataclass(frozen=True, slots=True)
class Recover:
    merchant_id: str
    since: datetime


def since_time(text: str) -> datetime:
    """An ISO 8601 time with its offset (`2025-01-15T10:30:00Z`); a time without one names no moment."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidRequest("since must be an ISO 8601 time with its offset, such as 2025-01-15T10:30:00Z")
    return moment


def parse(event: http.Event) -> Recover:
    body = http.parse(RecoverBody, http.json_body(event))
    return Recover(merchant(event), since_time(body.since))


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    deliveries: WebhookDeliveries
    queue: DeliveryQueue
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        endpoints=bootstrap.webhook_endpoints(env),
        deliveries=bootstrap.webhook_deliveries(env),
        queue=bootstrap.webhook_queue(env),
    )


@http.route(wire, parse=parse, idempotent=True)
def handler(request: http.Request[Recover], deps: Dependencies) -> http.Response:
    done = recover_deliveries(
        request.input.merchant_id,
        request.path("webhookEndpointId"),
        request.input.since,
        endpoints=deps.endpoints,
        deliveries=deps.deliveries,
        queue=deps.queue,
        now=deps.clock(),
    )
    return http.respond(202, {"recovered": done.recovered, "remaining": done.remaining})
