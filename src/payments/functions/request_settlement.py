"""request-settlement: every hour (the template's schedule), the gateway closes a settlement batch and
delivers its Parquet file into our settlements bucket under raw/. Locally `POST /_local/settlements/emit`
invokes it on demand.

The schedule's event id is the gateway call's Idempotency-Key, so a retried invocation gets the same
file back instead of closing a second batch. The file's metadata is then read back from the bucket
(HEAD, not the file), and its `record-count` checked against the gateway's answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from payments import bootstrap
from payments.service.ports import FileStore


class SettlementGateway(Protocol):
    def settlement_file(self, *, idempotency_key: str, bucket: str, kms_key: str) -> dict[str, Any]:
        """Close a settlement batch and deliver its file into `bucket`: `{key, rows, batchId}`."""
        ...


@dataclass(frozen=True, slots=True)
class Dependencies:
    gateway: SettlementGateway
    files: FileStore  # the settlements bucket, as this account reads it
    settlements_bucket: str
    data_key_arn: str  # the data key by ARN, which the gateway's account can name (an alias it cannot)


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        gateway=bootstrap.settlement_gateway(env),
        files=bootstrap.settlement_files(env),
        settlements_bucket=env.need("settlements_bucket"),
        data_key_arn=env.need("data_key_arn"),
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, config: Dependencies) -> dict[str, Any]:
    delivered = config.gateway.settlement_file(
        idempotency_key=f"settlement:{event.get('id') or uuid.uuid4()}",
        bucket=config.settlements_bucket,
        kms_key=config.data_key_arn,
    )
    # Trust, then verify: the file is in our bucket with the rows the gateway says it holds.
    counted = config.files.metadata(str(delivered["key"])).get("record-count")
    if counted != str(delivered["rows"]):
        raise ValueError(f"{delivered['key']} holds {counted} rows; the gateway said {delivered['rows']}")
    return delivered
