"""POST /v1/webhook-endpoints/{webhookEndpointId}/test: a test event to that endpoint alone, through the
same queue, worker, signature and retries as every delivery (its data says `test: true`, its id is
`evt_test_...`). 202: it is sent shortly after, and shows in the endpoint's deliveries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import merchant
from payments.service.webhook_delivery import send_test_event
from payments.service.webhook_ports import DeliveryQueue, WebhookDeliveries, WebhookEndpoints, WebhookEvents


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    events: WebhookEvents
    deliveries: WebhookDeliveries
    queue: DeliveryQueue
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        endpoints=bootstrap.webhook_endpoints(env),
        events=bootstrap.webhook_events(env),
        deliveries=bootstrap.webhook_deliveries(env),
        queue=bootstrap.webhook_queue(env),
    )


@http.route(wire, parse=merchant)
def handler(request: http.Request[str], deps: Dependencies) -> http.Response:
    event = send_test_event(
        request.input,
        request.path("webhookEndpointId"),
        endpoints=deps.endpoints,
        events=deps.events,
        deliveries=deps.deliveries,
        queue=deps.queue,
        now=deps.clock(),
    )
    return http.respond(202, {"eventId": event.event_id})
