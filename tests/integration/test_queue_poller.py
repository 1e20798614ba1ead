"""The local SQS event source against the emulator's SQS: batches, partial batch responses, receive
counts and redrive to the dead-letter queue, FIFO order within a message group."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from payments.local.event_sources import QueuePoller, QueueSource, queue_depths
from payments.local.invoker import Invocation
from payments.local.runtime import LocalStack


@pytest.fixture
def sqs(local_stack: LocalStack) -> Any:
    return boto3.client("sqs", endpoint_url=local_stack.emulator.endpoint)


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


def run(
    sqs: Any, url: str, handler: Callable[[dict[str, Any]], Any], until: Callable[[], bool]
) -> QueuePoller:
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = QueuePoller(
        QueueSource("worker", arn, batch_size=10, report_batch_item_failures=True),
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
    for number in range(3):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=f"job {number}",
            MessageGroupId=f"m{number}",
            MessageDeduplicationId=f"d{number}",
        )
    seen: list[tuple[str, str]] = []

    def handler(event: dict[str, Any]) -> Any:
        failures = []
        for record in event["Records"]:
            seen.append((record["body"], record["attributes"]["ApproximateReceiveCount"]))
            if record["body"] == "job 1":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def dead_lettered() -> bool:
        return (
            int(
                sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            == 1
        )

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
