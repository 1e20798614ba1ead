"""The local SQS event source against the emulator's SQS: batches, partial batch responses, receive
counts and redrive to the dead-letter queue, FIFO order within a message group. A response Lambda cannot
read fails the whole batch: nothing is deleted, every message comes back and is dead-lettered in the end."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from payments.local.emulator import REGION, Emulator
from payments.local.event_sources import QueuePoller, QueueSource, queue_depths
from payments.local.invoker import Invocation


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def sqs(emulator: Emulator) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=emulator.endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def fifo_with_dlq(sqs: Any, *, max_receives: int) -> tuple[str, str]:
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "1",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}),
        },
    )["QueueUrl"]
    return url, dlq


def send_jobs(sqs: Any, url: str, count: int) -> None:
    """`count` jobs, each in a group of its own, so one receive hands out all of them."""
    for number in range(count):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"job {number}",
            MessageGroupId=f"m{number}",
            MessageDeduplicationId=f"d{number}",
        )


def visible(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def run(
    sqs: Any,
    url: str,
    handler: Callable[[dict[str, Any]], Any],
    until: Callable[[], bool],
    *,
    concurrency: int = 2,
) -> QueuePoller:
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = QueuePoller(
        QueueSource("worker", arn, batch_size=10, report_batch_item_failures=True, concurrency=concurrency),
        sqs=sqs,
        invoke=lambda _name, event: Invocation(handler(event)),
    )
    poller.start()
    try:
        deadline = time.monotonic() + 20
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    return poller


def test_a_failed_item_is_retried_then_dead_lettered_and_the_rest_deleted(sqs: Any) -> None:
    url, dlq = fifo_with_dlq(sqs, max_receives=2)
    send_jobs(sqs, url, 3)
    seen: list[tuple[str, str]] = []

    def handler(event: dict[str, Any]) -> Any:
        failures = []
        for record in event["Records"]:
            seen.append((record["body"], record["attributes"]["ApproximateReceiveCount"]))
            if record["body"] == "job 1":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def dead_lettered() -> bool:
        return visible(sqs, dlq) == 1

    poller = run(sqs, url, handler, dead_lettered)
    # The good jobs ran once each and were deleted; the failing one was received twice, then moved
    assert sorted(body for body, _ in seen if body != "job 1") == ["job 0", "job 2"]
    assert [count for body, count in seen if body == "job 1"] == ["1", "2"]
    assert dead_lettered()
    [moved] = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert moved["Body"] == "job 1"
    assert (poller.succeeded, poller.failed) == (2, 2)
    depths = {depth["name"]: depth for depth in queue_depths(sqs)}
    name = url.rsplit("/", 1)[-1]
    assert depths[name]["deadLetterTarget"] == dlq.rsplit("/", 1)[-1]
    assert (depths[name]["visible"], depths[name]["inFlight"]) == (0, 0)


def test_a_message_group_is_handed_out_in_order(sqs: Any) -> None:
    url, _ = fifo_with_dlq(sqs, max_receives=3)
    for number in range(25):
        sqs.send_message(
            QueueUrl=url, MessageBody=str(number), MessageGroupId="mer_1", MessageDeduplicationId=str(number)
        )
    order: list[int] = []
    run(
        sqs,
        url,
        lambda event: order.extend(int(r["body"]) for r in event["Records"]) or {},
        lambda: len(order) >= 25,
    )
    assert order == list(range(25))


def _named(records: list[dict[str, Any]], entry: Any) -> dict[str, Any]:
    """A response naming the first message (a real failure) and then `entry`."""
    return {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}, entry]}


UNREADABLE: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "an unknown itemIdentifier": lambda records: _named(records, {"itemIdentifier": "not-in-this-batch"}),
    "an empty itemIdentifier": lambda records: _named(records, {"itemIdentifier": ""}),
    "a missing itemIdentifier": lambda records: _named(records, {"itemidentifier": records[1]["messageId"]}),
    "a null itemIdentifier": lambda records: _named(records, {"itemIdentifier": None}),
    "an entry that is not an object": lambda records: _named(records, records[1]["messageId"]),
    "batchItemFailures not a list": lambda records: {
        "batchItemFailures": {"itemIdentifier": records[0]["messageId"]}
    },
    "a response that is not an object": lambda records: [{"itemIdentifier": records[0]["messageId"]}],
}


@pytest.mark.parametrize("respond", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_response_lambda_cannot_read_fails_the_whole_batch(
    sqs: Any, respond: Callable[[list[dict[str, Any]]], Any]
) -> None:
    # Given three jobs handed out in one batch, and a function whose answer names the first job and
    # then something Lambda cannot act on
    url, dlq = fifo_with_dlq(sqs, max_receives=2)
    send_jobs(sqs, url, 3)
    batches: list[list[tuple[str, str]]] = []

    def handler(event: dict[str, Any]) -> Any:
        records = event["Records"]
        batches.append([(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in records])
        return respond(records)

    poller = run(sqs, url, handler, lambda: visible(sqs, dlq) == 3, concurrency=1)
    # Then nothing was deleted: every job came back once more, and then went to the dead-letter queue
    assert batches == [
        [("job 0", "1"), ("job 1", "1"), ("job 2", "1")],
        [("job 0", "2"), ("job 1", "2"), ("job 2", "2")],
    ]
    assert visible(sqs, dlq) == 3
    assert (poller.succeeded, poller.failed) == (0, 6)
    assert poller.status()["lastError"]
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in moved) == ["job 0", "job 1", "job 2"]


@pytest.mark.parametrize(
    "answer",
    [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}, {"statusCode": 200}],
    ids=["null", "empty object", "empty list", "null list", "no batchItemFailures"],
)
def test_an_answer_naming_no_failure_is_full_success(sqs: Any, answer: Any) -> None:
    url, _ = fifo_with_dlq(sqs, max_receives=2)
    send_jobs(sqs, url, 3)
    seen: list[str] = []

    def handler(event: dict[str, Any]) -> Any:
        seen.extend(record["body"] for record in event["Records"])
        return answer

    poller = run(sqs, url, handler, lambda: len(seen) >= 3, concurrency=1)
    # Every job ran once and was deleted
    assert sorted(seen) == ["job 0", "job 1", "job 2"]
    assert (poller.succeeded, poller.failed, poller.status()["lastError"]) == (3, 0, None)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )
