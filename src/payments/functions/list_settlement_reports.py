"""GET /v1/settlements/reports: the reconciliation reports, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.functions import http
from payments.functions.list_customer_intents import page_limit
from payments.service.ports import SettlementReports

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


@dataclass(frozen=True, slots=True)
class Dependencies:
    reports: SettlementReports


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(reports=bootstrap.settlement_reports(env))


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    request.caller.require_platform("settlement reports")
    page = deps.reports.newest(
        limit=page_limit(request.query("limit")),
        next_token=request.query("nextToken"),
    )
    data = [{name: report[name] for name in REPORT_FIELDS} for report in page.items]
    return http.respond(200, {"data": data, "nextToken": page.next_token})
