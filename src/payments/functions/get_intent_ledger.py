"""GET /v1/payment-intents/{id}/ledger: the payment's ledger entries, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import ledger_entry_body
from payments.service.ledger import payment_ledger
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import IntentRepository, Ledger


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    ledger: Ledger


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(intents=bootstrap.intent_repository(env), ledger=bootstrap.ledger_entries(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    entries = payment_ledger(
        request.path("paymentIntentId"),
        intents=MerchantScopedIntents(deps.intents, request.caller),
        ledger=deps.ledger,
    )
    return http.respond(200, {"data": [ledger_entry_body(entry) for entry in entries]})
