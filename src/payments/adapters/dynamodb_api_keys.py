"""API keys in DynamoDB, by the hash of the key (the table's partition key)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from payments.domain.api_keys import ApiKey, key_hash, key_id

PLATFORM_SCOPE = "platform"
MERCHANT_SCOPE = "merchant"

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDBApiKeys:
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def find(self, secret: str) -> ApiKey | None:
        """The active key this secret is, or None (unknown or revoked)."""
        item = self._client.get_item(
            TableName=self._table, Key={"keyHash": {"S": key_hash(secret)}}, ConsistentRead=True
        ).get("Item")
        if item is None or item.get("status", {}).get("S") != "ACTIVE":
            return None
        return _api_key(item)

    def add(self, secret: str, *, merchant_id: str | None, now: datetime) -> ApiKey:
        """Keep a new key (its hash); a key that exists already is refused, never overwritten.
        `merchant_id` None makes a platform key."""
        key = ApiKey(key_hash(secret), key_id(secret), merchant_id)
        item: dict[str, Any] = {
            "keyHash": {"S": key.key_hash},
            "keyId": {"S": key.key_id},
            "scope": {"S": PLATFORM_SCOPE if merchant_id is None else MERCHANT_SCOPE},
            "status": {"S": "ACTIVE"},
            "createdAt": {"S": now.isoformat()},
        }
        if merchant_id is not None:
            item["merchantId"] = {"S": merchant_id}
        self._client.put_item(
            TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(keyHash)"
        )
        return key

    def revoke(self, key_id_or_secret: str, *, now: datetime) -> int:
        """Revoke by the secret, or by its id (a scan: the table holds a few keys per merchant)."""
        hashes = (
            [key_hash(key_id_or_secret)] if "…" not in key_id_or_secret else self._hashes_of(key_id_or_secret)
        )
        revoked = 0
        for found in hashes:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key={"keyHash": {"S": found}},
                    UpdateExpression="SET #status = :revoked, revokedAt = :now",
                    ConditionExpression="attribute_exists(keyHash)",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={":revoked": {"S": "REVOKED"}, ":now": {"S": now.isoformat()}},
                )
                revoked += 1
            except self._client.exceptions.ConditionalCheckFailedException:
                continue
        return revoked

    def _hashes_of(self, wanted_id: str) -> list[str]:
        hashes: list[str] = []
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="keyId = :id",
            ExpressionAttributeValues={":id": {"S": wanted_id}},
            ProjectionExpression="keyHash",
        ):
            hashes += [item["keyHash"]["S"] for item in page.get("Items", [])]
        return hashes


def _api_key(item: dict[str, Any]) -> ApiKey | None:
    """A platform key says so; any other key is its merchant's (a key naming no merchant acts for none)."""
    if item.get("scope", {}).get("S") == PLATFORM_SCOPE:
        return ApiKey(item["keyHash"]["S"], item["keyId"]["S"], None)
    merchant_id = item.get("merchantId", {}).get("S")
    if not merchant_id:
        return None
    return ApiKey(item["keyHash"]["S"], item["keyId"]["S"], merchant_id)
