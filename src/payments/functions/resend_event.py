"""POST /v1/events/{eventId}/resend: one event sent again to the merchant's endpoints, each delivery at a
new generation with the same `webhook-id` (see `service.webhook_replay`). 202: the deliveries are
queued, and show in each endpoint's log. Another merchant's event is a 404 like an unknown one; under
`Idempotency-Key` a repeat replays the answer and sends nothing again."""

from __future__ import annotations

from payments.functions import http
from payments.functions.webhook_schemas import merchant
from payments.functions.webhook_wiring import Fanout, fanout
from payments.service.webhook_replay import resend_event


@http.route(fanout, parse=merchant, idempotent=True)
def handler(request: http.Request[str], deps: Fanout) -> http.Response:
    event_id = request.path("eventId")
    sent_to = resend_event(
        request.input,
        event_id,
        endpoints=deps.endpoints,
        events=deps.events,
        deliveries=deps.deliveries,
        queue=deps.queue,
        now=deps.clock(),
    )
    return http.respond(202, {"eventId": event_id, "webhookEndpointIds": sent_to})
