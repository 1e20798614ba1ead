"""Ledger entries on DynamoDB, each written once (its id is derived from what it records).

The chart of accounts used here: a pending authorization debits `authorizations_pending` (the hold the
gateway placed for us) and credits `customer_authorizations` (the customer's committed funds); its
reversal posts the opposite legs. Every entry balances per currency by construction.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_items import format_time
from payments.domain.intents import PaymentIntent
from payments.service.ports import Ledger

PENDING = "AUTHORIZATION_PENDING"
PENDING_REVERSED = "AUTHORIZATION_PENDING_REVERSED"


def _legs(intent: PaymentIntent, *, reverse: bool) -> list[dict[str, object]]:
    debit, credit = ("debit", "credit") if not reverse else ("credit", "debit")
    amount, currency = intent.amount.amount, intent.amount.currency.code
    return [
        {"account": "authorizations_pending", "direction": debit, "amount": amount, "currency": currency},
        {"account": "customer_authorizations", "direction": credit, "amount": amount, "currency": currency},
    ]


class DynamoDBLedger(Ledger):
    def __init__(self, client: Any, *, table: str, clock: Any) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def _item(self, intent: PaymentIntent, kind: str, *, reverse: bool) -> dict[str, Any]:
        return {
            "entryId": {"S": f"{intent.payment_intent_id}#{kind}"},
            "paymentIntentId": {"S": intent.payment_intent_id},
            "kind": {"S": kind},
            "createdAt": {"S": format_time(self._clock())},
            "legs": {"S": json.dumps(_legs(intent, reverse=reverse))},
        }

    def _put_once(self, item: dict[str, Any], *, condition: dict[str, Any] | None = None) -> bool:
        put = {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(entryId)"}
        try:
            if condition is None:
                self._client.put_item(**put)
            else:
                self._client.transact_write_items(TransactItems=[{"ConditionCheck": condition}, {"Put": put}])
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def record_pending_authorization(self, intent: PaymentIntent) -> None:
        self._put_once(self._item(intent, PENDING, reverse=False))

    def reverse_pending_authorization(self, intent: PaymentIntent) -> bool:
        # The reversal lands only if the pending entry exists, in one atomic write.
        return self._put_once(
            self._item(intent, PENDING_REVERSED, reverse=True),
            condition={
                "TableName": self._table,
                "Key": {"entryId": {"S": f"{intent.payment_intent_id}#{PENDING}"}},
                "ConditionExpression": "attribute_exists(entryId)",
            },
        )
