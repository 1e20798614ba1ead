"""AWS list prices (USD, us-east-1, on-demand) the cost figures use, and how calls become units.

Sources and the date they were read are in docs/cost.md; re-check them before relying on a figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

LIST_PRICES_USD: Final = {
    "sfn_standard_transition": 0.025 / 1_000,  # per state transition
    "sfn_express_request": 1.00 / 1_000_000,  # per workflow started
    "sfn_express_gb_second": 0.00001667,  # duration x memory (64 MB steps, 100 ms steps)
    "lambda_request": 0.20 / 1_000_000,
    "lambda_arm_gb_second": 0.0000133334,  # arm64
    "lambda_assumed_ms": 100,  # per task invocation in AWS (assumed, not measured here)
    "dynamodb_wru": 0.625 / 1_000_000,  # on-demand write request unit
    "dynamodb_rru": 0.125 / 1_000_000,  # on-demand read request unit
    "sns_publish": 0.50 / 1_000_000,
    "sqs_request": 0.40 / 1_000_000,  # standard queue, per request (a batch of up to 10 is one)
    "secrets_manager_request": 0.05 / 10_000,  # per API call (the secret's monthly fee aside)
    "ses_email": 0.10 / 1_000,
    "s3_put": 0.005 / 1_000,
    "kms_request": 0.03 / 10_000,
    "http_api_request": 1.00 / 1_000_000,
}

# Items here are under 1 KB (writes) and 4 KB (reads): one unit each. A strongly consistent read is one
# read unit; a transactional write costs two write units per item, and authorize writes two items.
TRANSACT_WRITE_ITEMS_WRU: Final = 2 * 2


def dynamodb_units(calls_by_operation: Mapping[str, float]) -> tuple[float, float]:
    """(write units, read units) for counted DynamoDB calls ("dynamodb <Operation>[:table]")."""
    writes = reads = 0.0
    for operation, count in calls_by_operation.items():
        service, _, name = operation.partition(" ")
        if service != "dynamodb":
            continue
        action = name.split(":")[0]
        if action == "TransactWriteItems":
            writes += count * TRANSACT_WRITE_ITEMS_WRU
        elif action in {"PutItem", "UpdateItem", "DeleteItem"}:
            writes += count
        elif action in {"GetItem", "Query"}:
            reads += count
    return writes, reads
