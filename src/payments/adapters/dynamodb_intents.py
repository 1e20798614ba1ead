"""The payment-intents repository on DynamoDB: strong reads, version-conditioned atomic writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from payments.adapters import page_tokens
from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_items import (
    intent_from_item,
    intent_to_item,
    merchant_customer_key,
    transaction_from_item,
    transaction_to_item,
)
from payments.domain.errors import ConcurrentUpdate
from payments.domain.intents import PaymentIntent, Transaction
from payments.service.ports import IntentRepository, Page, no_intent, no_transaction

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

CUSTOMER_INDEX = "by-customer"  # every merchant's customer of that id (the platform's view)
MERCHANT_CUSTOMER_INDEX = "by-merchant-customer"  # one merchant's customer


class DynamoDBIntentRepository(IntentRepository):
    def __init__(self, client: DynamoDBClient, *, intents_table: str, transactions_table: str) -> None:
        self._client = client
        self._intents = intents_table
        self._transactions = transactions_table

    def get(self, payment_intent_id: str, *, consistent: bool = True) -> PaymentIntent:
        response = self._client.get_item(
            TableName=self._intents,
            Key={"paymentIntentId": {"S": payment_intent_id}},
            ConsistentRead=consistent,
        )
        item = response.get("Item")
        if item is None:
            raise no_intent(payment_intent_id)
        return intent_from_item(item)

    def get_transaction(self, transaction_id: str) -> Transaction:
        item = self._client.get_item(
            TableName=self._transactions, Key={"transactionId": {"S": transaction_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise no_transaction(transaction_id)
        return transaction_from_item(item)

    def add(self, intent: PaymentIntent) -> None:
        self._client.put_item(
            TableName=self._intents,
            Item=intent_to_item(intent),
            ConditionExpression="attribute_not_exists(paymentIntentId)",
        )

    def save(self, intent: PaymentIntent) -> PaymentIntent:
        # The new version is written only where the stored one is still the version we read.
        intent_put: dict[str, Any] = {
            "TableName": self._intents,
            "Item": intent_to_item(intent, version=intent.version + 1),
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(intent.version)}},
        }
        try:
            if not intent.new_transactions:
                self._client.put_item(**intent_put)
            else:
                transact_items: list[Any] = [
                    {"Put": intent_put},
                    *(
                        {
                            "Put": {
                                "TableName": self._transactions,
                                "Item": transaction_to_item(transaction),
                                "ConditionExpression": "attribute_not_exists(transactionId)",
                            }
                        }
                        for transaction in intent.new_transactions
                    ),
                ]
                self._client.transact_write_items(TransactItems=transact_items)
        except ClientError as error:
            if condition_failed(error):
                raise ConcurrentUpdate(
                    f"payment intent {intent.payment_intent_id} was changed by another request"
                ) from error
            raise
        return intent.saved()

    def list_for_customer(
        self, customer_id: str, *, merchant_id: str | None, limit: int, next_token: str | None
    ) -> Page[PaymentIntent]:
        index, key = (
            (CUSTOMER_INDEX, ("customerId", customer_id))
            if merchant_id is None
            else (
                MERCHANT_CUSTOMER_INDEX,
                ("merchantCustomerId", merchant_customer_key(merchant_id, customer_id)),
            )
        )
        query: dict[str, Any] = {
            "TableName": self._intents,
            "IndexName": index,
            "KeyConditionExpression": f"{key[0]} = :key",
            "ExpressionAttributeValues": {":key": {"S": key[1]}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = decode_page_token(next_token, scope=key)
        response = self._client.query(**query)
        last_key = response.get("LastEvaluatedKey")
        return Page(
            items=[intent_from_item(item) for item in response.get("Items", [])],
            next_token=encode_page_token(last_key) if last_key else None,
        )


def encode_page_token(last_key: dict[str, Any]) -> str:
    return page_tokens.encode(last_key)


def decode_page_token(token: str, *, scope: tuple[str, str]) -> dict[str, Any]:
    """Accept only a token this API issued for this listing (the index's key `scope`, name and
    value): a token of one merchant's or customer's list is a bad request on any other."""
    return page_tokens.decode(token, scope=scope, keys=frozenset({"paymentIntentId", "createdAt", scope[0]}))
