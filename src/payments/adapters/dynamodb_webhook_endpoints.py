"""Merchants' webhook endpoints on DynamoDB: one item per endpoint, keyed by `merchantId` (partition)
and `webhookEndpointId` (sort), so every read names the merchant and one merchant's query never reads
another's items. Every read is strongly consistent: a PATCH read back, or the delivery dispatcher's
list right after an endpoint is disabled, sees the write that was just answered.

An item: `url`, `events` (a list; absent for every type), `enabled`, `disabledReason` and
`failingSince` (when set), `createdAt`, `updatedAt`, `version`. Nothing secret: the signing secret is
in Secrets Manager (`secretsmanager_webhook_secrets`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import condition_failed
from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.errors import ConcurrentUpdate, InvalidState, NotFound
from payments.domain.webhook_endpoints import MAX_ENDPOINTS_PER_MERCHANT, DisabledReason, WebhookEndpoint
from payments.service.webhook_ports import WebhookEndpoints

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]
# What `new_id("we")` makes. Anything else is no endpoint, answered without a read (and without
# DynamoDB refusing a key over its size limit).
_ENDPOINT_ID: Final = re.compile(r"we_[0-9A-HJKMNP-TV-Z]{26}")


def no_endpoint(webhook_endpoint_id: str) -> NotFound:
    return NotFound(f"no webhook endpoint {webhook_endpoint_id}")


class DynamoDBWebhookEndpoints(WebhookEndpoints):
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def add(self, endpoint: WebhookEndpoint) -> None:
        # The limit is counted before the write, not enforced by it: two creates racing at 19 can both
        # pass and leave 21. It bounds a merchant's fan-out (each event is one delivery per endpoint),
        # which one or two over does not break; a hard limit would need a counter item written in the
        # same transaction as every add and delete.
        if self._count(endpoint.merchant_id) >= MAX_ENDPOINTS_PER_MERCHANT:
            raise InvalidState(f"a merchant has at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints")
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(endpoint),
                ConditionExpression="attribute_not_exists(webhookEndpointId)",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            # Ids are new_id("we"): 80 random bits. A clash is a bug, never a request to answer.
            raise RuntimeError(f"webhook endpoint {endpoint.webhook_endpoint_id} exists already") from None

    def get(self, merchant_id: str, webhook_endpoint_id: str) -> WebhookEndpoint:
        item = self._client.get_item(
            TableName=self._table, Key=_key(merchant_id, webhook_endpoint_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise no_endpoint(webhook_endpoint_id)
        return _endpoint(item)

    def list(self, merchant_id: str) -> list[WebhookEndpoint]:
        found = [_endpoint(item) for page in self._pages(merchant_id) for item in page.get("Items", [])]
        return sorted(found, key=lambda endpoint: (endpoint.created_at, endpoint.webhook_endpoint_id))

    def save(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        saved = replace(endpoint, version=endpoint.version + 1)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(saved),
                ConditionExpression="attribute_exists(webhookEndpointId) AND version = :expected",
                ExpressionAttributeValues={":expected": {"N": str(endpoint.version)}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            self.get(endpoint.merchant_id, endpoint.webhook_endpoint_id)  # NotFound once it is deleted
            raise ConcurrentUpdate("the webhook endpoint changed meanwhile; retry") from None
        return saved

    def delete(self, merchant_id: str, webhook_endpoint_id: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=_key(merchant_id, webhook_endpoint_id),
                ConditionExpression="attribute_exists(webhookEndpointId)",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            raise no_endpoint(webhook_endpoint_id) from None

    def _count(self, merchant_id: str) -> int:
        return sum(int(page.get("Count", 0)) for page in self._pages(merchant_id, Select="COUNT"))

    def _pages(self, merchant_id: str, **extra: Any) -> Iterator[Any]:
        """Every page of a strongly consistent query of the merchant's items."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "merchantId = :merchant",
            "ExpressionAttributeValues": {":merchant": {"S": merchant_id}},
            "ConsistentRead": True,
            **extra,
        }
        while True:
            page = self._client.query(**request)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(merchant_id: str, webhook_endpoint_id: str) -> Item:
    if not _ENDPOINT_ID.fullmatch(webhook_endpoint_id):
        raise no_endpoint(webhook_endpoint_id)
    return {"merchantId": {"S": merchant_id}, "webhookEndpointId": {"S": webhook_endpoint_id}}


def _item(endpoint: WebhookEndpoint) -> Item:
    item: Item = {
        **_key(endpoint.merchant_id, endpoint.webhook_endpoint_id),
        "url": {"S": endpoint.url},
        "enabled": {"BOOL": endpoint.enabled},
        "createdAt": {"S": format_time(endpoint.created_at)},
        "updatedAt": {"S": format_time(endpoint.updated_at)},
        "version": {"N": str(endpoint.version)},
    }
    if endpoint.events is not None:
        item["events"] = {"L": [{"S": event_type} for event_type in endpoint.events]}
    if endpoint.disabled_reason is not None:
        item["disabledReason"] = {"S": endpoint.disabled_reason.value}
    if endpoint.failing_since is not None:
        item["failingSince"] = {"S": format_time(endpoint.failing_since)}
    return item


def _endpoint(item: Item) -> WebhookEndpoint:
    events = item.get("events")
    reason = item.get("disabledReason")
    failing = item.get("failingSince")
    return WebhookEndpoint(
        webhook_endpoint_id=item["webhookEndpointId"]["S"],
        merchant_id=item["merchantId"]["S"],
        url=item["url"]["S"],
        events=None if events is None else tuple(element["S"] for element in events["L"]),
        enabled=bool(item["enabled"]["BOOL"]),
        created_at=parse_time(item["createdAt"]["S"]),
        updated_at=parse_time(item["updatedAt"]["S"]),
        disabled_reason=None if reason is None else DisabledReason(reason["S"]),
        failing_since=None if failing is None else parse_time(failing["S"]),
        version=int(item["version"]["N"]),
    )
