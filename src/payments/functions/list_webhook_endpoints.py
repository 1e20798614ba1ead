"""GET /v1/webhook-endpoints: the merchant's endpoints, oldest first, not paged (at most 20)."""

from __future__ import annotations

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import endpoint_body, merchant
from payments.service.webhook_endpoints import list_endpoints
from payments.service.webhook_ports import WebhookEndpoints


@http.route(bootstrap.webhook_endpoints, parse=merchant)
def handler(request: http.Request[str], endpoints: WebhookEndpoints) -> http.Response:
    found = list_endpoints(request.input, endpoints=endpoints)
    return http.respond(200, {"data": [endpoint_body(endpoint) for endpoint in found]})
