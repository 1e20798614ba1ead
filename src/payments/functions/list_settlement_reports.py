"""GET /v1/settlements/reports: the reconciliation reports, newest first."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.functions.observability import observed

REPORT_FIELDS = (
    "settlementKey",
    "rows",
    "matched",
    "missingInLedger",
    "missingInSettlement",
    "amountMismatches",
    "fees",
    "status",
    "reportKey",
    "createdAt",
)


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    def work() -> http.Response:
        http.caller(event).require_platform("settlement reports")
        page = bootstrap.settlement_reports().newest(
            limit=page_limit(http.query_parameter(event, "limit")),
            next_token=http.query_parameter(event, "nextToken"),
        )
        data = [{name: report[name] for name in REPORT_FIELDS} for report in page.items]
        return http.respond(200, {"data": data, "nextToken": page.next_token})

    return http.handle(work)
