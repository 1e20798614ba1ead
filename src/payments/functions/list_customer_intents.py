"""GET /v1/customers/{customerId}/payment-intents: newest first, paginated by an opaque nextToken."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.schemas import intent_body
from payments.service.intents import list_customer_intents
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import IntentRepository

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def page_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(intents=bootstrap.intent_repository(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    caller = request.caller
    named = request.query("merchantId")
    page = list_customer_intents(
        request.path("customerId"),
        merchant_id=caller.acting_for(named) if named or not caller.is_platform else None,
        intents=MerchantScopedIntents(deps.intents, caller),
        limit=page_limit(request.query("limit")),
        next_token=request.query("nextToken"),
    )
    return http.respond(
        200, {"data": [intent_body(intent) for intent in page.items], "nextToken": page.next_token}
    )
