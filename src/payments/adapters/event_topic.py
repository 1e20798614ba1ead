"""payment-events on SNS (with the attributes subscribers filter on) and its log on DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from payments.adapters import page_tokens
from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.checkout import AmountTier
from payments.domain.events import EventType, PaymentEvent
from payments.domain.intents import Status
from payments.domain.money import Money, currency
from payments.service.ports import EventLog, EventPublisher, Page


def event_body(event: PaymentEvent) -> dict[str, Any]:
    return {
        "eventId": event.event_id,
        "eventType": event.event_type.value,
        "paymentIntentId": event.payment_intent_id,
        "customerId": event.customer_id,
        **({"merchantId": event.merchant_id} if event.merchant_id else {}),
        "amount": event.amount.amount,
        "currency": event.amount.currency.code,
        "amountTier": event.amount_tier.value,
        "paymentStatus": event.status.value,
        "occurredAt": format_time(event.occurred_at),
        **({"releasedAmount": event.released.amount} if event.released else {}),
        **({"intentVersion": event.intent_version} if event.intent_version is not None else {}),
    }


def event_from_body(body: Mapping[str, Any]) -> PaymentEvent:
    """The event a subscriber received, read back from `event_body`'s shape."""
    money_in = currency(str(body["currency"]))
    released = body.get("releasedAmount")
    return PaymentEvent(
        event_id=str(body["eventId"]),
        event_type=EventType(body["eventType"]),
        payment_intent_id=str(body["paymentIntentId"]),
        customer_id=str(body["customerId"]),
        amount=Money(int(body["amount"]), money_in),
        amount_tier=AmountTier(body["amountTier"]),
        occurred_at=parse_time(str(body["occurredAt"])),
        status=Status(body["paymentStatus"]),
        released=None if released is None else Money(int(released), money_in),
        merchant_id=None if body.get("merchantId") is None else str(body["merchantId"]),
        intent_version=None if body.get("intentVersion") is None else int(body["intentVersion"]),
    )


class SnsEventPublisher(EventPublisher):
    def __init__(self, client: Any, *, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, event: PaymentEvent) -> None:
        self._client.publish(
            TopicArn=self._topic_arn,
            Message=json.dumps(event_body(event)),
            MessageAttributes={
                "eventType": {"DataType": "String", "StringValue": event.event_type.value},
                "amountTier": {"DataType": "String", "StringValue": event.amount_tier.value},
                "eventId": {"DataType": "String", "StringValue": event.event_id},
            },
        )


class DynamoDBEventLog(EventLog):
    INDEX = "by-payment"
    PAGE_KEYS = frozenset({"eventId", "paymentIntentId", "occurredAt"})

    def __init__(self, client: Any, *, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, event: PaymentEvent) -> bool:
        body = event_body(event)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "eventId": {"S": event.event_id},
                    "paymentIntentId": {"S": event.payment_intent_id},
                    "occurredAt": {"S": body["occurredAt"]},
                    "body": {"S": json.dumps(body)},
                },
                ConditionExpression="attribute_not_exists(eventId)",
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def for_payment(
        self, payment_intent_id: str, *, limit: int, next_token: str | None
    ) -> Page[dict[str, object]]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self.INDEX,
            "KeyConditionExpression": "paymentIntentId = :payment",
            "ExpressionAttributeValues": {":payment": {"S": payment_intent_id}},
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = page_tokens.decode(
                next_token, scope=("paymentIntentId", payment_intent_id), keys=self.PAGE_KEYS
            )
        response = self._client.query(**query)
        last = response.get("LastEvaluatedKey")
        return Page(
            items=[json.loads(item["body"]["S"]) for item in response.get("Items", [])],
            next_token=page_tokens.encode(last) if last else None,
        )
