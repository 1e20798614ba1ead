"""settlement-reconciler: an enriched settlement file (its S3 event) -> reconciled against the ledger.

The report (Parquet lines and a JSON summary) goes under reports/, the settled movements are marked,
the summary is kept for `GET /v1/settlements/reports`, and ops are alerted when anything does not
match. A redelivered event finds the report kept and does nothing again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from payments import bootstrap
from payments.functions.observability import observed
from payments.service.settlements import reconcile_settlement_file


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "reports": [
            reconcile_settlement_file(
                unquote_plus(record["s3"]["object"]["key"]),
                files=bootstrap.settlement_files(),
                books=bootstrap.settlement_books(),
                reports=bootstrap.settlement_reports(),
                alerts=bootstrap.ops_alerts(),
                clock=bootstrap.now,
            )
            for record in event.get("Records", [])
        ]
    }
