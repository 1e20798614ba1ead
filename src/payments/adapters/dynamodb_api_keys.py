"""API keys in DynamoDB, by the hash of the key (the table's partition key)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from payments.domain.api_keys import ApiKey, key_hash, key_id

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

    def add(self, secret: str, *, merchant_id: str, now: datetime) -> ApiKey:
        """Keep a new key (its hash); a key that exists already is refused, never overwritten."""
        key = ApiKey(key_hash(secret), key_id(secret), merchant_id)
        self._client.put_item(
            TableName=self._table,
            Item={
                "keyHash": {"S": key.key_hash},
                "keyId": {"S": key.key_id},
                "merchantId": {"S": merchant_id},
                "status": {"S": "ACTIVE"},
                "createdAt": {"S": now.isoformat()},
            },
            ConditionExpression="attribute_not_exists(keyHash)",
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


def _api_key(item: dict[str, Any]) -> ApiKey:
    return ApiKey(item["keyHash"]["S"], item["keyId"]["S"], item["merchantId"]["S"])
