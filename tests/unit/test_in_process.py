"""boto3 calls served in-process by the emulator's application: what a handler's client sends and reads
is what it would over HTTP, with sockets off (so a call that tried the network would fail here)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import HTTPClientError, ReadTimeoutError
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from payments.local import in_process
from payments.local.chaos import Chaos, ChaosSettings, InjectedCrash, crash_point
from payments.local.emulator import CallCounter

PORT = 4599  # nothing listens there: the calls never reach a socket


@pytest.fixture(scope="module")
def calls() -> Iterator[CallCounter]:
    counter = CallCounter()
    in_process.serve(PORT, counter.wrap(_app()))
    yield counter
    in_process.stop_serving(PORT)


def client(service: str, host: str = "127.0.0.1") -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://{host}:{PORT}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def new_table() -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_a_json_protocol_call_round_trips_and_is_counted(calls: CallCounter) -> None:
    table = new_table()
    dynamodb = client("dynamodb", host="localhost")  # the workflow engine's clients name localhost
    dynamodb.put_item(TableName=table, Item={"id": {"S": "a"}, "amount": {"N": "4200"}})
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": "a"}}, ConsistentRead=True)["Item"]
    assert item == {"id": {"S": "a"}, "amount": {"N": "4200"}}
    assert calls.snapshot()[f"dynamodb GetItem:{table}"] == 1


def test_an_error_answer_reaches_botocore_as_the_service_error() -> None:
    table = new_table()
    dynamodb = client("dynamodb")
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.put_item(
            TableName=table, Item={"id": {"S": "a"}}, ConditionExpression="attribute_exists(id)"
        )


def test_s3_keys_with_spaces_and_non_ascii_and_streamed_bodies(calls: CallCounter) -> None:
    s3 = client("s3")
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    key = "settlements/2026-12-06 hour 07/été+file.csv"
    body = b"row\n" * 50_000
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["ContentLength"] == len(body)
    assert b"".join(got["Body"].iter_chunks(chunk_size=4096)) == body
    assert [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


def test_a_stopped_emulator_is_reached_over_the_network_again(calls: CallCounter) -> None:
    in_process.stop_serving(PORT)
    try:
        with pytest.raises(HTTPClientError, match="socket"):  # sockets are off in unit tests
            client("dynamodb").list_tables()
    finally:
        in_process.serve(PORT, calls.wrap(_app()))


def _app() -> Any:
    return DomainDispatcherApplication(create_backend_app)


@pytest.mark.parametrize(("seed", "after_send", "written"), [(4, False, False), (1, True, True)])
def test_a_crash_falls_before_the_call_is_handed_over_or_after_it_was_served(
    calls: CallCounter, seed: int, after_send: bool, written: bool
) -> None:
    table = new_table()
    dynamodb = client("dynamodb")
    chaos = Chaos()
    chaos.configure(ChaosSettings(seed=seed, crash_rate=1.0))  # these seeds crash at the first call out
    with pytest.raises(InjectedCrash), chaos.crashing():
        dynamodb.put_item(TableName=table, Item={"id": {"S": "a"}})
    assert chaos.status()["counts"]["crashes_after_send" if after_send else "crashes_before_send"] == 1
    stored = dynamodb.get_item(TableName=table, Key={"id": {"S": "a"}}, ConsistentRead=True)
    assert ("Item" in stored) is written


class CallsOut:
    """An application that, while serving, makes a call out of its own (as an invoked function does)."""

    def __init__(self) -> None:
        self.served = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        crash_point(after_send=False)  # the served side's own call out: not the caller's to crash at
        self.served += 1
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.0")])
        return [b'{"TableNames": []}']


def test_the_callers_crash_plan_is_put_aside_while_its_call_is_served() -> None:
    app = CallsOut()
    in_process.serve(PORT + 1, app)
    try:
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{PORT + 1}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        chaos = Chaos()
        chaos.configure(ChaosSettings(seed=13, crash_rate=1.0))  # crashes before the caller's second call
        with chaos.crashing():
            dynamodb.list_tables()
            assert app.served == 1  # served, its own call out not counted as the caller's second
            with pytest.raises(InjectedCrash, match="before sending call 2"):
                dynamodb.list_tables()
        assert app.served == 1
    finally:
        in_process.stop_serving(PORT + 1)


def test_a_call_served_later_than_the_clients_read_timeout_times_out_as_on_a_socket(
    calls: CallCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = new_table()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{PORT}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2}),
    )
    readings = iter(range(0, 1000, 6))  # each look at the clock is 6 s after the last: every call too slow
    monkeypatch.setattr(in_process.time, "monotonic", lambda: next(readings))
    with pytest.raises(ReadTimeoutError):
        dynamodb.put_item(TableName=table, Item={"id": {"S": "a"}})
    # Served all the same, twice (the client tried again, as after a timeout in AWS):
    assert calls.snapshot()[f"dynamodb PutItem:{table}"] == 2
    monkeypatch.undo()
    assert "Item" in dynamodb.get_item(TableName=table, Key={"id": {"S": "a"}}, ConsistentRead=True)


def test_s3_metadata_keeps_its_spelling_and_other_underscored_headers_are_dropped() -> None:
    s3 = client("s3")
    bucket = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="file", Body=b"x", Metadata={"batch_id": "7", "kind": "refunds"})
    assert s3.head_object(Bucket=bucket, Key="file")["Metadata"] == {"batch_id": "7", "kind": "refunds"}
