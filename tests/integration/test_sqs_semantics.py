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
