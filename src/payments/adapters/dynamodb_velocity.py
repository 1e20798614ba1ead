"""Fixed-window attempt counters on DynamoDB: one atomic `ADD` per key, the new count returned."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import condition_failed
from payments.service.ports import ApprovalHistory, VelocityCounter

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class DynamoDBVelocityCounter(VelocityCounter):
    """`<key>#<window start>`: the keys are the use case's (`customer#<merchantId>#<customerId>`,
    `device#...`, `ip#...`), so a counter is never shared by two merchants' customers."""

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


class DynamoDBApprovalHistory(ApprovalHistory):
    """Beside the velocity counters: `approved#<customer>` with a count, the last approval and the
    event ids counted (so a redelivered event counts once). The customer is the merchant-scoped one
    the use case passes (`<merchantId>#<customerId>`)."""

    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def record(self, *, customer_id: str, event_id: str, approved_at: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"counterKey": {"S": f"approved#{customer_id}"}},
                UpdateExpression="ADD approvedCount :one, seenEvents :event SET lastApprovedAt = :at",
                ConditionExpression="NOT contains(seenEvents, :eventId)",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":event": {"SS": [event_id]},
                    ":eventId": {"S": event_id},
                    ":at": {"S": approved_at},
                },
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True
