"""The receipt suppression list on DynamoDB: one item per address, every feedback counted once.

Each bounce or complaint is one conditional `UpdateItem`: it adds the message to the address's set of
counted messages and bumps the counts, refused when that message was already counted (SNS delivers
at least once), so a count is never inflated and the third bounce is seen exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import condition_failed
from payments.domain.receipts import Feedback, FeedbackKind
from payments.service.ports import SuppressedAddress, SuppressionList

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def _entry(item: dict[str, Any]) -> SuppressedAddress:
    return SuppressedAddress(
        address=item["address"]["S"],
        suppressed=item.get("suppressed", {}).get("BOOL", False),
        reason=item.get("reason", {}).get("S", ""),
        bounces=int(item.get("bounces", {}).get("N", "0")),
        complaints=int(item.get("complaints", {}).get("N", "0")),
        updated_at=item.get("updatedAt", {}).get("S", ""),
    )


class DynamoDBSuppressionList(SuppressionList):
    def __init__(self, client: DynamoDBClient, *, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, address: str) -> dict[str, Any]:
        return {"address": {"S": address}}

    def is_suppressed(self, address: str) -> bool:
        item = self._client.get_item(
            TableName=self._table,
            Key=self._key(address),
            ConsistentRead=True,
            ProjectionExpression="suppressed",
        ).get("Item")
        return bool(item and item.get("suppressed", {}).get("BOOL", False))

    def record(self, address: str, feedback: Feedback, *, at: str) -> SuppressedAddress | None:
        counted = f"{feedback.kind.value}:{feedback.message_id}"
        bounce = feedback.kind is FeedbackKind.BOUNCE
        # Only a permanent bounce or a complaint suppresses; a transient bounce is counted, no more.
        suppressed = (
            "suppressed = :flag" if feedback.permanent else "suppressed = if_not_exists(suppressed, :flag)"
        )
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(address),
                UpdateExpression=(
                    f"ADD bounces :bounce, complaints :complaint, counted :message "
                    f"SET {suppressed}, reason = :reason, updatedAt = :at"
                ),
                ConditionExpression="NOT contains(counted, :id)",
                ExpressionAttributeValues={
                    ":bounce": {"N": "1" if bounce else "0"},
                    ":complaint": {"N": "0" if bounce else "1"},
                    ":message": {"SS": [counted]},
                    ":id": {"S": counted},
                    ":flag": {"BOOL": feedback.permanent},
                    ":reason": {"S": f"{feedback.kind.value} {feedback.detail}".strip()},
                    ":at": {"S": at},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if condition_failed(error):
                return None
            raise
        return _entry(response["Attributes"])

    def lift(self, address: str) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(address),
                UpdateExpression="SET suppressed = :no",
                ConditionExpression="suppressed = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}, ":no": {"BOOL": False}},
            )
        except ClientError as error:
            if condition_failed(error):
                return False
            raise
        return True

    def get(self, address: str) -> SuppressedAddress | None:
        item = self._client.get_item(TableName=self._table, Key=self._key(address), ConsistentRead=True).get(
            "Item"
        )
        return _entry(item) if item else None
