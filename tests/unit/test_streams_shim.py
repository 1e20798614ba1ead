"""The emulator's DynamoDB Streams with `payments.local.streams_shim` installed, through boto3: reading keeps
nothing, records are kept compact and read back whole, and records go after 24 hours as AWS trims them."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models import table as table_module
from moto.dynamodbstreams.models import dynamodbstreams_backends

from payments.local import dynamodb_shim, streams_shim

REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "transactions"


@pytest.fixture(scope="module", autouse=True)
def _shims() -> None:
    dynamodb_shim.install()
    streams_shim.install()


class Clock:
    """The emulator's clock, the one stream records are stamped with, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(table_module, "utcnow", clock)
    return clock


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        options = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        dynamodb = boto3.client("dynamodb", **options)
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "transactionId", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "transactionId", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        # (botocore would address an ARN's account-based endpoint, which this emulator does not serve)
        yield (
            dynamodb,
            boto3.client(
                "dynamodbstreams", endpoint_url=f"https://streams.dynamodb.{REGION}.amazonaws.com", **options
            ),
        )


def iterator(dynamodb: Any, streams: Any, kind: str = "TRIM_HORIZON", **position: str) -> str:
    arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    answer = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType=kind, **position)
    return str(answer["ShardIterator"])


def read_all(streams: Any, start: str, limit: int = 1000) -> tuple[list[dict[str, Any]], str]:
    records, at = [], start
    while True:
        answer = streams.get_records(ShardIterator=at, Limit=limit)
        records += answer["Records"]
        at = answer["NextShardIterator"]
        if not answer["Records"]:
            return records, at


def put(dynamodb: Any, number: int, **attributes: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={"transactionId": {"S": f"txn_{number:03d}"}, **attributes})


def sequence_numbers(records: list[dict[str, Any]]) -> list[int]:
    return [int(record["dynamodb"]["SequenceNumber"]) for record in records]


def shard() -> Any:
    return dynamodb_backends[ACCOUNT][REGION].get_table(TABLE).stream_shard


def test_reading_a_stream_keeps_no_iterators(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    for number in range(5):
        put(dynamodb, number)
    at = iterator(dynamodb, streams)

    read = 0
    for _ in range(200):  # a poller's reads: most of them find nothing new
        answer = streams.get_records(ShardIterator=at, Limit=2)
        read += len(answer["Records"])
        at = answer["NextShardIterator"]

    assert read == 5
    assert len(dynamodbstreams_backends[ACCOUNT][REGION].shard_iterators) == 0


def test_iterators_read_from_where_they_say(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    put(dynamodb, 1)
    put(dynamodb, 2)
    latest = iterator(dynamodb, streams, "LATEST")
    put(dynamodb, 3)
    everything, after_all = read_all(streams, iterator(dynamodb, streams), limit=2)
    first, second, third = sequence_numbers(everything)

    assert [r["dynamodb"]["Keys"]["transactionId"]["S"] for r in everything] == [
        "txn_001",
        "txn_002",
        "txn_003",
    ]
    assert second == first + 1
    assert third == first + 2
    assert sequence_numbers(read_all(streams, latest)[0]) == [third]
    assert sequence_numbers(
        read_all(streams, iterator(dynamodb, streams, "AT_SEQUENCE_NUMBER", SequenceNumber=str(second)))[0]
    ) == [second, third]
    assert sequence_numbers(
        read_all(streams, iterator(dynamodb, streams, "AFTER_SEQUENCE_NUMBER", SequenceNumber=str(second)))[0]
    ) == [third]
    put(dynamodb, 4)
    assert len(read_all(streams, after_all)[0]) == 1  # an iterator at the end reads what comes next


def test_records_read_back_whole_and_are_kept_compact(clients: tuple[Any, Any]) -> None:
    dynamodb, streams = clients
    item = {
        "transactionId": {"S": "txn_001"},
        "amount": {"N": "1250"},
        "reference": {"B": b"\x00\x01binary"},
        "captured": {"BOOL": True},
        "note": {"NULL": True},
        "legs": {"L": [{"M": {"account": {"S": "merchant_payable"}, "amount": {"N": "-1250"}}}]},
        "tags": {"SS": ["b", "a"]},
        "counts": {"NS": ["1", "2"]},
        "blobs": {"BS": [b"x", b"y"]},
        "text": {"S": "caf\u00e9 \u2603"},
    }
    dynamodb.put_item(TableName=TABLE, Item=item)
    dynamodb.update_item(
        TableName=TABLE,
        Key={"transactionId": {"S": "txn_001"}},
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "99"}},
    )
    dynamodb.delete_item(TableName=TABLE, Key={"transactionId": {"S": "txn_001"}})

    inserted, modified, removed = read_all(streams, iterator(dynamodb, streams))[0]

    assert [r["eventName"] for r in (inserted, modified, removed)] == ["INSERT", "MODIFY", "REMOVE"]
    assert inserted["dynamodb"]["NewImage"] == item
    assert modified["dynamodb"]["OldImage"] == item
    assert modified["dynamodb"]["NewImage"] == {**item, "amount": {"N": "99"}}
    assert removed["dynamodb"]["OldImage"]["amount"] == {"N": "99"}
    assert isinstance(inserted["dynamodb"]["ApproximateCreationDateTime"], datetime)
    assert inserted["dynamodb"]["SizeBytes"] > 100
    # each kept record is a few objects (its text), not a tree of dictionaries per attribute
    kept = shard().items
    assert len(kept) == 3
    assert all(objects_in(record) <= 4 for record in kept), [objects_in(record) for record in kept]


def objects_in(root: Any) -> int:
    seen, todo = set(), [root]
    while todo:
        found = todo.pop()
        if id(found) in seen or isinstance(found, type):
            continue
        seen.add(id(found))
        todo += gc.get_referents(found)
    return len(seen)


def test_records_older_than_24_hours_are_trimmed_as_aws_trims_them(
    clients: tuple[Any, Any], clock: Clock
) -> None:
    dynamodb, streams = clients
    for number in range(3):
        put(dynamodb, number)
    early = iterator(dynamodb, streams)
    first = sequence_numbers(read_all(streams, early)[0])
    clock.now += timedelta(hours=23)
    put(dynamodb, 3)
    assert len(shard().items) == 4  # a day has not passed for any of them

    clock.now += timedelta(hours=2)
    put(dynamodb, 4)

    assert len(shard().items) == 2
    left = sequence_numbers(read_all(streams, iterator(dynamodb, streams))[0])
    assert left == [first[-1] + 1, first[-1] + 2]  # numbering goes on
    with pytest.raises(streams.exceptions.TrimmedDataAccessException):
        streams.get_records(ShardIterator=early, Limit=10)
    assert sequence_numbers(read_all(streams, iterator(dynamodb, streams, "LATEST"))[0]) == []


def test_a_quiet_stream_is_trimmed_when_read(clients: tuple[Any, Any], clock: Clock) -> None:
    dynamodb, streams = clients
    put(dynamodb, 1)
    clock.now += timedelta(hours=25)

    assert read_all(streams, iterator(dynamodb, streams))[0] == []
    assert shard().items == []
