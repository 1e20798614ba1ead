"""DynamoDB semantics money depends on, as the local emulator must honour them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError


def _stream_records(dynamodb: Any, streams: Any, table: str) -> int:
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return len(streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"])


def test_a_cancelled_transaction_writes_nothing_and_streams_nothing(dynamodb: Any, local_stack: Any) -> None:
    streams = boto3.client("dynamodbstreams", endpoint_url=local_stack.emulator.endpoint)
    table = "transactions-local"
    existing = f"txn_{uuid.uuid4().hex}"
    dynamodb.put_item(TableName=table, Item={"transactionId": {"S": existing}})
    before = _stream_records(dynamodb, streams, table)
    fresh = f"txn_{uuid.uuid4().hex}"

    # When a transaction's second condition fails
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"transactionId": {"S": fresh}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"transactionId": {"S": existing}},
                        "ConditionExpression": "attribute_not_exists(transactionId)",
                    }
                },
            ]
        )

    # Then it is cancelled with the reason in place, the first put did not land, and no record streamed
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"transactionId": {"S": fresh}})
    assert _stream_records(dynamodb, streams, table) == before


def test_concurrent_conditional_writes_have_one_winner(dynamodb: Any) -> None:
    key = f"txn_{uuid.uuid4().hex}"

    def put(n: int) -> bool:
        try:
            dynamodb.put_item(
                TableName="transactions-local",
                Item={"transactionId": {"S": key}, "writer": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(transactionId)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    for _ in range(5):
        key = f"txn_{uuid.uuid4().hex}"
        with ThreadPoolExecutor(max_workers=16) as pool:
            assert sum(pool.map(put, range(16))) == 1
