"""GET /v1/webhook-endpoints/{webhookEndpointId}: one of the merchant's endpoints (never its secret)."""

from __future__ import annotations

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import endpoint_body, merchant
from payments.service.webhook_endpoints import get_endpoint
from payments.service.webhook_ports import WebhookEndpoints


@http.route(bootstrap.webhook_endpoints, parse=merchant)
def handler(request: http.Request[str], endpoints: WebhookEndpoints) -> http.Response:
    endpoint = get_endpoint(request.input, request.path("webhookEndpointId"), endpoints=endpoints)
    return http.respond(200, endpoint_body(endpoint))
