"""The ledger on DynamoDB: immutable entries, and one running balance per (currency, account).

An entry and the balance changes it makes are one `TransactWriteItems`, conditional on the entry not
existing yet: a redelivered event changes nothing, and the balances always equal the sum of the
entries. Balances are a handful of items every posting touches; at very high rates they would be
sharded per account (see docs/ledger.md).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import TRANSACTION_CANCELED, cancellation_codes, error_code
from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.intents import Status
from payments.domain.ledger import Account, Balance, Direction, LedgerEntry, Leg
from payments.domain.money import Money, currency
from payments.service.ports import Ledger

ALREADY_REFUSED = "ConditionalCheckFailed"
# Items per TransactGetItems: DynamoDB takes 100, the emulator 25; a currency has six accounts at most.
READ_TOGETHER = 25


def _leg_item(leg: Leg) -> dict[str, Any]:
    return {
        "M": {
            "account": {"S": leg.account.value},
            "direction": {"S": leg.direction.value},
            "amount": {"N": str(leg.amount.amount)},
            "currency": {"S": leg.amount.currency.code},
        }
    }


def _leg_from(item: dict[str, Any]) -> Leg:
    fields = item["M"]
    return Leg(
        Account(fields["account"]["S"]),
        Direction(fields["direction"]["S"]),
        Money(int(fields["amount"]["N"]), currency(fields["currency"]["S"])),
    )


def entry_to_item(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "entryId": {"S": entry.entry_id},
        "paymentIntentId": {"S": entry.payment_intent_id},
        "kind": {"S": entry.kind},
        "createdAt": {"S": format_time(entry.created_at)},
        "legs": {"L": [_leg_item(leg) for leg in entry.legs]},
    }


def entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        entry_id=item["entryId"]["S"],
        payment_intent_id=item["paymentIntentId"]["S"],
        kind=item["kind"]["S"],
        created_at=parse_time(item["createdAt"]["S"]),
        legs=tuple(_leg_from(leg) for leg in item["legs"]["L"]),
    )


class DynamoDBLedger(Ledger):
    INDEX = "by-payment"

    def __init__(self, client: Any, *, table: str, balances_table: str, intents_table: str) -> None:
        self._client = client
        self._table = table
        self._balances_table = balances_table
        self._intents_table = intents_table

    def post(self, entry: LedgerEntry) -> bool:
        return self._write(entry, guard=None)

    def post_unless_declined(self, entry: LedgerEntry) -> bool:
        return self._write(
            entry,
            guard={
                "TableName": self._intents_table,
                "Key": {"paymentIntentId": {"S": entry.payment_intent_id}},
                "ConditionExpression": (
                    "attribute_exists(paymentIntentId) AND NOT #status IN (:declined, :expired)"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":declined": {"S": Status.DECLINED.value},
                    ":expired": {"S": Status.EXPIRED.value},
                },
            },
        )

    def _write(self, entry: LedgerEntry, *, guard: dict[str, Any] | None) -> bool:
        if not entry.balances():
            raise ValueError(f"entry {entry.entry_id} does not balance")
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": entry_to_item(entry),
                    "ConditionExpression": "attribute_not_exists(entryId)",
                }
            }
        ]
        items += [
            {
                "Update": {
                    "TableName": self._balances_table,
                    "Key": {"currency": {"S": code}, "account": {"S": account.value}},
                    "UpdateExpression": "ADD balance :change",
                    "ExpressionAttributeValues": {":change": {"N": str(change)}},
                }
            }
            for (account, code), change in sorted(entry.balance_changes().items())
            if change
        ]
        if guard is not None:
            items.append({"ConditionCheck": guard})
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            # Posted before, or (for a guarded hold) the payment was declined meanwhile: both mean
            # this entry must not land again. Anything else (a conflict, throttling) is retried.
            if error_code(error) == TRANSACTION_CANCELED and (
                cancellation_codes(error)[:1] == [ALREADY_REFUSED]
                or (guard is not None and cancellation_codes(error)[-1:] == [ALREADY_REFUSED])
            ):
                return False
            raise
        return True

    def get(self, entry_id: str) -> LedgerEntry | None:
        response = self._client.get_item(
            TableName=self._table, Key={"entryId": {"S": entry_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return entry_from_item(item) if item else None

    def entries_for(self, payment_intent_id: str) -> list[LedgerEntry]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self.INDEX,
            "KeyConditionExpression": "paymentIntentId = :payment",
            "ExpressionAttributeValues": {":payment": {"S": payment_intent_id}},
        }
        entries: list[LedgerEntry] = []
        while True:
            response = self._client.query(**query)
            entries += [entry_from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return entries
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def balances(self) -> list[Balance]:
        """Each currency's balances read together in one `TransactGetItems`, so a posting is seen
        whole or not at all: a scan alone could catch one half-way and show a currency off zero."""
        keys_by_currency: dict[str, list[dict[str, Any]]] = {}
        for key in self._balance_keys():
            keys_by_currency.setdefault(key["currency"]["S"], []).append(key)
        balances: list[Balance] = []
        batch: list[dict[str, Any]] = []
        for keys in keys_by_currency.values():
            if len(batch) + len(keys) > READ_TOGETHER:
                balances += self._read_together(batch)
                batch = []
            batch += keys
        balances += self._read_together(batch)
        return sorted(balances, key=lambda balance: (balance.currency, balance.account.value))

    def _balance_keys(self) -> list[dict[str, Any]]:
        # A handful of items per currency in use (the chart of accounts is small).
        scan: dict[str, Any] = {
            "TableName": self._balances_table,
            "ProjectionExpression": "currency, account",
        }
        keys: list[dict[str, Any]] = []
        while True:
            response = self._client.scan(**scan)
            keys += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return keys
            scan["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _read_together(self, keys: list[dict[str, Any]]) -> list[Balance]:
        if not keys:
            return []
        response = self._client.transact_get_items(
            TransactItems=[{"Get": {"TableName": self._balances_table, "Key": key}} for key in keys]
        )
        return [
            Balance(Account(item["account"]["S"]), item["currency"]["S"], int(item["balance"]["N"]))
            for item in (result.get("Item") for result in response["Responses"])
            if item
        ]
