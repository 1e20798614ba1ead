"""GET /v1/ledger/balances: every account's balance per currency (debits minus credits)."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.schemas import balance_body
from payments.service.ledger import trial_balance
from payments.service.ports import Ledger


@dataclass(frozen=True, slots=True)
class Dependencies:
    ledger: Ledger


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(ledger=bootstrap.ledger_balances(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    request.caller.require_platform("the ledger's balances")
    balances = trial_balance(ledger=deps.ledger)
    return http.respond(200, {"data": [balance_body(balance) for balance in balances]})
