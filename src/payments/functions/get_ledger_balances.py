"""GET /v1/ledger/balances: every account's balance per currency (debits minus credits)."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import balance_body
from payments.service.ledger import trial_balance


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        http.caller(event).require_platform("the ledger's balances")
        balances = trial_balance(ledger=bootstrap.ledger())
        return http.respond(200, {"data": [balance_body(balance) for balance in balances]})

    return http.handle(work)
