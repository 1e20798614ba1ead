"""GET /v1/events?paymentIntentId=...: the events published for one payment, oldest first."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.functions.observability import observed


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        payment_intent_id = http.query_parameter(event, "paymentIntentId")
        if not payment_intent_id:
            raise InvalidRequest("paymentIntentId is required")
        # The payment's own read decides who sees its events: 404 for an unknown or another
        # merchant's payment, as its other views answer.
        bootstrap.intents_for(http.caller(event)).get(payment_intent_id, consistent=False)
        page = bootstrap.event_log().for_payment(
            payment_intent_id,
            limit=page_limit(http.query_parameter(event, "limit")),
            next_token=http.query_parameter(event, "nextToken"),
        )
        return http.respond(200, {"data": page.items, "nextToken": page.next_token})

    return http.handle(work)
