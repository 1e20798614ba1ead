"""DELETE /v1/webhook-endpoints/{webhookEndpointId}: the endpoint and its signing secret are deleted;
the answer is the endpoint as it was (200, as every answer of this API has a body)."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import endpoint_body, merchant
from payments.service.webhook_endpoints import delete_endpoint
from payments.service.webhook_ports import WebhookEndpoints, WebhookSecrets


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    secrets: WebhookSecrets


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(endpoints=bootstrap.webhook_endpoints(env), secrets=bootstrap.webhook_secrets(env))


@http.route(wire, parse=merchant)
def handler(request: http.Request[str], deps: Dependencies) -> http.Response:
    endpoint = delete_endpoint(
        request.input, request.path("webhookEndpointId"), endpoints=deps.endpoints, secrets=deps.secrets
    )
    return http.respond(200, endpoint_body(endpoint))
