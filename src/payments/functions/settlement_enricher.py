"""settlement-enricher: a settlement file landing under raw/ (its S3 event) -> the same rows with their
payment's merchant, customer, order and status, under enriched/ (same partition, same name).

The payments are read with BatchGetItem, 100 keys a call, unprocessed keys asked again with backoff.
The output is written with `If-None-Match: *`, so a redelivered event writes nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from payments import bootstrap
from payments.service.ports import FileStore, PaymentDirectory
from payments.service.settlements import enrich_settlement_file


@dataclass(frozen=True, slots=True)
class Dependencies:
    files: FileStore
    payments: PaymentDirectory


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(files=bootstrap.settlement_files(env), payments=bootstrap.payment_directory(env))


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    return {
        "files": [
            enrich_settlement_file(
                unquote_plus(record["s3"]["object"]["key"]),  # S3 events carry keys URL-encoded
                files=deps.files,
                payments=deps.payments,
            )
            for record in event.get("Records", [])
        ]
    }
