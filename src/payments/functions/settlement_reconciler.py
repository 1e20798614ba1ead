"""settlement-reconciler: an enriched settlement file (its S3 event) -> reconciled against the ledger.

The report (Parquet lines and a JSON summary) goes under reports/, the settled movements are marked,
the summary is kept for `GET /v1/settlements/reports`, and ops are alerted when anything does not
match. A redelivered event finds the report kept and does nothing again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from payments import bootstrap
from payments.service.ports import FileStore, OpsAlerts, SettlementBooks, SettlementReports
from payments.service.settlements import reconcile_settlement_file


@dataclass(frozen=True, slots=True)
class Dependencies:
    files: FileStore
    books: SettlementBooks
    reports: SettlementReports
    alerts: OpsAlerts
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        files=bootstrap.settlement_files(env),
        books=bootstrap.settlement_books(env),
        reports=bootstrap.settlement_reports(env),
        alerts=bootstrap.ops_alerts(env),
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    return {
        "reports": [
            reconcile_settlement_file(
                unquote_plus(record["s3"]["object"]["key"]),
                files=deps.files,
                books=deps.books,
                reports=deps.reports,
                alerts=deps.alerts,
                clock=deps.clock,
            )
            for record in event.get("Records", [])
        ]
    }
