"""POST /v1/webhook-endpoints/{webhookEndpointId}/test: a test event to that endpoint alone, through the
same queue, worker, signature and retries as every delivery (its data says `test: true`, its id is
`evt_test_...`). 202: it is sent shortly after, and shows in the endpoint's deliveries."""

from __future__ import annotations

from payments.functions import http
from payments.functions.webhook_schemas import merchant
from payments.functions.webhook_wiring import Fanout, fanout
from payments.service.webhook_delivery import send_test_event


@http.route(fanout, parse=merchant)
def handler(request: http.Request[str], deps: Fanout) -> http.Response:
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
