"""The refund batches table (in-process emulator): every row that was not refunded is listed with its
reason, by line, page by page, from queries on the batch's own partition; a row counts once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches
from payments.domain.errors import InvalidRequest, NotFound
from payments.domain.refund_batches import RowError, RowFailure, RowState
from payments.service.ports import RefundBatch

TABLE = "refund-batches-test"


class Recording:
    """The client, with the name of every call made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


@pytest.fixture
def client() -> Iterator[Recording]:
    with mock_aws():
        dynamodb = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "batchId", "KeyType": "HASH"},
                {"AttributeName": "item", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "batchId", "AttributeType": "S"},
                {"AttributeName": "item", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Recording(dynamodb)


@pytest.fixture
def batches(client: Recording) -> DynamoDBRefundBatches:
    return DynamoDBRefundBatches(client, table=TABLE)


def every_failure(batches: DynamoDBRefundBatches, batch_id: str, limit: int) -> list[RowFailure]:
    listed: list[RowFailure] = []
    token: str | None = None
    while True:
        page = batches.failures(batch_id, limit=limit, next_token=token)
        assert len(page.items) <= limit
        listed.extend(page.items)
        if page.next_token is None:
            return listed
        assert len(page.items) == limit  # a page that promises more is full
        token = page.next_token


def test_every_failure_is_listed_once_by_line_across_pages(
    batches: DynamoDBRefundBatches, client: Recording
) -> None:
    # Given a batch whose import refused 1,300 rows (over several stored items) ...
    refused = [RowError(line, f"bad line {line}") for line in range(2, 2602, 2)]
    batches.create(RefundBatch("rb_1", total=2600, failed=len(refused)), refused=refused)
    # ... and whose worker refused, dead-lettered and refunded rows between them
    assert batches.settle_row("rb_1", 3, RowState.FAILED, "no payment intent pi_x")
    assert batches.settle_row("rb_1", 1001, RowState.DEAD_LETTERED, "the gateway did not answer")
    assert batches.settle_row("rb_1", 2601, RowState.FAILED, "only a captured payment can be refunded")
    assert batches.settle_row("rb_1", 5, RowState.SUCCEEDED, None)
    expected = sorted(
        [RowFailure(e.line, RowState.FAILED, e.message) for e in refused]
        + [
            RowFailure(3, RowState.FAILED, "no payment intent pi_x"),
            RowFailure(1001, RowState.DEAD_LETTERED, "the gateway did not answer"),
            RowFailure(2601, RowState.FAILED, "only a captured payment can be refunded"),
        ],
        key=lambda failure: failure.line,
    )
    client.calls.clear()
    # When they are read a page at a time, whatever the page size
    for limit in (100, 7, 1):
        assert every_failure(batches, "rb_1", limit) == expected
    # Then every read was a query on the batch's partition: never a scan
    assert set(client.calls) == {"query"}
    assert batches.get("rb_1").failed == len(refused) + 2


def test_a_batch_with_nothing_failed_lists_nothing(batches: DynamoDBRefundBatches) -> None:
    batches.create(RefundBatch("rb_1", total=1))
    assert batches.failures("rb_1", limit=20, next_token=None).items == []
    assert batches.failures("rb_1", limit=20, next_token=None).next_token is None


def test_a_dead_lettered_row_keeps_its_latest_reason_and_leaves_the_list_once_refunded(
    batches: DynamoDBRefundBatches,
) -> None:
    batches.create(RefundBatch("rb_1", total=1))
    # Counted before its last delivery runs, then that delivery fails too: counted once, with its reason
    assert batches.settle_row("rb_1", 2, RowState.DEAD_LETTERED, "not settled by its last delivery") is True
    assert batches.settle_row("rb_1", 2, RowState.DEAD_LETTERED, "the gateway did not answer") is False
    assert batches.failures("rb_1", limit=20, next_token=None).items == [
        RowFailure(2, RowState.DEAD_LETTERED, "the gateway did not answer")
    ]
    assert batches.get("rb_1").dead_lettered == 1
    # A redrive refunds it: no failure any more, counted succeeded instead
    assert batches.settle_row("rb_1", 2, RowState.SUCCEEDED, None) is True
    assert batches.failures("rb_1", limit=20, next_token=None).items == []
    assert (batches.get("rb_1").dead_lettered, batches.get("rb_1").succeeded) == (0, 1)
    # Settled for good: nothing moves it again
    assert batches.settle_row("rb_1", 2, RowState.FAILED, "late") is False
    assert batches.settle_row("rb_1", 2, RowState.DEAD_LETTERED, "late") is False
    assert batches.failures("rb_1", limit=20, next_token=None).items == []


def test_a_dead_lettered_row_refused_for_good_after_a_redrive_is_failed(
    batches: DynamoDBRefundBatches,
) -> None:
    batches.create(RefundBatch("rb_1", total=1))
    batches.settle_row("rb_1", 2, RowState.DEAD_LETTERED, "the gateway did not answer")
    assert batches.settle_row("rb_1", 2, RowState.FAILED, "no payment intent pi_x") is True
    assert batches.failures("rb_1", limit=20, next_token=None).items == [
        RowFailure(2, RowState.FAILED, "no payment intent pi_x")
    ]
    assert (batches.get("rb_1").dead_lettered, batches.get("rb_1").failed) == (0, 1)


def test_the_batch_keeps_the_merchant_of_the_key_that_sent_it(batches: DynamoDBRefundBatches) -> None:
    batches.create(RefundBatch("rb_mine", total=1, merchant_id="mer_1"))
    batches.create(RefundBatch("rb_platform", total=1))
    assert batches.get("rb_mine").merchant_id == "mer_1"
    assert batches.get("rb_platform").merchant_id is None
    with pytest.raises(NotFound, match=r"^no refund batch rb_nope$"):
        batches.get("rb_nope")


def test_a_page_token_works_only_for_its_own_batch(batches: DynamoDBRefundBatches) -> None:
    for batch_id in ("rb_1", "rb_2"):
        batches.create(RefundBatch(batch_id, total=3), refused=[RowError(2, "x"), RowError(3, "y")])
    token = batches.failures("rb_1", limit=1, next_token=None).next_token
    assert token is not None
    assert batches.failures("rb_1", limit=1, next_token=token).items == [RowFailure(3, RowState.FAILED, "y")]
    for bad in (token[:-3], "not-a-token", token.replace(token[5], "A" if token[5] != "A" else "B")):
        with pytest.raises(InvalidRequest, match="nextToken"):
            batches.failures("rb_1", limit=1, next_token=bad)
    with pytest.raises(InvalidRequest, match="nextToken"):
        batches.failures("rb_2", limit=1, next_token=token)
