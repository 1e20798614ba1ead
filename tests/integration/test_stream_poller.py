"""The local DynamoDB stream event source against the emulator's Streams API, with
`ReportBatchItemFailures`: a partial failure is retried from its checkpoint (the failed record with the
lowest sequence number); a response Lambda cannot read retries the whole batch, and after the retries
the event source allows the whole batch is set aside."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from payments.local.emulator import REGION, Emulator
from payments.local.event_sources import StreamPoller, StreamSource
from payments.local.invoker import Invocation

Respond = Callable[[list[dict[str, Any]]], Any]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.stop()


def _client(emulator: Emulator, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=emulator.endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stream(emulator: Emulator) -> str:
    """A new table's stream holding three records (one write each), in the order they were made."""
    dynamodb = _client(emulator, "dynamodb")
    table = f"movements-{uuid.uuid4().hex[:8]}"
    created = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    for number in range(3):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"mov_{number}"}})
    return str(created["TableDescription"]["LatestStreamArn"])


class Function:
    """Records the keys of each batch it receives; answers each batch as scripted, then `{}`."""

    def __init__(self, script: list[Respond], *, batches: int) -> None:
        self.script = script
        self.batches: list[list[str]] = []
        self.sequence_numbers: list[list[str]] = []
        self._expected = batches
        self.done = threading.Event()

    def __call__(self, _name: str, event: Any) -> Invocation:
        records = event["Records"]
        self.batches.append([record["dynamodb"]["Keys"]["pk"]["S"] for record in records])
        self.sequence_numbers.append([record["dynamodb"]["SequenceNumber"] for record in records])
        answer = self.script.pop(0)(records) if self.script else {}
        if len(self.batches) >= self._expected:
            self.done.set()
        return Invocation(answer)


def run(emulator: Emulator, stream_arn: str, function: Function, **source: Any) -> StreamPoller:
    poller = StreamPoller(
        StreamSource("publisher", stream_arn, batch_size=10, report_batch_item_failures=True, **source),
        streams=_client(emulator, "dynamodbstreams"),
        invoke=function,
        poll_seconds=0.01,
    )
    poller.start()
    try:
        assert function.done.wait(20), function.batches
        time.sleep(0.1)  # time for a batch too many to show
    finally:
        poller.stop()
    return poller


def _naming(*entries: Callable[[list[dict[str, Any]]], Any]) -> Respond:
    return lambda records: {"batchItemFailures": [entry(records) for entry in entries]}


def _failing(index: int) -> Callable[[list[dict[str, Any]]], Any]:
    """A well-formed failure of the batch's record at `index`."""
    return lambda records: {"itemIdentifier": records[index]["dynamodb"]["SequenceNumber"]}


UNREADABLE: dict[str, Respond] = {
    "an unknown itemIdentifier": _naming(_failing(2), lambda _: {"itemIdentifier": "999"}),
    "an empty itemIdentifier": _naming(_failing(2), lambda _: {"itemIdentifier": ""}),
    "a missing itemIdentifier": _naming(_failing(2), lambda _: {"sequenceNumber": "1"}),
    "a null itemIdentifier": _naming(_failing(2), lambda _: {"itemIdentifier": None}),
    "an entry that is not an object": _naming(
        _failing(2), lambda records: records[1]["dynamodb"]["SequenceNumber"]
    ),
    "batchItemFailures not a list": lambda records: {"batchItemFailures": _failing(2)(records)},
    "a response that is not an object": lambda records: [_failing(2)(records)],
}


@pytest.mark.parametrize("respond", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_response_lambda_cannot_read_retries_the_whole_batch(
    emulator: Emulator, stream: str, respond: Respond
) -> None:
    # Given a function whose first answer names the last record, and then something Lambda cannot act on
    function = Function([respond], batches=2)
    poller = run(emulator, stream, function)
    # Then the whole batch is delivered again, from its first record, and nothing more
    assert function.batches == [["mov_0", "mov_1", "mov_2"], ["mov_0", "mov_1", "mov_2"]]
    status = poller.status()
    assert (status["fetched"], status["delivered"], status["retries"], status["dropped"]) == (3, 3, 1, 0)
    assert status["lastError"]


def test_a_partial_failure_is_retried_from_the_lowest_sequence_number_it_names(
    emulator: Emulator, stream: str
) -> None:
    # Given a function that names the last record first and the middle one second
    function = Function([_naming(_failing(2), _failing(1))], batches=2)
    poller = run(emulator, stream, function)
    # Then Lambda checkpoints at the middle record: the first is not delivered again
    assert function.batches == [["mov_0", "mov_1", "mov_2"], ["mov_1", "mov_2"]]
    assert function.sequence_numbers[1] == function.sequence_numbers[0][1:]
    assert (poller.delivered, poller.retries, poller.last_error) == (3, 1, None)


def test_an_unreadable_response_each_time_sets_the_whole_batch_aside_after_the_retries(
    emulator: Emulator, stream: str
) -> None:
    unknown = UNREADABLE["an unknown itemIdentifier"]
    function = Function([unknown, unknown, unknown], batches=3)
    poller = run(emulator, stream, function, maximum_retry_attempts=2)
    # The first delivery and two retries, all of the batch; then the batch is set aside whole
    assert function.batches == [["mov_0", "mov_1", "mov_2"]] * 3
    assert [[r["dynamodb"]["Keys"]["pk"]["S"] for r in d["records"]] for d in poller.dropped] == [
        ["mov_0", "mov_1", "mov_2"]
    ]
    assert poller.status()["dropped"] == 3


@pytest.mark.parametrize(
    "answer",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}],
    ids=["null", "empty object", "empty list", "null list"],
)
def test_an_answer_naming_no_failure_is_full_success(emulator: Emulator, stream: str, answer: Any) -> None:
    function = Function([lambda _: answer], batches=1)
    poller = run(emulator, stream, function)
    assert function.batches == [["mov_0", "mov_1", "mov_2"]]
    assert (poller.delivered, poller.retries, poller.last_error) == (3, 0, None)
