"""Fixed-window attempt counters on DynamoDB: one atomic `ADD` per key, the new count returned."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from payments.service.ports import VelocityCounter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDBVelocityCounter(VelocityCounter):
    def __init__(self, client: DynamoDBClient, *, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def hit(self, keys: list[str], *, window_seconds: int) -> dict[str, int]:
        now = int(self._clock())
        window_start = now - now % window_seconds
        counts: dict[str, int] = {}
        for key in keys:
            response = self._client.update_item(
                TableName=self._table,
                Key={"counterKey": {"S": f"{key}#{window_start}"}},
                UpdateExpression="ADD attempts :one SET expiresAt = if_not_exists(expiresAt, :expires)",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":expires": {"N": str(window_start + 2 * window_seconds)},
                },
                ReturnValues="UPDATED_NEW",
            )
            counts[key] = int(response["Attributes"]["attempts"]["N"])
        return counts
