"""Settlement reads and records on DynamoDB: payments for enrichment, the ledger's booked movements,
which movements are settled, and the reconciliation reports (newest first).

The settlements table holds three kinds of item:
- `REPORTS` / `<createdAt>#<settlementKey>`: a report, listed newest first by one Query;
- `REPORT#<settlementKey>` / `REPORT`: the same report, found by its file; written under a condition, it
  keeps each file's report once;
- `MOVEMENT#<movementId>` / `SETTLED`: the file that settled a movement.
"""

from __future__ import annotations

import json
from typing import Any, Final

from botocore.exceptions import ClientError

from payments.adapters import page_tokens
from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_batch import batch_get, batch_put
from payments.adapters.dynamodb_ledger import entry_from_item
from payments.service.ports import Page, PaymentDirectory, SettlementBooks, SettlementReports
from payments.settlement.reconcile import Booked, booked_from

BY_KIND: Final = "by-kind"
BY_PAYMENT: Final = "by-payment"
SETTLED_KINDS: Final = ("CAPTURED", "REFUNDED")
_REPORTS: Final = "REPORTS"


class DynamoDBPaymentDirectory(PaymentDirectory):
    def __init__(self, client: Any, *, intents_table: str) -> None:
        self._client = client
        self._table = intents_table

    def lookup(self, payment_intent_ids: list[str]) -> dict[str, dict[str, str]]:
        items = batch_get(
            self._client,
            self._table,
            [{"paymentIntentId": {"S": pi}} for pi in dict.fromkeys(payment_intent_ids)],
            projection="paymentIntentId, merchantId, customerId, orderId, #s",
            names={"#s": "status"},
        )
        return {
            item["paymentIntentId"]["S"]: {
                "merchant_id": item["merchantId"]["S"],
                "customer_id": item["customerId"]["S"],
                "order_id": item.get("orderId", {}).get("S"),
                "payment_status": item["status"]["S"],
            }
            for item in items
        }


class DynamoDBSettlementBooks(SettlementBooks):
    def __init__(self, client: Any, *, ledger_table: str, settlements_table: str) -> None:
        self._client = client
        self._ledger = ledger_table
        self._settlements = settlements_table

    def booked(self, movement_ids: list[str]) -> dict[str, Booked]:
        keys = [{"entryId": {"S": movement_id}} for movement_id in dict.fromkeys(movement_ids)]
        found = (booked_from(entry_from_item(item)) for item in batch_get(self._client, self._ledger, keys))
        return {booked.movement_id: booked for booked in found if booked is not None}

    def chargebacks(self, payment_intent_ids: list[str]) -> dict[str, Booked]:
        found = {}
        for pi in dict.fromkeys(payment_intent_ids):
            response = self._client.query(
                TableName=self._ledger,
                IndexName=BY_PAYMENT,
                KeyConditionExpression="paymentIntentId = :pi",
                FilterExpression="kind = :kind",
                ExpressionAttributeValues={":pi": {"S": pi}, ":kind": {"S": "DISPUTED"}},
            )
            for item in response.get("Items", []):
                booked = booked_from(entry_from_item(item))
                if booked is not None:
                    found[pi] = booked
        return found

    def unsettled(self, start: str, end: str) -> list[Booked]:
        candidates: list[Booked] = []
        for kind in SETTLED_KINDS:
            paginator = self._client.get_paginator("query")
            for page in paginator.paginate(
                TableName=self._ledger,
                IndexName=BY_KIND,
                KeyConditionExpression="kind = :kind AND createdAt BETWEEN :start AND :end",
                ExpressionAttributeValues={":kind": {"S": kind}, ":start": {"S": start}, ":end": {"S": end}},
            ):
                for item in page["Items"]:
                    booked = booked_from(entry_from_item(item))
                    if booked is not None and item["createdAt"]["S"] < end:
                        candidates.append(booked)
        settled = {
            item["pk"]["S"].removeprefix("MOVEMENT#")
            for item in batch_get(
                self._client,
                self._settlements,
                [{"pk": {"S": f"MOVEMENT#{b.movement_id}"}, "sk": {"S": "SETTLED"}} for b in candidates],
                projection="pk",
            )
        }
        return [booked for booked in candidates if booked.movement_id not in settled]

    def mark_settled(self, movement_ids: list[str], settlement_key: str) -> None:
        batch_put(
            self._client,
            self._settlements,
            [
                {"pk": {"S": f"MOVEMENT#{m}"}, "sk": {"S": "SETTLED"}, "settlementKey": {"S": settlement_key}}
                for m in dict.fromkeys(movement_ids)
            ],
        )


class DynamoDBSettlementReports(SettlementReports):
    def __init__(self, client: Any, *, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, report: dict[str, object]) -> bool:
        key, created = str(report["settlementKey"]), str(report["createdAt"])
        body = {"S": json.dumps(report)}
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": {"S": f"REPORT#{key}"},
                                "sk": {"S": "REPORT"},
                                "report": body,
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": {"S": _REPORTS},
                                "sk": {"S": f"{created}#{key}"},
                                "report": body,
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def get(self, settlement_key: str) -> dict[str, object] | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"REPORT#{settlement_key}"}, "sk": {"S": "REPORT"}},
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else dict(json.loads(item["report"]["S"]))

    def newest(self, *, limit: int, next_token: str | None) -> Page[dict[str, object]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": _REPORTS}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            request["ExclusiveStartKey"] = page_tokens.decode(
                next_token, scope=("pk", _REPORTS), keys=frozenset({"pk", "sk"})
            )
        response = self._client.query(**request)
        last = response.get("LastEvaluatedKey")
        return Page(
            items=[dict(json.loads(item["report"]["S"])) for item in response.get("Items", [])],
            next_token=page_tokens.encode(last) if last else None,
        )
