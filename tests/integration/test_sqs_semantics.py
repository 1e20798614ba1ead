"""SQS semantics the local runtime keeps while it skips the emulator's per-send message counts."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from payments.local.runtime import LocalStack


@pytest.fixture
def sqs(local_stack: LocalStack) -> Any:
    return boto3.client("sqs", endpoint_url=local_stack.emulator.endpoint)


def test_queue_depth_is_still_counted(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"depth-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for number in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{number}")
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"],
        attributes["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "2",
        "1",
    )


def test_a_fifo_queue_still_deduplicates_by_content(sqs: Any) -> None:
    url = sqs.create_queue(
        QueueName=f"dedupe-{uuid.uuid4().hex[:8]}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="refund re_1", MessageGroupId="mer_1")
    sqs.send_message(QueueUrl=url, MessageBody="refund re_2", MessageGroupId="mer_1")
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_a_deduplication_id_stays_taken_after_its_message_is_deleted(sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"window-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    sqs.send_message(QueueUrl=url, MessageBody="job", MessageGroupId="m", MessageDeduplicationId="rb_1:2")
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # Sent again within SQS's five-minute window: accepted, never delivered
    sqs.send_message(QueueUrl=url, MessageBody="job", MessageGroupId="m", MessageDeduplicationId="rb_1:2")
    sqs.send_message(QueueUrl=url, MessageBody="other", MessageGroupId="m", MessageDeduplicationId="rb_1:3")
    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert bodies == ["other"]
