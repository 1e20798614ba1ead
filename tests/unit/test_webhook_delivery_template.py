"""What template.yaml promises the webhook delivery design (docs/decisions/0005-webhook-retries-on-sqs.md):
every payment event reaches the dispatcher's queue as sent, a retry's wait fits what SQS allows, only a
message that keeps crashing its worker reaches the dead-letter queue, and a worker's batch of hanging
receivers ends within its timeout."""

from __future__ import annotations

from typing import Any

from payments.domain.merchant_webhooks import DEFAULT_RETRY_SCHEDULE, MAX_RETRY_DELAY_SECONDS, RetrySchedule
from payments.functions.webhook_delivery_worker import THREADS


def _properties(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def test_every_payment_event_reaches_the_dispatchers_queue_as_published(
    application_template: dict[str, Any],
) -> None:
    subscription = _properties(application_template, "WebhookEventsSubscription")
    assert subscription["TopicArn"] == {"Ref": "PaymentEventsTopic"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["WebhookEventsQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is True  # the body is the event itself
    assert "FilterPolicy" not in subscription
    (statement,) = _properties(application_template, "WebhookEventsQueuePolicy")["PolicyDocument"][
        "Statement"
    ]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "PaymentEventsTopic"}}}


def test_both_queues_feed_their_functions_in_batches_reporting_each_message(
    application_template: dict[str, Any],
) -> None:
    for function, queue in (
        ("WebhookDispatcherFunction", "WebhookEventsQueue"),
        ("WebhookDeliveryWorkerFunction", "WebhookDeliveriesQueue"),
    ):
        (event,) = _properties(application_template, function)["Events"].values()
        assert event["Type"] == "SQS"
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert event["Properties"]["BatchSize"] == THREADS == 10
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        timeout = _properties(application_template, function)["Timeout"]
        # A parameter (the fault campaign shortens it), six times the function's timeout by default
        visibility = _properties(application_template, queue)["VisibilityTimeout"]
        assert visibility == {"Ref": "WebhookQueuesVisibilityTimeout"}, queue
        assert application_template["Parameters"]["WebhookQueuesVisibilityTimeout"]["Default"] >= 6 * timeout


def test_only_a_message_that_keeps_crashing_its_worker_is_dead_lettered(
    application_template: dict[str, Any],
) -> None:
    queue = _properties(application_template, "WebhookDeliveriesQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["WebhookDeliveriesDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 20,
    }
    assert queue["RedrivePolicy"]["maxReceiveCount"] > RetrySchedule.parse(DEFAULT_RETRY_SCHEDULE).attempts
    # A message lives through the whole schedule, each wait at its longest
    assert queue["MessageRetentionPeriod"] > RetrySchedule.parse(DEFAULT_RETRY_SCHEDULE).attempts * (
        MAX_RETRY_DELAY_SECONDS
    )


def test_the_worker_outlasts_the_longest_receiver_timeout_and_is_told_the_schedule(
    application_template: dict[str, Any],
) -> None:
    worker = _properties(application_template, "WebhookDeliveryWorkerFunction")
    parameter = application_template["Parameters"]["WebhookTimeoutSeconds"]
    assert parameter["Default"] == 15
    assert worker["Timeout"] >= parameter["MaxValue"] + 10
    variables = worker["Environment"]["Variables"]
    assert variables["WEBHOOK_RETRY_SCHEDULE"] == {"Ref": "WebhookRetrySchedule"}
    assert variables["WEBHOOK_TIMEOUT_SECONDS"] == {"Ref": "WebhookTimeoutSeconds"}
    assert variables["WEBHOOK_ALLOW_LOOPBACK"] == {"Ref": "WebhookAllowLoopback"}
    assert application_template["Parameters"]["WebhookRetrySchedule"]["Default"] == DEFAULT_RETRY_SCHEDULE
