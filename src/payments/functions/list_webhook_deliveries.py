"""GET /v1/webhook-endpoints/{webhookEndpointId}/deliveries: the endpoint's deliveries, newest first,
paged by an opaque nextToken. The endpoint is read first, through its merchant, so another merchant's
endpoint (or its deliveries) is a 404 like an unknown one."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.functions.webhook_schemas import merchant
from payments.service.webhook_ports import WebhookDeliveries, WebhookEndpoints


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    deliveries: WebhookDeliveries


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        endpoints=bootstrap.webhook_endpoints(env), deliveries=bootstrap.webhook_deliveries(env)
    )


@http.route(wire, parse=merchant)
def handler(request: http.Request[str], deps: Dependencies) -> http.Response:
    endpoint = deps.endpoints.get(request.input, request.path("webhookEndpointId"))
    page = deps.deliveries.list(
        endpoint.webhook_endpoint_id,
        limit=page_limit(request.query("limit")),
        next_token=request.query("nextToken"),
    )
    return http.respond(
        200, {"data": [delivery.as_view() for delivery in page.items], "nextToken": page.next_token}
    )
