"""The sandbox gateway's settlement delivery: each closed batch as one Parquet file in the merchant's
bucket, as a processor drops its hourly files (`raw/YYYY/MM/DD/HH/<batch>.parquet`, SSE-KMS, with
`source`, `record-count` and the batch's window in the object's metadata)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from payments.adapters.dynamodb_items import format_time  # the ledger's `createdAt` format
from payments.gateway.sandbox import Settlement, SettlementSink
from payments.settlement.rows import PARQUET_CONTENT_TYPE, raw_key

SOURCE = "sandbox-gateway"


def s3_settlement_sink(s3: Callable[[], Any]) -> SettlementSink:
    def deliver(settlement: Settlement, request: dict[str, Any]) -> str:
        from payments.settlement.parquet import rows_to_parquet  # noqa: PLC0415 (pyarrow on first file)

        key = raw_key(settlement.window_end, settlement.batch_id)
        s3().put_object(
            Bucket=str(request["bucket"]),
            Key=key,
            Body=rows_to_parquet(settlement.rows),
            ContentType=PARQUET_CONTENT_TYPE,
            Metadata={
                "source": SOURCE,
                "record-count": str(len(settlement.rows)),
                "batch-id": settlement.batch_id,
                "window-start": format_time(settlement.window_start),
                "window-end": format_time(settlement.window_end),
            },
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=str(request["kmsKeyId"]),
        )
        return key

    return deliver
