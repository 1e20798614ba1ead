"""Refund jobs on the refund-jobs FIFO queue: grouped by merchant, deduplicated by job id."""

from __future__ import annotations

import json
from typing import Any, Final

from payments.domain.refund_batches import RefundRow, job_id
from payments.service.ports import RefundJobQueue

BATCH: Final = 10  # SendMessageBatch takes ten messages


def job_body(batch_id: str, row: RefundRow) -> dict[str, Any]:
    return {
        "batchId": batch_id,
        "line": row.line,
        "merchantId": row.merchant_id,
        "paymentIntentId": row.payment_intent_id,
        "amount": row.amount,
        "reason": row.reason,
    }


def row_from_body(body: dict[str, Any]) -> tuple[str, RefundRow]:
    row = RefundRow(
        line=int(body["line"]),
        merchant_id=str(body["merchantId"]),
        payment_intent_id=str(body["paymentIntentId"]),
        amount=None if body.get("amount") is None else int(body["amount"]),
        reason=body.get("reason"),
    )
    return str(body["batchId"]), row


class SqsRefundJobQueue(RefundJobQueue):
    def __init__(self, client: Any, *, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, batch_id: str, rows: list[RefundRow]) -> int:
        for start in range(0, len(rows), BATCH):
            entries = [
                {
                    "Id": str(number),
                    "MessageBody": json.dumps(job_body(batch_id, row)),
                    "MessageGroupId": row.merchant_id,  # one merchant's refunds in order
                    "MessageDeduplicationId": job_id(batch_id, row.line),
                }
                for number, row in enumerate(rows[start : start + BATCH])
            ]
            response = self._client.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if response.get("Failed"):
                failed = response["Failed"][0]
                raise RuntimeError(f"refund jobs not queued: {failed.get('Code')}: {failed.get('Message')}")
        return len(rows)
