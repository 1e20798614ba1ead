"""What the functions that queue deliveries share: the dispatcher, the test event and the resend (see
`wiring`). One module per set of builders, so each handler is granted and bundled with only these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.service.webhook_ports import DeliveryQueue, WebhookDeliveries, WebhookEndpoints, WebhookEvents


@dataclass(frozen=True, slots=True)
class Fanout:
    """An event's endpoints, the event kept, its deliveries recorded and queued."""

    endpoints: WebhookEndpoints
    events: WebhookEvents
    deliveries: WebhookDeliveries
    queue: DeliveryQueue
    clock: Callable[[], datetime] = bootstrap.now


def fanout(env: bootstrap.Environment) -> Fanout:
    return Fanout(
        endpoints=bootstrap.webhook_endpoints(env),
        events=bootstrap.webhook_events(env),
        deliveries=bootstrap.webhook_deliveries(env),
        queue=bootstrap.webhook_queue(env),
    )
