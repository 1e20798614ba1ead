"""Ledger tables of the template's shape under fresh names, so a test owns its books: the running
stack's own subscriber posts to the stack's tables meanwhile, never to these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from payments.adapters.dynamodb_ledger import DynamoDBLedger


@dataclass(frozen=True)
class Books:
    ledger: DynamoDBLedger
    entries_table: str
    balances_table: str


def fresh_books(dynamodb: Any, *, intents_table: str) -> Books:
    suffix = uuid.uuid4().hex[:8]
    entries, balances = f"ledger-test-{suffix}", f"ledger-balances-test-{suffix}"
    dynamodb.create_table(
        TableName=entries,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("entryId", "paymentIntentId", "createdAt")
        ],
        KeySchema=[{"AttributeName": "entryId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": DynamoDBLedger.INDEX,
                "KeySchema": [
                    {"AttributeName": "paymentIntentId", "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.create_table(
        TableName=balances,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("currency", "account")
        ],
        KeySchema=[
            {"AttributeName": "currency", "KeyType": "HASH"},
            {"AttributeName": "account", "KeyType": "RANGE"},
        ],
    )
    ledger = DynamoDBLedger(dynamodb, table=entries, balances_table=balances, intents_table=intents_table)
    return Books(ledger, entries, balances)


def all_entries(dynamodb: Any, books: Books) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    scan: dict[str, Any] = {"TableName": books.entries_table, "ConsistentRead": True}
    while True:
        response = dynamodb.scan(**scan)
        items += response["Items"]
        if "LastEvaluatedKey" not in response:
            return items
        scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]
