"""The settlement files' Parquet formats (pyarrow): raw rows, enriched rows and the report's lines.

Only the settlement functions and the sandbox gateway import this module; pyarrow ships in their
Lambda layer alone.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from payments.settlement.reconcile import Line
from payments.settlement.rows import MovementType, SettlementRow

RAW_SCHEMA = pa.schema(
    [
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("payment_intent_id", pa.string(), nullable=False),
        pa.field("merchant_reference", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("amount", pa.int64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("fee", pa.int64(), nullable=False),
        pa.field("settled_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("batch_id", pa.string(), nullable=False),
    ]
)
# What enrichment adds from the payment (null where the payment is unknown to us).
ENRICHMENT_FIELDS = [
    pa.field("merchant_id", pa.string()),
    pa.field("customer_id", pa.string()),
    pa.field("order_id", pa.string()),
    pa.field("payment_status", pa.string()),
]
ENRICHED_SCHEMA = pa.schema([*RAW_SCHEMA, *ENRICHMENT_FIELDS])
REPORT_SCHEMA = pa.schema(
    [
        pa.field("movement_id", pa.string()),
        pa.field("payment_intent_id", pa.string()),
        pa.field("outcome", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("settled_amount", pa.int64()),
        pa.field("booked_amount", pa.int64()),
        pa.field("currency", pa.string()),
        pa.field("fee", pa.int64()),
        pa.field("detail", pa.string()),
    ]
)


def _to_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def rows_to_parquet(rows: Iterable[SettlementRow]) -> bytes:
    columns: dict[str, list[Any]] = {name: [] for name in RAW_SCHEMA.names}
    for row in rows:
        for name in RAW_SCHEMA.names:
            value = getattr(row, name)
            columns[name].append(value.value if isinstance(value, MovementType) else value)
    return _to_bytes(pa.table(columns, schema=RAW_SCHEMA))


def read_table(data: bytes) -> pa.Table:
    """The file's rows, checked against the raw schema (extra columns are refused, not dropped)."""
    table = pq.read_table(io.BytesIO(data))
    if table.schema.names[: len(RAW_SCHEMA.names)] != RAW_SCHEMA.names:
        raise ValueError(f"not a settlement file: columns {table.schema.names}, expected {RAW_SCHEMA.names}")
    return table.select(RAW_SCHEMA.names).cast(RAW_SCHEMA)


def rows_of(table: pa.Table) -> list[SettlementRow]:
    rows = []
    for record in table.select(RAW_SCHEMA.names).to_pylist():
        record["type"] = MovementType(record["type"])
        record["settled_at"] = record["settled_at"].astimezone(UTC)
        rows.append(SettlementRow(**record))
    return rows


def enrich(table: pa.Table, payments: Mapping[str, Mapping[str, str]]) -> bytes:
    """The raw table with each row's payment fields appended, column by column (no per-row objects)."""
    ids = table.column("payment_intent_id").to_pylist()
    appended = [
        pa.array([payments.get(pi, {}).get(field.name) for pi in ids], type=field.type)
        for field in ENRICHMENT_FIELDS
    ]
    enriched = pa.Table.from_arrays([*table.columns, *appended], schema=ENRICHED_SCHEMA)
    return _to_bytes(enriched)


def report_to_parquet(lines: Iterable[Line]) -> bytes:
    columns: dict[str, list[Any]] = {name: [] for name in REPORT_SCHEMA.names}
    for line in lines:
        for name in REPORT_SCHEMA.names:
            value = getattr(line, name)
            columns[name].append(str(value) if name == "outcome" else value)
    return _to_bytes(pa.table(columns, schema=REPORT_SCHEMA))
