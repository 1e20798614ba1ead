"""GET /v1/payment-intents/{id}/ledger: the payment's ledger entries, oldest first."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import ledger_entry_body
from payments.service.ledger import payment_ledger


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        entries = payment_ledger(
            http.path_parameter(event, "paymentIntentId"),
            intents=bootstrap.intents_for(http.caller(event)),
            ledger=bootstrap.ledger(),
        )
        return http.respond(200, {"data": [ledger_entry_body(entry) for entry in entries]})

    return http.handle(work)
