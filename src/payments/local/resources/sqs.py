"""SQS: queues (FIFO, redrive, encryption) and queue policies."""

from __future__ import annotations

import json
from typing import Any

from payments.local.resources.registry import Build, creates

_QUEUE_ATTRIBUTES = (
    "KmsMasterKeyId",
    "MessageRetentionPeriod",
    "VisibilityTimeout",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "ReceiveMessageWaitTimeSeconds",
)


@creates("AWS::SQS::Queue")
def queue(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    attributes = {
        name: json.dumps(properties[name]) if isinstance(properties[name], dict) else str(properties[name])
        for name in _QUEUE_ATTRIBUTES
        if name in properties
    }
    url = build.client("sqs").create_queue(QueueName=build.template.name(logical_id), Attributes=attributes)[
        "QueueUrl"
    ]
    build.template.created[logical_id] = url


@creates("AWS::SQS::QueuePolicy")
def queue_policy(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    for url in properties["Queues"]:
        build.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
        )
