"""POST /v1/webhooks/gateway (payments-webhooks): authenticated by its signature alone."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from payments import bootstrap
from payments.domain import webhooks
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.service.ports import IntentRepository
from payments.service.webhooks import handle_gateway_event, parse_event


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    webhook_secret: Callable[[], str]  # read on each request: a rotated secret is picked up
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env), webhook_secret=bootstrap.webhook_secret(env)
    )


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    raw = http.raw_body(request.event)
    # Nothing is read, let alone changed, before the signature holds.
    webhooks.verify(request.header("gateway-signature"), raw, secret=deps.webhook_secret(), now=time.time())
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest("the body is not valid JSON") from None
    result = handle_gateway_event(parse_event(body), intents=deps.intents, clock=deps.clock)
    return http.respond(200, {"received": True, "result": result})
