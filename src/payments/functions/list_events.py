"""GET /v1/events?paymentIntentId=...: the events published for one payment, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.domain.errors import InvalidRequest
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import EventLog, IntentRepository


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    events: EventLog


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(intents=bootstrap.intent_repository(env), events=bootstrap.event_log(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    payment_intent_id = request.query("paymentIntentId")
    if not payment_intent_id:
        raise InvalidRequest("paymentIntentId is required")
    # The payment's own read decides who sees its events: 404 for an unknown or another
    # merchant's payment, as its other views answer.
    MerchantScopedIntents(deps.intents, request.caller).get(payment_intent_id, consistent=False)
    page = deps.events.for_payment(
        payment_intent_id,
        limit=page_limit(request.query("limit")),
        next_token=request.query("nextToken"),
    )
    return http.respond(200, {"data": page.items, "nextToken": page.next_token})
