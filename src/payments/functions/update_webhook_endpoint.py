"""PATCH /v1/webhook-endpoints/{webhookEndpointId} `{url?, events?, enabled?}`: change what is given.
`events: null` is every type; enabling clears why it was disabled; disabling is the merchant's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import allow_loopback, endpoint_body, update_command
from payments.service.webhook_endpoints import UpdateEndpoint, update_endpoint
from payments.service.webhook_ports import WebhookEndpoints


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    allow_loopback: bool = False
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(endpoints=bootstrap.webhook_endpoints(env), allow_loopback=allow_loopback(env))


@http.route(wire, parse=update_command)
def handler(request: http.Request[UpdateEndpoint], deps: Dependencies) -> http.Response:
    endpoint = update_endpoint(
        request.input, endpoints=deps.endpoints, clock=deps.clock, allow_loopback=deps.allow_loopback
    )
    return http.respond(200, endpoint_body(endpoint))
