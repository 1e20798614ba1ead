"""Refund batches on DynamoDB: one partition per batch, holding its counts and every row's outcome.

Items of the batch's partition (`batchId`), by sort key (`item`):

- `BATCH`: the counts, the first import errors, and `merchantId` (absent for a platform key's batch).
- `ROW#<line>`: a row the worker settled, and how (`state`, `detail`).
- `FAILURE#<line>`: a row the worker settled FAILED or DEAD_LETTERED, with its reason; deleted when a
  redrive settles a dead-lettered row SUCCEEDED.
- `REFUSED#<n>`: the rows refused at import on lines `n * 1000` to `n * 1000 + 999`, as one JSON list.
  A file of 100,000 bad rows is then 101 writes, not 100,000, inside the upload's request.

The table's stream carries every write to the webhook-outcomes function: `completed_batch` finds the
write that settled a batch's last pending row (its `refund_batch.completed` webhook).

Lines are zero-padded to six digits (a file has at most 100,001 lines), so the keys sort by line and
`failures` is two queries on the batch's partition, merged by line, never a scan.

A row's outcome, its failure item and its count move together in one `TransactWriteItems`,
conditional on the row not being settled yet (or being DEAD_LETTERED, which a redrive may settle
again), so however often a job runs, each row counts once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, assert_never

from botocore.exceptions import ClientError

from payments.adapters import page_tokens
from payments.adapters.aws_errors import TRANSACTION_CANCELED, cancellation_codes, error_code
from payments.domain.errors import InvalidRequest
from payments.domain.refund_batches import RowError, RowFailure, RowState, no_batch
from payments.service.ports import Page, RefundBatch, RefundBatchRepository

BATCH_ITEM: Final = "BATCH"
REFUSED_LINES: Final = 1_000  # lines per REFUSED# item: at most about 250 KB, under the 400 KB item limit
MAX_MESSAGE: Final = 200  # import messages are ours and shorter; a bound keeps a REFUSED# item small
MAX_DETAIL: Final = 500
_LAST_LINE: Final = 999_999
_TOKEN_KEYS: Final = frozenset({"batchId", "after"})


def counter_for(state: RowState) -> str:
    """The batch item's counter of each row outcome (an outcome left out is a mypy error)."""
    match state:
        case RowState.SUCCEEDED:
            return "succeeded"
        case RowState.FAILED:
            return "failed"
        case RowState.DEAD_LETTERED:
            return "deadLettered"
        case _:
            assert_never(state)


def _row_item(line: int) -> str:
    return f"ROW#{line:06d}"


def _failure_item(line: int) -> str:
    return f"FAILURE#{line:06d}"


def _refused_item(chunk: int) -> str:
    return f"REFUSED#{chunk:03d}"


class DynamoDBRefundBatches(RefundBatchRepository):
    def __init__(self, client: Any, *, table: str) -> None:
        self._client = client
        self._table = table

    def _key(self, batch_id: str, item: str) -> dict[str, Any]:
        return {"batchId": {"S": batch_id}, "item": {"S": item}}

    def create(self, batch: RefundBatch, *, refused: Sequence[RowError] = ()) -> None:
        chunks: dict[int, list[list[int | str]]] = {}
        for error in refused:
            chunks.setdefault(error.line // REFUSED_LINES, []).append(
                [error.line, error.message[:MAX_MESSAGE]]
            )
        # The refused rows first: once the batch item exists, all of them are there to be listed.
        for chunk, errors in sorted(chunks.items()):
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(batch.batch_id, _refused_item(chunk)), "errors": {"S": json.dumps(errors)}},
            )
        owner = {} if batch.merchant_id is None else {"merchantId": {"S": batch.merchant_id}}
        self._client.put_item(
            TableName=self._table,
            Item={
                **self._key(batch.batch_id, BATCH_ITEM),
                **owner,
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
            raise no_batch(batch_id)
        return batch_from_item(item)

    def mark_queued(self, batch_id: str, count: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(batch_id, BATCH_ITEM),
            UpdateExpression="SET queued = :count",
            ExpressionAttributeValues={":count": {"N": str(count)}},
        )

    def settle_row(self, batch_id: str, line: int, state: RowState, detail: str | None) -> bool:
        values = {":state": {"S": state.value}, ":detail": {"S": (detail or "")[:MAX_DETAIL]}}
        counter = counter_for(state)
        if self._settle(batch_id, line, "attribute_not_exists(#state)", values, {counter: 1}):
            return True
        values[":dead"] = {"S": RowState.DEAD_LETTERED.value}
        if state is RowState.DEAD_LETTERED:
            # Counted already (before its last delivery ran): the row keeps the reason it last failed for.
            self._settle(batch_id, line, "#state = :dead", values, {})
            return False
        # A dead-lettered row that a redrive has now settled for good moves out of deadLettered.
        return self._settle(batch_id, line, "#state = :dead", values, {counter: 1, "deadLettered": -1})

    def _settle(
        self, batch_id: str, line: int, condition: str, values: dict[str, Any], counts: dict[str, int]
    ) -> bool:
        state = RowState(values[":state"]["S"])
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(batch_id, _row_item(line)),
                    "UpdateExpression": "SET #state = :state, detail = :detail",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if state is not RowState.SUCCEEDED:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, _failure_item(line)),
                        "UpdateExpression": "SET #state = :state, message = :detail",
                        "ExpressionAttributeNames": {"#state": "state"},
                        "ExpressionAttributeValues": {
                            ":state": values[":state"],
                            ":detail": values[":detail"],
                        },
                    }
                }
            )
        elif ":dead" in values:  # a redriven row that now succeeded is no failure any more
            items.append(
                {"Delete": {"TableName": self._table, "Key": self._key(batch_id, _failure_item(line))}}
            )
        if counts:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, BATCH_ITEM),
                        "UpdateExpression": "ADD " + ", ".join(f"{name} :{name}" for name in counts),
                        "ExpressionAttributeValues": {
                            f":{name}": {"N": str(change)} for name, change in counts.items()
                        },
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error_code(error) == TRANSACTION_CANCELED and cancellation_codes(error)[:1] == [
                "ConditionalCheckFailed"
            ]:
                return False  # settled already
            raise
        return True

    def failures(self, batch_id: str, *, limit: int, next_token: str | None) -> Page[RowFailure]:
        """Both sources from the line after the last one listed, merged by line: `limit + 1` of them
        say whether another page follows."""
        after = 0 if next_token is None else resume_after(next_token, batch_id)
        found = {failure.line: failure for failure in self._refused(batch_id, after, limit + 1)}
        found.update((failure.line, failure) for failure in self._settled(batch_id, after, limit + 1))
        listed = [found[line] for line in sorted(found)]
        page = listed[:limit]
        if len(listed) <= limit:
            return Page(page, None)
        return Page(
            page, page_tokens.encode({"batchId": {"S": batch_id}, "after": {"S": str(page[-1].line)}})
        )

    def _settled(self, batch_id: str, after: int, wanted: int) -> list[RowFailure]:
        """The worker's failures after line `after`, at most `wanted`: one query, by line."""
        items = self._client.query(
            TableName=self._table,
            KeyConditionExpression="batchId = :batch AND #item BETWEEN :first AND :last",
            ExpressionAttributeNames={"#item": "item"},
            ExpressionAttributeValues={
                ":batch": {"S": batch_id},
                ":first": {"S": _failure_item(after + 1)},
                ":last": {"S": _failure_item(_LAST_LINE)},
            },
            Limit=wanted,
            ConsistentRead=True,
        ).get("Items", [])
        return [
            RowFailure(
                int(item["item"]["S"].removeprefix("FAILURE#")),
                RowState(item["state"]["S"]),
                item["message"]["S"],
            )
            for item in items
        ]

    def _refused(self, batch_id: str, after: int, wanted: int) -> list[RowFailure]:
        """The import's refusals after line `after`: REFUSED# items from the one holding `after + 1`,
        until `wanted` are found or none is left."""
        found: list[RowFailure] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "batchId = :batch AND #item BETWEEN :first AND :last",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {
                ":batch": {"S": batch_id},
                ":first": {"S": _refused_item((after + 1) // REFUSED_LINES)},
                ":last": {"S": _refused_item(_LAST_LINE // REFUSED_LINES)},
            },
            "Limit": 2,  # a page (at most 100 lines) rarely needs more than the first two
            "ConsistentRead": True,
        }
        while len(found) < wanted:
            answer = self._client.query(**request)
            for item in answer.get("Items", []):
                found.extend(
                    RowFailure(int(line), RowState.FAILED, str(message))
                    for line, message in json.loads(item["errors"]["S"])
                    if int(line) > after
                )
            if "LastEvaluatedKey" not in answer:
                break
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return found[:wanted]


def batch_from_item(item: Mapping[str, Any]) -> RefundBatch:
    """The batch from its BATCH item (as read, or as a stream record's image)."""
    return RefundBatch(
        batch_id=item["batchId"]["S"],
        total=int(item["total"]["N"]),
        succeeded=int(item["succeeded"]["N"]),
        failed=int(item["failed"]["N"]),
        dead_lettered=int(item["deadLettered"]["N"]),
        queued=int(item["queued"]["N"]),
        errors=tuple(RowError(int(e["line"]), str(e["message"])) for e in json.loads(item["errors"]["S"])),
        merchant_id=item["merchantId"]["S"] if "merchantId" in item else None,
    )


def completed_batch(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> RefundBatch | None:
    """The batch one write completed, from its stream record's images: its BATCH item with no row
    pending after the write and some before it (or created so: every row refused at import). A row
    settled again later (a redriven dead-lettered one) leaves none pending before and after: nothing."""
    if new is None or new["item"]["S"] != BATCH_ITEM:
        return None
    batch = batch_from_item(new)
    if batch.pending != 0 or (old is not None and batch_from_item(old).pending == 0):
        return None
    return batch


def resume_after(token: str, batch_id: str) -> int:
    """The last line a page listed, from a token this batch's list issued."""
    key = page_tokens.decode(token, scope=("batchId", batch_id), keys=_TOKEN_KEYS)
    after = key["after"]["S"]
    if not (after.isascii() and after.isdigit() and len(after) <= 6):
        raise InvalidRequest("nextToken is not valid")
    return int(after)
