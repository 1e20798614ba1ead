"""The local DynamoDB stream poller: batches in order, retries from the failed record, gives up after
the retries the event source allows. A fake Streams client; no sockets."""

from __future__ import annotations

import threading
import time
from typing import Any

from payments.local.event_sources import StreamPoller, StreamSource
from payments.local.invoker import Invocation


class FakeStreams:
    """One shard holding records 1..n; each GetRecords returns at most `Limit` from the iterator on."""

    def __init__(self, count: int) -> None:
        self.records = [
            {"eventID": str(n), "eventName": "INSERT", "dynamodb": {"SequenceNumber": str(n), "Keys": {}}}
            for n in range(1, count + 1)
        ]

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        start = int(ShardIterator)
        batch = self.records[start : start + Limit]
        return {"Records": batch, "NextShardIterator": str(start + len(batch))}


class Function:
    """Records what it received; fails as scripted."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.batches: list[list[str]] = []
        self.done = threading.Event()

    def __call__(self, name: str, event: Any) -> Invocation:
        sequence = [record["dynamodb"]["SequenceNumber"] for record in event["Records"]]
        self.batches.append(sequence)
        outcome = self.script.pop(0) if self.script else "ok"
        if not self.script:
            self.done.set()
        if outcome == "crash":
            return Invocation({"errorType": "Boom"}, error=True)
        if isinstance(outcome, str) and outcome.startswith("fail:"):
            return Invocation({"batchItemFailures": [{"itemIdentifier": outcome.removeprefix("fail:")}]})
        return Invocation({"batchItemFailures": []})


def run(streams: FakeStreams, function: Function, **source: Any) -> StreamPoller:
    poller = StreamPoller(
        StreamSource("fn", "arn:stream", **source), streams=streams, invoke=function, poll_seconds=0.001
    )
    poller.start()
    assert function.done.wait(5)
    time.sleep(0.05)
    poller.stop()
    return poller


def test_records_arrive_in_batches_in_order() -> None:
    function = Function(["ok", "ok", "ok"])
    run(FakeStreams(5), function, batch_size=2)
    assert function.batches[:3] == [["1", "2"], ["3", "4"], ["5"]]


def test_a_partial_failure_is_retried_from_the_failed_record() -> None:
    # Given the function fails record 3 of a batch of 4
    function = Function(["fail:3", "ok"])
    run(FakeStreams(4), function, batch_size=4, report_batch_item_failures=True)
    # Then records 1 and 2 are not delivered again; 3 and 4 are, in order
    assert function.batches[:2] == [["1", "2", "3", "4"], ["3", "4"]]


def test_a_crash_retries_the_whole_batch() -> None:
    function = Function(["crash", "ok"])
    run(FakeStreams(2), function, batch_size=10, report_batch_item_failures=True)
    assert function.batches[:2] == [["1", "2"], ["1", "2"]]


def test_after_its_retries_a_batch_is_set_aside_and_the_stream_moves_on() -> None:
    function = Function(["crash", "crash", "crash", "ok"])
    poller = run(FakeStreams(3), function, batch_size=2, maximum_retry_attempts=2)
    assert function.batches[:4] == [["1", "2"], ["1", "2"], ["1", "2"], ["3"]]
    assert [[r["dynamodb"]["SequenceNumber"] for r in d["records"]] for d in poller.dropped] == [["1", "2"]]


def test_records_carry_their_source_arn() -> None:
    seen: list[Any] = []

    def function(name: str, event: Any) -> Invocation:
        seen.extend(event["Records"])
        return Invocation(None)

    poller = StreamPoller(
        StreamSource("fn", "arn:stream"), streams=FakeStreams(1), invoke=function, poll_seconds=0.001
    )
    poller.start()
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    poller.stop()
    assert seen[0]["eventSourceARN"] == "arn:stream"


def test_a_response_lambda_cannot_read_retries_the_whole_batch_and_the_poller_keeps_going() -> None:
    # Given a function that first answers with a list (not an object), then names a record never sent
    answers: list[Any] = [[{"itemIdentifier": "2"}], {"batchItemFailures": [{"itemIdentifier": "99"}]}]
    batches: list[list[str]] = []
    done = threading.Event()

    def function(name: str, event: Any) -> Invocation:
        batches.append([record["dynamodb"]["SequenceNumber"] for record in event["Records"]])
        if len(batches) == 3:
            done.set()
        return Invocation(answers.pop(0) if answers else None)

    poller = StreamPoller(
        StreamSource("fn", "arn:stream", batch_size=10, report_batch_item_failures=True),
        streams=FakeStreams(2),
        invoke=function,
        poll_seconds=0.001,
    )
    poller.start()
    assert done.wait(5)
    time.sleep(0.05)
    poller.stop()
    # Then each time the whole batch came back, and the third delivery succeeded
    assert batches == [["1", "2"], ["1", "2"], ["1", "2"]]
    assert (poller.delivered, poller.retries) == (2, 2)
    assert "not in the batch" in str(poller.status()["lastError"])
