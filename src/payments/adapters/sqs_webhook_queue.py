"""Deliveries waiting for an attempt, on the webhook-deliveries SQS queue (standard): one message per
delivery, naming it and its generation. A failed attempt's wait is its message's visibility timeout
(docs/decisions/0005-webhook-retries-on-sqs.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from payments.service.webhook_delivery import MessageTimer
from payments.service.webhook_ports import DeliveryQueue, DeliveryTask

BATCH: Final = 10  # SendMessageBatch takes ten messages
SEND_TRIES: Final = 3  # entries SQS failed for a reason of its own are sent again this often
# SQS keeps a message hidden at most 12 hours counted from its receipt, and refuses a longer wait. A
# message is postponed within seconds of its receipt (the worker runs 30 s at most), so a minute off
# the limit always fits; a wait cut short brings the message back early, and it waits the rest then.
MAX_HIDDEN_SECONDS: Final = 43_200 - 60


def task_body(task: DeliveryTask) -> dict[str, Any]:
    return {
        "merchantId": task.merchant_id,
        "webhookEndpointId": task.webhook_endpoint_id,
        "eventId": task.event_id,
        "generation": task.generation,
    }


def task_from_body(body: Mapping[str, Any]) -> DeliveryTask:
    generation = body["generation"]
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise ValueError("a delivery task's generation is an integer")
    return DeliveryTask(
        merchant_id=str(body["merchantId"]),
        webhook_endpoint_id=str(body["webhookEndpointId"]),
        event_id=str(body["eventId"]),
        generation=generation,
    )


class QueueSendFailed(RuntimeError):
    """Some tasks could not be queued; the caller's message is retried, and adds nothing twice."""


class SqsWebhookQueue(DeliveryQueue, MessageTimer):
    def __init__(self, client: Any, *, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, tasks: Sequence[DeliveryTask]) -> None:
        for start in range(0, len(tasks), BATCH):
            pending = {
                str(number): json.dumps(task_body(task), separators=(",", ":"))
                for number, task in enumerate(tasks[start : start + BATCH])
            }
            for _ in range(SEND_TRIES):
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
                )
                failed = response.get("Failed") or []
                if any(entry.get("SenderFault") for entry in failed):  # ours: sending again will not help
                    raise QueueSendFailed(_describe(failed))
                pending = {entry["Id"]: pending[entry["Id"]] for entry in failed}
                if not pending:
                    break
            else:
                raise QueueSendFailed(_describe(failed))

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self._client.change_message_visibility(
            QueueUrl=self._queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, MAX_HIDDEN_SECONDS)),
        )


def _describe(failed: list[dict[str, Any]]) -> str:
    first = failed[0]
    return f"{len(failed)} delivery task(s) not queued: {first.get('Code')}: {first.get('Message')}"
