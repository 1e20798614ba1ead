"""request-settlement: every hour (the template's schedule), the gateway closes a settlement batch and
delivers its Parquet file into our settlements bucket under raw/. Locally `POST /_local/settlements/emit`
invokes it on demand.

The schedule's event id is the gateway call's Idempotency-Key, so a retried invocation gets the same
file back instead of closing a second batch. The file's metadata is then read back from the bucket
(HEAD, not the file), and its `record-count` checked against the gateway's answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from payments import bootstrap
from payments.functions.observability import observed


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = bootstrap.settings()
    delivered = bootstrap.settlement_gateway().settlement_file(
        idempotency_key=f"settlement:{event.get('id') or uuid.uuid4()}",
        bucket=config.settlements_bucket,
        kms_key=config.data_key_arn,
    )
    # Trust, then verify: the file is in our bucket with the rows the gateway says it holds.
    counted = bootstrap.settlement_files().metadata(str(delivered["key"])).get("record-count")
    if counted != str(delivered["rows"]):
        raise ValueError(f"{delivered['key']} holds {counted} rows; the gateway said {delivered['rows']}")
    return delivered
