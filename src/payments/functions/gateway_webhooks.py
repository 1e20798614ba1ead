"""POST /v1/webhooks/gateway (payments-webhooks): authenticated by its signature alone."""

from __future__ import annotations

import json
import time
from typing import Any

from payments import bootstrap
from payments.domain import webhooks
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.observability import observed
from payments.service.webhooks import handle_gateway_event, parse_event


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        raw = http.raw_body(event)
        # Nothing is read, let alone changed, before the signature holds.
        webhooks.verify(
            http.header(event, "gateway-signature"), raw, secret=bootstrap.webhook_secret(), now=time.time()
        )
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise InvalidRequest("the body is not valid JSON") from None
        result = handle_gateway_event(
            parse_event(body), intents=bootstrap.intent_repository(), clock=bootstrap.now
        )
        return http.respond(200, {"received": True, "result": result})

    return http.handle(work)
