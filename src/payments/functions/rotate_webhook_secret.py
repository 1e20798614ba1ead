"""POST /v1/webhook-endpoints/{webhookEndpointId}/rotate-secret: a new signing secret, answered once;
the one it replaces keeps signing for 24 hours. Under `Idempotency-Key` a replay rotates nothing and
answers the secret that signs now (the kept answer holds none: see `webhook_schemas`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.functions import http
from payments.functions.webhook_schemas import endpoint_body, merchant, revealing_secret
from payments.service.webhook_endpoints import rotate_secret
from payments.service.webhook_ports import WebhookEndpoints, WebhookSecrets


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    secrets: WebhookSecrets
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(endpoints=bootstrap.webhook_endpoints(env), secrets=bootstrap.webhook_secrets(env))


@revealing_secret
@http.route(wire, parse=merchant, idempotent=True)
def handler(request: http.Request[str], deps: Dependencies) -> http.Response:
    endpoint, _shown_on_the_way_out = rotate_secret(
        request.input,
        request.path("webhookEndpointId"),
        endpoints=deps.endpoints,
        secrets=deps.secrets,
        clock=deps.clock,
    )
    return http.respond(200, endpoint_body(endpoint))
