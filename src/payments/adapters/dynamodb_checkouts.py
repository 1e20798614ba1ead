"""Checkout records on DynamoDB: one per payment, the step-up's task token taken at most once.

The record also keeps each outcome as it is decided (`stepUps`, the waits for a challenge so far;
`failureCode`; `succeeded`), and the table's stream carries every write to the webhook-outcomes function:
`outcomes_of` reads what one write newly recorded from its old and new images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import condition_failed
from payments.domain.checkout import CheckoutStatus
from payments.domain.errors import InvalidState
from payments.service.ports import CheckoutRecord, CheckoutRepository, no_checkout
from payments.service.webhook_outcomes import CheckoutOutcome


class DynamoDBCheckoutRepository(CheckoutRepository):
    def __init__(self, client: Any, *, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, tracking_id: str) -> dict[str, Any]:
        return {"trackingId": {"S": tracking_id}}

    def create_if_absent(self, record: CheckoutRecord) -> CheckoutRecord:
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "trackingId": {"S": record.tracking_id},
                    "paymentIntentId": {"S": record.payment_intent_id},
                    "executionArn": {"S": record.execution_arn},
                },
                ConditionExpression="attribute_not_exists(trackingId)",
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            return self.get(record.tracking_id)
        return record

    def get(self, tracking_id: str) -> CheckoutRecord:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(tracking_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise no_checkout(tracking_id)

        def text(name: str) -> str | None:
            return item[name]["S"] if name in item else None

        return CheckoutRecord(
            tracking_id=tracking_id,
            payment_intent_id=item["paymentIntentId"]["S"],
            execution_arn=item["executionArn"]["S"],
            task_token=text("taskToken"),
            failure_code=text("failureCode"),
            failure_message=text("failureMessage"),
        )

    def require_action(self, tracking_id: str, task_token: str) -> None:
        try:  # a new wait: its token kept and counted in one write
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tracking_id),
                UpdateExpression="SET taskToken = :token, stepUps = if_not_exists(stepUps, :zero) + :one",
                ConditionExpression="attribute_exists(trackingId) AND "
                "(attribute_not_exists(taskToken) OR taskToken <> :token)",
                ExpressionAttributeValues={
                    ":token": {"S": task_token},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as error:
            if not condition_failed(error):
                raise
            # This token is kept already (the step-up run again), or there is no such checkout
            # (ConditionalCheckFailed again, raised as before: the workflow compensates).
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tracking_id),
                UpdateExpression="SET taskToken = :token",
                ConditionExpression="attribute_exists(trackingId)",
                ExpressionAttributeValues={":token": {"S": task_token}},
            )

    def waiting_task_token(self, tracking_id: str) -> str:
        token = self.get(tracking_id).task_token  # NotFound for an unknown checkout
        if token is None:
            raise InvalidState("this checkout is not waiting for a 3-D Secure challenge")
        return token

    def clear_task_token(self, tracking_id: str, task_token: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(tracking_id),
                UpdateExpression="REMOVE taskToken",
                ConditionExpression="taskToken = :token",
                ExpressionAttributeValues={":token": {"S": task_token}},
            )
        except ClientError as error:
            if not condition_failed(error):
                raise  # else cleared already, or a newer wait holds its own token

    def record_failure(self, tracking_id: str, code: str, message: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(tracking_id),
            UpdateExpression="SET failureCode = :code, failureMessage = :message REMOVE taskToken",
            ConditionExpression="attribute_exists(trackingId)",
            ExpressionAttributeValues={":code": {"S": code}, ":message": {"S": message}},
        )

    def record_success(self, tracking_id: str) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(tracking_id),
            UpdateExpression="SET succeeded = :yes",
            ConditionExpression="attribute_exists(trackingId)",
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )


Image = Mapping[str, Any]


def outcomes_of(old: Image | None, new: Image | None) -> list[CheckoutOutcome]:
    """What one write to a checkout newly recorded, from its stream record's images (DynamoDB JSON):
    a new wait for a challenge (`stepUps` grew), its failure, its success. A write that records nothing
    new (the token cleared, the same failure written again, the record created) gives nothing."""
    if new is None:  # removed: no outcome
        return []
    before = old or {}
    found = []
    step_ups = _count(new, "stepUps")
    if step_ups > _count(before, "stepUps"):
        found.append(CheckoutOutcome(CheckoutStatus.ACTION_REQUIRED, step_up=step_ups))
    if "failureCode" in new and "failureCode" not in before:
        found.append(CheckoutOutcome(CheckoutStatus.FAILED, error_code=new["failureCode"]["S"]))
    if "succeeded" in new and "succeeded" not in before:
        found.append(CheckoutOutcome(CheckoutStatus.SUCCEEDED))
    return found


def _count(image: Image, name: str) -> int:
    return int(image[name]["N"]) if name in image else 0
