"""The webhook-deliveries queue adapter: tasks sent ten to a call, entries SQS failed sent again (or
raised), a task read back as it was sent, and a retry's wait set on the message it came in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payments.adapters.sqs_webhook_queue import QueueSendFailed, SqsWebhookQueue, task_body, task_from_body
from payments.service.webhook_ports import DeliveryTask

URL = "https://sqs.us-east-1.amazonaws.com/000000000000/payments-webhook-deliveries-dev"


class Sqs:
    """What the adapter calls on boto3's SQS client; `fail` names entry ids to fail per call, in order."""

    def __init__(self, *fail: tuple[set[str], bool]) -> None:
        self.fail = list(fail)
        self.sent: list[list[dict[str, Any]]] = []
        self.visibility: list[dict[str, Any]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert QueueUrl == URL
        assert len(Entries) <= 10
        self.sent.append(Entries)
        failing, sender_fault = self.fail.pop(0) if self.fail else (set(), False)
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in failing],
            "Failed": [
                {"Id": e["Id"], "SenderFault": sender_fault, "Code": "InternalError", "Message": "try again"}
                for e in Entries
                if e["Id"] in failing
            ],
        }

    def change_message_visibility(self, **call: Any) -> None:
        self.visibility.append(call)


def tasks(count: int) -> list[DeliveryTask]:
    return [DeliveryTask("mer_1", f"we_{n}", f"txn_{n}", 1) for n in range(count)]


def test_tasks_go_ten_to_a_call_and_read_back_as_sent() -> None:
    sqs = Sqs()
    SqsWebhookQueue(sqs, queue_url=URL).enqueue(tasks(23))
    assert [len(call) for call in sqs.sent] == [10, 10, 3]
    received = [task_from_body(json.loads(entry["MessageBody"])) for call in sqs.sent for entry in call]
    assert received == tasks(23)


def test_entries_sqs_failed_are_sent_again() -> None:
    sqs = Sqs(({"1", "4"}, False))
    SqsWebhookQueue(sqs, queue_url=URL).enqueue(tasks(5))
    assert [[entry["Id"] for entry in call] for call in sqs.sent] == [["0", "1", "2", "3", "4"], ["1", "4"]]


def test_entries_that_keep_failing_or_fail_by_our_fault_raise() -> None:
    with pytest.raises(QueueSendFailed, match="1 delivery task"):
        SqsWebhookQueue(Sqs(*[({"0"}, False)] * 3), queue_url=URL).enqueue(tasks(1))
    refused = Sqs(({"0"}, True))
    with pytest.raises(QueueSendFailed):
        SqsWebhookQueue(refused, queue_url=URL).enqueue(tasks(2))
    assert len(refused.sent) == 1


def test_a_task_body_must_name_a_whole_generation() -> None:
    body = task_body(DeliveryTask("mer_1", "we_1", "txn_1", 2))
    assert task_from_body(body).generation == 2
    for bad in ("2", 2.0, True, None):
        with pytest.raises((ValueError, TypeError)):
            task_from_body({**body, "generation": bad})


def test_a_retry_waits_as_the_messages_visibility_within_what_sqs_allows() -> None:
    sqs = Sqs()
    queue = SqsWebhookQueue(sqs, queue_url=URL)
    queue.postpone("rh-1", 300)
    queue.postpone("rh-2", 43_200)  # the longest wait, jittered up: 12 hours from now is past the limit
    assert sqs.visibility == [
        {"QueueUrl": URL, "ReceiptHandle": "rh-1", "VisibilityTimeout": 300},
        {"QueueUrl": URL, "ReceiptHandle": "rh-2", "VisibilityTimeout": 43_140},
    ]
