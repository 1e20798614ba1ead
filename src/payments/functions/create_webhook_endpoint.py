"""POST /v1/webhook-endpoints `{url, events?}`: a new endpoint of the merchant, enabled, answered with
its signing secret (the only answer that shows it, with the rotation's). Under `Idempotency-Key` a
replay answers the same endpoint; the kept answer holds no secret (see `webhook_schemas`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import allow_loopback, create_command, endpoint_body, revealing_secret
from payments.service.webhook_endpoints import CreateEndpoint, create_endpoint
from payments.service.webhook_ports import WebhookEndpoints, WebhookSecrets


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    secrets: WebhookSecrets
    allow_loopback: bool = False
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    env.need("data_key")  # new secrets are encrypted with the stack's data key
    return Dependencies(
        endpoints=bootstrap.webhook_endpoints(env),
        secrets=bootstrap.webhook_secrets(env),
        allow_loopback=allow_loopback(env),
    )


@revealing_secret
@http.route(wire, parse=create_command, idempotent=True)
def handler(request: http.Request[CreateEndpoint], deps: Dependencies) -> http.Response:
    endpoint, _shown_on_the_way_out = create_endpoint(
        request.input,
        endpoints=deps.endpoints,
        secrets=deps.secrets,
        clock=deps.clock,
        allow_loopback=deps.allow_loopback,
    )
    return http.respond(201, endpoint_body(endpoint))
