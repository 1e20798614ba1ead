"""webhook-delivery-worker: batches of up to 10 deliveries from webhook-deliveries, one attempt each.

The batch's attempts run at once on a few threads, so ten receivers that hang cost one timeout, not
ten. A message that is done with (delivered, failed for good, or a duplicate) is reported a success and
SQS deletes it; one to try again later has its visibility set to the wait and is reported failed, so
SQS hands it back then (docs/decisions/0005-webhook-retries-on-sqs.md). A record that raises is
reported failed too: it comes back after the queue's visibility timeout, and the delivery record says
which attempt is next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from payments import bootstrap
from payments.adapters.sqs_webhook_queue import task_from_body
from payments.domain.merchant_webhooks import RetrySchedule
from payments.functions.observability import invocation_keys, logger
from payments.service.ports import OpsAlerts
from payments.service.webhook_delivery import DeliveryWork, MessageTimer, Outcome, attempt_delivery
from payments.service.webhook_ports import (
    WebhookDeliveries,
    WebhookEndpoints,
    WebhookEvents,
    WebhookSecrets,
    WebhookSender,
)

THREADS: Final = 10  # the event source's batch size: every attempt of a batch at once


@dataclass(frozen=True, slots=True)
class Dependencies:
    endpoints: WebhookEndpoints
    secrets: WebhookSecrets
    events: WebhookEvents
    deliveries: WebhookDeliveries
    sender: WebhookSender
    alerts: OpsAlerts
    timer: MessageTimer
    schedule: RetrySchedule
    clock: Callable[[], datetime] = bootstrap.now

    def work(self) -> DeliveryWork:
        return DeliveryWork(
            endpoints=self.endpoints,
            secrets=self.secrets,
            events=self.events,
            deliveries=self.deliveries,
            sender=self.sender,
            alerts=self.alerts,
            schedule=self.schedule,
            clock=self.clock,
        )


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        endpoints=bootstrap.webhook_endpoints(env),
        secrets=bootstrap.webhook_secrets(env),
        events=bootstrap.webhook_events(env),
        deliveries=bootstrap.webhook_deliveries(env),
        sender=bootstrap.webhook_sender(env),
        alerts=bootstrap.ops_alerts(env),
        timer=bootstrap.webhook_queue(env),
        schedule=RetrySchedule.parse(env.settings.webhook_retry_schedule),
    )


def _one(record: dict[str, Any], function: str, deps: Dependencies) -> bool:
    """Attempt the record's delivery; whether its message is done with (else it comes back)."""
    message_id = str(record["messageId"])
    try:
        task = task_from_body(json.loads(record["body"]))
    except (ValueError, KeyError, TypeError):
        with invocation_keys(function=function, messageId=message_id):
            logger.error("a message that names no delivery: it goes to the dead-letter queue in the end")
        return False
    keys = {"webhookEndpointId": task.webhook_endpoint_id, "eventId": task.event_id}
    with invocation_keys(function=function, messageId=message_id, **keys):
        try:
            outcome = attempt_delivery(task, message_id, deps.work())
        except Exception:
            logger.exception("the delivery attempt failed: the message comes back")
            return False
        _log(outcome)
        if outcome.retry_in is None:
            return True
        try:
            deps.timer.postpone(str(record["receiptHandle"]), outcome.retry_in)
        except Exception:  # it comes back after the queue's own timeout, and waits again then
            logger.exception("the message's wait could not be set")
        return False


def _log(outcome: Outcome) -> None:
    answer = outcome.answer
    logger.info(
        "webhook delivery",
        extra={
            "outcome": outcome.reason,
            "retryInSeconds": outcome.retry_in,
            "attempt": outcome.attempt,
            "statusCode": None if answer is None else answer.status_code,
            "latencyMs": None if answer is None else answer.latency_ms,
            "error": None if answer is None else answer.error,
        },
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    records: list[dict[str, Any]] = list(event.get("Records", []))
    function = str(getattr(context, "function_name", __name__))
    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=min(THREADS, len(records)), thread_name_prefix="webhook") as pool:
        done = list(pool.map(lambda record: _one(record, function, deps), records))
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]}
            for record, finished in zip(records, done, strict=True)
            if not finished
        ]
    }
