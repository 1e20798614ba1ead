"""GET /v1/refunds/{refundId}."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import refund_body
from payments.service.movements import get_refund


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        refund = get_refund(
            http.path_parameter(event, "refundId"), intents=bootstrap.intents_for(http.caller(event))
        )
        return http.respond(200, refund_body(refund))

    return http.handle(work)
