"""A schemathesis check (loaded with SCHEMATHESIS_HOOKS): a rejected request writes nothing.

After each answer the stored state a request can write synchronously (the payments, their
transactions, checkouts, refund batches, API keys, webhook endpoints, refund files) is digested
through the stack's AWS endpoint. A refusal (4xx but 402, which is a payment outcome the contract
says is recorded) must leave the digest as the last answer left it; after any other answer the
digest is taken again once it stops changing. Requests run one at a time (one worker), so "before"
is always the previous answer's state.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import boto3
import schemathesis

TABLES = (
    "payment-intents",
    "transactions",
    "checkouts",
    "refund-batches",
    "payments-api-keys",
    "webhook-endpoints",
)
BUCKET_PREFIX = "payments-refund-files-"
_state: dict[str, dict[str, str]] = {}


def _clients() -> tuple[Any, Any]:
    endpoint = os.environ["PAYMENTS_FUZZ_AWS_ENDPOINT"]
    return boto3.client("dynamodb", endpoint_url=endpoint), boto3.client("s3", endpoint_url=endpoint)


def digest() -> dict[str, str]:
    dynamodb, s3 = _clients()
    found = {}
    for table in dynamodb.list_tables()["TableNames"]:
        if table.rsplit("-", 1)[0] not in TABLES:
            continue
        items = sorted(
            json.dumps(item, sort_keys=True)
            for page in dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
        found[table] = hashlib.sha256("\n".join(items).encode()).hexdigest()
    for bucket in s3.list_buckets()["Buckets"]:
        if bucket["Name"].startswith(BUCKET_PREFIX):
            keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []))
            found[bucket["Name"]] = json.dumps(keys)
    return found


def _settled() -> dict[str, str]:
    """The digest once two looks a moment apart agree (work a success started has landed)."""
    last = digest()
    for _ in range(50):
        time.sleep(0.2)
        now = digest()
        if now == last:
            return now
        last = now
    return last


@schemathesis.check
def rejected_requests_write_nothing(ctx: Any, response: Any, case: Any) -> bool | None:
    before = _state.get("before")
    if before is None:
        before = _state["before"] = _settled()
    status = response.status_code
    if 400 <= status < 500 and status != 402:
        after = digest()
        changed = sorted(name for name in after.keys() | before.keys() if after.get(name) != before.get(name))
        if changed:
            _state["before"] = _settled()
            raise AssertionError(f"{case.method} {case.path} was refused ({status}) but changed {changed}")
        return None
    _state["before"] = _settled()
    return None
