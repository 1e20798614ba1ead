"""Refund batches on DynamoDB: the batch's counts, and one item per settled row.

A row's outcome and its count move together in one `TransactWriteItems`, conditional on the row not
being settled yet (or being DEAD_LETTERED, which a redrive may settle again), so however often a job
runs, each row counts once.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import TRANSACTION_CANCELED, cancellation_codes, error_code
from payments.domain.errors import NotFound
from payments.domain.refund_batches import RowError, RowState
from payments.service.ports import RefundBatch, RefundBatchRepository

BATCH_ITEM = "BATCH"
COUNTERS = {
    RowState.SUCCEEDED: "succeeded",
    RowState.FAILED: "failed",
    RowState.DEAD_LETTERED: "deadLettered",
}


def _row_item(line: int) -> str:
    return f"ROW#{line:06d}"


class DynamoDBRefundBatches(RefundBatchRepository):
    def __init__(self, client: Any, *, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, batch_id: str, item: str) -> dict[str, Any]:
        return {"batchId": {"S": batch_id}, "item": {"S": item}}

    def create(self, batch: RefundBatch) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._key(batch.batch_id, BATCH_ITEM),
                "total": {"N": str(batch.total)},
                "succeeded": {"N": "0"},
                "failed": {"N": str(batch.failed)},
                "deadLettered": {"N": "0"},
                "queued": {"N": "0"},
                "errors": {"S": json.dumps([{"line": e.line, "message": e.message} for e in batch.errors])},
            },
            ConditionExpression="attribute_not_exists(batchId)",
        )

    def get(self, batch_id: str) -> RefundBatch:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(batch_id, BATCH_ITEM), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise NotFound(f"no refund batch {batch_id}")
        return RefundBatch(
            batch_id=batch_id,
            total=int(item["total"]["N"]),
            succeeded=int(item["succeeded"]["N"]),
            failed=int(item["failed"]["N"]),
            dead_lettered=int(item["deadLettered"]["N"]),
            queued=int(item["queued"]["N"]),
            errors=tuple(
                RowError(int(e["line"]), str(e["message"])) for e in json.loads(item["errors"]["S"])
            ),
        )

    def mark_queued(self, batch_id: str, count: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(batch_id, BATCH_ITEM),
            UpdateExpression="SET queued = :count",
            ExpressionAttributeValues={":count": {"N": str(count)}},
        )

    def settle_row(self, batch_id: str, line: int, state: RowState, detail: str | None) -> bool:
        values = {":state": {"S": state.value}, ":detail": {"S": (detail or "")[:500]}}
        counter = COUNTERS[state]
        if self._settle(batch_id, line, "attribute_not_exists(#state)", values, {counter: 1}):
            return True
        if state is RowState.DEAD_LETTERED:
            return False
        # A dead-lettered row that a redrive has now settled for good moves out of deadLettered.
        values[":dead"] = {"S": RowState.DEAD_LETTERED.value}
        return self._settle(batch_id, line, "#state = :dead", values, {counter: 1, "deadLettered": -1})

    def _settle(
        self, batch_id: str, line: int, condition: str, values: dict[str, Any], counts: dict[str, int]
    ) -> bool:
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(batch_id, _row_item(line)),
                            "UpdateExpression": "SET #state = :state, detail = :detail",
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": self._key(batch_id, BATCH_ITEM),
                            "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in counts),
                            "ExpressionAttributeValues": {
                                f":{name}": {"N": str(change)} for name, change in counts.items()
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            if error_code(error) == TRANSACTION_CANCELED and cancellation_codes(error)[:1] == [
                "ConditionalCheckFailed"
            ]:
                return False  # settled already
            raise
        return True
