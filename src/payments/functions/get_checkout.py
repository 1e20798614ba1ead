"""GET /v1/checkouts/{trackingId}: where the checkout stands, and what the client must do next."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.service.checkout import checkout_view


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        view = checkout_view(
            http.path_parameter(event, "trackingId"),
            checkouts=bootstrap.checkout_repository(),
            workflow=bootstrap.workflow(),
            intents=bootstrap.intents_for(http.caller(event)),
        )
        return http.respond(200, view)

    return http.handle(work)
