"""Merchant webhook events and deliveries in DynamoDB.

`webhook-events`: one item per event (`eventId`), its exact body as bytes, kept 30 days (`expiresAt`,
TTL): long enough for the whole retry schedule, a resend or a recovery. `webhook-deliveries`: one item
per event to one endpoint (`webhookEndpointId`, `eventId`), also kept 30 days; the `by-created` index
(`webhookEndpointId`, `createdAtEventId` = `<createdAt>#<eventId>`) lists an endpoint's deliveries
newest first. Every write is conditional, as the ports promise: an event or a delivery is added once,
and an attempt is recorded only over the attempts and generation it was made from.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from payments.adapters import page_tokens
from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.errors import ConcurrentUpdate, NotFound
from payments.domain.webhook_endpoints import Delivery, DeliveryStatus, WebhookEvent
from payments.service.ports import Page
from payments.service.webhook_ports import WebhookDeliveries, WebhookEvents

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

KEPT_FOR: Final = timedelta(days=30)
BY_CREATED: Final = "by-created"
PAGE_KEYS: Final = frozenset({"webhookEndpointId", "eventId", "createdAtEventId"})


def _expires(moment: datetime) -> dict[str, str]:
    return {"N": str(int((moment + KEPT_FOR).timestamp()))}


class DynamoDBWebhookEvents(WebhookEvents):
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, event: WebhookEvent) -> bool:
        item: dict[str, Any] = {
            "eventId": {"S": event.event_id},
            "merchantId": {"S": event.merchant_id},
            "type": {"S": event.event_type},
            "body": {"B": event.body},
            "occurredAt": {"S": format_time(event.occurred_at)},
            "expiresAt": _expires(event.occurred_at),
        }
        if event.payment_intent_id is not None:
            item["paymentIntentId"] = {"S": event.payment_intent_id}
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(eventId)"
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def get(self, merchant_id: str, event_id: str) -> WebhookEvent:
        item = self._client.get_item(
            TableName=self._table, Key={"eventId": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        if item is None or item["merchantId"]["S"] != merchant_id:
            raise NotFound(f"no event {event_id}")
        return WebhookEvent(
            event_id=item["eventId"]["S"],
            merchant_id=item["merchantId"]["S"],
            event_type=item["type"]["S"],
            body=bytes(item["body"]["B"]),
            occurred_at=parse_time(item["occurredAt"]["S"]),
            payment_intent_id=item["paymentIntentId"]["S"] if "paymentIntentId" in item else None,
        )


class DynamoDBWebhookDeliveries(WebhookDeliveries):
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, delivery: Delivery) -> bool:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(delivery),
                ConditionExpression="attribute_not_exists(eventId)",
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def get(self, webhook_endpoint_id: str, event_id: str) -> Delivery:
        item = self._client.get_item(
            TableName=self._table,
            Key={"webhookEndpointId": {"S": webhook_endpoint_id}, "eventId": {"S": event_id}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise NotFound(f"no delivery of {event_id} to {webhook_endpoint_id}")
        return _delivery(item)

    def save(self, delivery: Delivery, *, expected_attempts: int, expected_generation: int) -> None:
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(delivery),
                ConditionExpression="attempts = :attempts AND generation = :generation",
                ExpressionAttributeValues={
                    ":attempts": {"N": str(expected_attempts)},
                    ":generation": {"N": str(expected_generation)},
                },
            )
        except ClientError as error:
            if condition_failed(error):
                raise ConcurrentUpdate("the delivery changed meanwhile") from None
            raise

    def list(self, webhook_endpoint_id: str, *, limit: int, next_token: str | None) -> Page[Delivery]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_CREATED,
            "KeyConditionExpression": "webhookEndpointId = :endpoint",
            "ExpressionAttributeValues": {":endpoint": {"S": webhook_endpoint_id}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            query["ExclusiveStartKey"] = page_tokens.decode(
                next_token, scope=("webhookEndpointId", webhook_endpoint_id), keys=PAGE_KEYS
            )
        response = self._client.query(**query)
        last = response.get("LastEvaluatedKey")
        return Page(
            items=[_delivery(item) for item in response.get("Items", [])],
            next_token=page_tokens.encode(dict(last)) if last else None,
        )

    def failed_since(self, webhook_endpoint_id: str, since: datetime) -> builtins.list[Delivery]:
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_CREATED,
            "KeyConditionExpression": "webhookEndpointId = :endpoint AND createdAtEventId >= :since",
            "FilterExpression": "#status = :failed",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":endpoint": {"S": webhook_endpoint_id},
                ":since": {"S": format_time(since)},
                ":failed": {"S": DeliveryStatus.FAILED.value},
            },
        }
        found: builtins.list[Delivery] = []
        for page in self._client.get_paginator("query").paginate(**query):
            found += [_delivery(item) for item in page.get("Items", [])]
        return found


def _item(delivery: Delivery) -> dict[str, Any]:
    created = format_time(delivery.created_at)
    item: dict[str, Any] = {
        "webhookEndpointId": {"S": delivery.webhook_endpoint_id},
        "eventId": {"S": delivery.event_id},
        "createdAtEventId": {"S": f"{created}#{delivery.event_id}"},
        "merchantId": {"S": delivery.merchant_id},
        "type": {"S": delivery.event_type},
        "createdAt": {"S": created},
        "status": {"S": delivery.status.value},
        "attempts": {"N": str(delivery.attempts)},
        "generation": {"N": str(delivery.generation)},
        "expiresAt": _expires(delivery.created_at),
    }
    optional: dict[str, dict[str, str] | None] = {
        "lastStatusCode": None
        if delivery.last_status_code is None
        else {"N": str(delivery.last_status_code)},
        "lastLatencyMs": None if delivery.last_latency_ms is None else {"N": str(delivery.last_latency_ms)},
        "lastError": None if delivery.last_error is None else {"S": delivery.last_error},
        "nextAttemptAt": None
        if delivery.next_attempt_at is None
        else {"S": format_time(delivery.next_attempt_at)},
        "updatedAt": None if delivery.updated_at is None else {"S": format_time(delivery.updated_at)},
        "attemptedBy": None if delivery.attempted_by is None else {"S": delivery.attempted_by},
    }
    item.update({name: value for name, value in optional.items() if value is not None})
    return item


def _delivery(item: dict[str, Any]) -> Delivery:
    def text(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    def moment(name: str) -> datetime | None:
        value = text(name)
        return None if value is None else parse_time(value)

    return Delivery(
        webhook_endpoint_id=item["webhookEndpointId"]["S"],
        event_id=item["eventId"]["S"],
        merchant_id=item["merchantId"]["S"],
        event_type=item["type"]["S"],
        created_at=parse_time(item["createdAt"]["S"]),
        status=DeliveryStatus(item["status"]["S"]),
        attempts=int(item["attempts"]["N"]),
        generation=int(item["generation"]["N"]),
        last_status_code=number("lastStatusCode"),
        last_latency_ms=number("lastLatencyMs"),
        last_error=text("lastError"),
        next_attempt_at=moment("nextAttemptAt"),
        updated_at=moment("updatedAt"),
        attempted_by=text("attemptedBy"),
    )
