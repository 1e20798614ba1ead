"""Settlement use cases: enrich a raw file from our payments, reconcile an enriched file against the
ledger, list the reports. Every output is written once under a key derived from the input, so an S3
event delivered again changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from payments.service.ports import (
    FileStore,
    OpsAlerts,
    Page,
    PaymentDirectory,
    SettlementBooks,
    SettlementReports,
)
from payments.settlement import parquet
from payments.settlement.reconcile import Outcome, reconcile
from payments.settlement.rows import (
    ENRICHED_PREFIX,
    PARQUET_CONTENT_TYPE,
    RAW_PREFIX,
    MovementType,
    enriched_key,
    report_keys,
)

Clock = Callable[[], datetime]
EPOCH = "1970-01-01T00:00:00.000Z"


def enrich_settlement_file(key: str, *, files: FileStore, payments: PaymentDirectory) -> dict[str, Any]:
    """raw/... -> enriched/... (same partition and name), each row with its payment's fields."""
    target = enriched_key(key)
    data, metadata = files.get_with_metadata(key)
    table = parquet.read_table(data)
    ids = table.column("payment_intent_id").to_pylist()
    found = payments.lookup(ids)
    written = files.put_once(
        target,
        parquet.enrich(table, found),
        content_type=PARQUET_CONTENT_TYPE,
        metadata={**metadata, "record-count": str(table.num_rows), "enriched-from": key},
    )
    unknown = len({pi for pi in ids if pi not in found})
    return {"key": target, "rows": table.num_rows, "written": written, "unknownPayments": unknown}


def reconcile_settlement_file(
    key: str,
    *,
    files: FileStore,
    books: SettlementBooks,
    reports: SettlementReports,
    alerts: OpsAlerts,
    clock: Clock,
) -> dict[str, object]:
    """enriched/... -> the report (Parquet lines + JSON summary under reports/), the movements marked
    settled, and an ops alert when anything does not match. Once per file."""
    raw = RAW_PREFIX + key.removeprefix(ENRICHED_PREFIX)
    kept = reports.get(raw)
    if kept is not None:
        return kept
    data, metadata = files.get_with_metadata(key)
    rows = parquet.rows_of(parquet.read_table(data))
    booked = books.booked([row.movement_id for row in rows if row.type is not MovementType.CHARGEBACK])
    chargebacks = [row for row in rows if row.type is MovementType.CHARGEBACK]
    disputed = books.chargebacks([row.payment_intent_id for row in chargebacks])
    booked |= {
        row.movement_id: disputed[row.payment_intent_id]
        for row in chargebacks
        if row.payment_intent_id in disputed
    }
    now = clock()
    window = (metadata.get("window-start", EPOCH), metadata.get("window-end", now.isoformat()))
    result = reconcile(rows, booked, books.unsettled(*window))
    lines_key, summary_key = report_keys(raw)
    report: dict[str, object] = {
        "settlementKey": raw,
        **result.summary(),
        "windowStart": window[0],
        "windowEnd": window[1],
        "reportKey": lines_key,
        "createdAt": now.isoformat(timespec="milliseconds"),
    }
    files.put_once(
        lines_key, parquet.report_to_parquet(result.lines), content_type=PARQUET_CONTENT_TYPE, metadata={}
    )
    files.put_once(
        summary_key, json.dumps(report, indent=2).encode(), content_type="application/json", metadata={}
    )
    books.mark_settled(
        [line.movement_id for line in result.lines if line.outcome is not Outcome.MISSING_IN_SETTLEMENT], raw
    )
    if reports.add(report) and not result.clean:
        problems = [line for line in result.lines if line.outcome is not Outcome.MATCHED]
        alerts.alert(
            f"settlement {raw} does not reconcile",
            {
                **{
                    name: report[name]
                    for name in ("missingInLedger", "missingInSettlement", "amountMismatches")
                },
                "report": summary_key,
                "first": "; ".join(
                    f"{line.movement_id}: {line.outcome} ({line.detail})" for line in problems[:5]
                ),
            },
        )
    return report


def list_reports(
    *, reports: SettlementReports, limit: int, next_token: str | None
) -> Page[dict[str, object]]:
    return reports.newest(limit=limit, next_token=next_token)
