"""GET /v1/customers/{customerId}/payment-intents: newest first, paginated by an opaque nextToken."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import intent_body
from payments.service.intents import list_customer_intents

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def page_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        caller = http.caller(event)
        named = http.query_parameter(event, "merchantId")
        page = list_customer_intents(
            http.path_parameter(event, "customerId"),
            merchant_id=caller.acting_for(named) if named or not caller.is_platform else None,
            intents=bootstrap.intents_for(caller),
            limit=page_limit(http.query_parameter(event, "limit")),
            next_token=http.query_parameter(event, "nextToken"),
        )
        return http.respond(
            200, {"data": [intent_body(intent) for intent in page.items], "nextToken": page.next_token}
        )

    return http.handle(work)
