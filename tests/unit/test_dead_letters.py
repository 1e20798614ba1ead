"""Every dead-letter queue found from what AWS says (redrive policies, functions' dead-letter configs),
and each redriven where it belongs: a job to its queue, an event to the function it was for.

The clients below answer as SQS, Lambda, SNS, S3 and EventBridge answer those few calls, in memory.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from payments.dead_letters import dead_letter_queue, dead_letter_queues, function_for, redrive

ACCOUNT = "arn:aws:sqs:us-east-1:123456789012"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function"
LEDGER = f"{FUNCTION}:payments-ledger-prod"
FRAUD_FEEDBACK = f"{FUNCTION}:payments-fraud-feedback-prod"
REFUND_RECEIPTS = f"{FUNCTION}:payments-refund-receipts-prod"
SPLITTER = f"{FUNCTION}:payments-refund-batch-splitter-prod"
ENRICHER = f"{FUNCTION}:payments-settlement-enricher-prod"
REQUEST_SETTLEMENT = f"{FUNCTION}:payments-request-settlement-prod"


class Pages:
    def __init__(self, *pages: dict[str, Any]) -> None:
        self._pages = pages

    def paginate(self, **_: Any) -> Any:
        return iter(self._pages)


class FakeSqs:
    def __init__(self) -> None:
        self.queues: dict[str, dict[str, str]] = {}  # name -> attributes
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def add(self, name: str, *, dead_letters_to: str | None = None) -> str:
        attributes = {"QueueArn": f"{ACCOUNT}:{name}"}
        if dead_letters_to:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": f"{ACCOUNT}:{dead_letters_to}", "maxReceiveCount": 3}
            )
        self.queues[name] = attributes
        self.messages[name] = []
        return self.url(name)

    @staticmethod
    def url(name: str) -> str:
        return f"https://sqs.us-east-1.amazonaws.com/123456789012/{name}"

    def put(self, name: str, body: Any, **attributes: str) -> None:
        self.messages[name].append(
            {
                "MessageId": f"m{next(self._ids)}",
                "ReceiptHandle": f"r{next(self._ids)}",
                "Body": body if isinstance(body, str) else json.dumps(body),
                "Attributes": attributes,
            }
        )

    def get_paginator(self, operation: str) -> Pages:
        assert operation == "list_queues"
        return Pages({"QueueUrls": [self.url(name) for name in self.queues]})

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        name = QueueUrl.rsplit("/", 1)[-1]
        attributes = {**self.queues[name], "ApproximateNumberOfMessages": str(len(self.messages[name]))}
        return {"Attributes": attributes}

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        """Messages in hand stay hidden until deleted (the redrive's visibility timeout outlives it)."""
        name = QueueUrl.rsplit("/", 1)[-1]
        hidden = [m for m in self.messages[name] if not m.get("in_hand")][:MaxNumberOfMessages]
        for message in hidden:
            message["in_hand"] = True
        return {"Messages": [{k: v for k, v in m.items() if k != "in_hand"} for m in hidden]}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:  # noqa: N803 (boto3's names)
        name = QueueUrl.rsplit("/", 1)[-1]
        self.messages[name] = [m for m in self.messages[name] if m["ReceiptHandle"] != ReceiptHandle]

    def send_message(self, **request: Any) -> None:
        self.sent.append(request)


class FakeLambda:
    def __init__(self, dead_letters: dict[str, str]) -> None:
        self.dead_letters = dead_letters  # function ARN -> the name of its dead-letter queue
        self.invoked: list[tuple[str, str, Any]] = []

    def get_paginator(self, operation: str) -> Pages:
        assert operation == "list_functions"
        functions = [
            {"FunctionArn": arn, "DeadLetterConfig": {"TargetArn": f"{ACCOUNT}:{queue}"}}
            for arn, queue in self.dead_letters.items()
        ]
        return Pages({"Functions": functions[:2]}, {"Functions": [*functions[2:], {"FunctionArn": "x"}]})

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> None:  # noqa: N803 (boto3's names)
        self.invoked.append((FunctionName, InvocationType, json.loads(Payload)))


class FakeSns:
    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints = endpoints

    def get_subscription_attributes(self, SubscriptionArn: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        if SubscriptionArn not in self.endpoints:
            raise ClientError({"Error": {"Code": "NotFound"}}, "GetSubscriptionAttributes")
        return {"Attributes": {"Endpoint": self.endpoints[SubscriptionArn], "Protocol": "lambda"}}


class FakeS3:
    def get_bucket_notification_configuration(self, Bucket: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        rules = {"settlements": ("raw/", ENRICHER), "refund-files": ("batches/", SPLITTER)}
        prefix, function = rules[Bucket]
        return {
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": f"{function}:live",  # SAM points notifications at the alias
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "Prefix", "Value": prefix},
                                {"Name": "Suffix", "Value": ".parquet" if prefix == "raw/" else ".csv"},
                            ]
                        }
                    },
                }
            ]
        }


class FakeEvents:
    def list_targets_by_rule(self, Rule: str, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return {"Targets": [{"Id": "1", "Arn": f"{REQUEST_SETTLEMENT}:live"}] if Rule == "hourly" else []}


@pytest.fixture
def aws() -> dict[str, Any]:
    """A stack as AWS would describe it: a FIFO job queue with its DLQ; the ledger with its own DLQ;
    two subscribers sharing one; three file and schedule functions sharing another."""
    sqs = FakeSqs()
    sqs.add("refund-jobs-dlq-prod.fifo")
    sqs.add("refund-jobs-prod.fifo", dead_letters_to="refund-jobs-dlq-prod.fifo")
    for name in ("payments-ledger-dlq-prod", "subscribers-dlq-prod", "file-events-dlq-prod", "analytics"):
        sqs.add(name)
    functions = FakeLambda(
        {
            LEDGER: "payments-ledger-dlq-prod",
            FRAUD_FEEDBACK: "subscribers-dlq-prod",
            REFUND_RECEIPTS: "subscribers-dlq-prod",
            SPLITTER: "file-events-dlq-prod",
            ENRICHER: "file-events-dlq-prod",
            REQUEST_SETTLEMENT: "file-events-dlq-prod",
        }
    )
    sns = FakeSns({"arn:aws:sns:us-east-1:123456789012:payment-events:sub-1": f"{FRAUD_FEEDBACK}:live"})
    return {"sqs": sqs, "lambda": functions, "sns": sns, "s3": FakeS3(), "events": FakeEvents()}


def sns_event(subscription: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventSubscriptionArn": subscription,
                "Sns": {"Message": '{"eventType": "AUTHORIZED"}'},
            }
        ]
    }


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


SCHEDULED = {
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/hourly"],
}


def test_every_dead_letter_queue_is_found_with_what_its_redrive_returns_to(aws: dict[str, Any]) -> None:
    queues = {queue.name: queue.returns_to for queue in dead_letter_queues(aws.__getitem__)}

    assert queues == {
        "refund-jobs-dlq-prod.fifo": ["refund-jobs-prod.fifo"],
        "payments-ledger-dlq-prod": ["payments-ledger-prod"],
        "subscribers-dlq-prod": ["payments-fraud-feedback-prod", "payments-refund-receipts-prod"],
        "file-events-dlq-prod": [
            "payments-refund-batch-splitter-prod",
            "payments-request-settlement-prod",
            "payments-settlement-enricher-prod",
        ],
    }  # ... and not the analytics queue, nor the job queue itself


def test_a_queue_no_redrive_policy_or_function_names_is_refused(aws: dict[str, Any]) -> None:
    with pytest.raises(LookupError, match="analytics"):
        dead_letter_queue(aws.__getitem__, "analytics")
    with pytest.raises(LookupError):
        redrive(aws.__getitem__, "no-such-queue")


def test_jobs_go_back_to_their_queue_in_their_message_group(aws: dict[str, Any]) -> None:
    sqs = aws["sqs"]
    sqs.put("refund-jobs-dlq-prod.fifo", {"row": 7}, MessageGroupId="mer_1")

    done = redrive(aws.__getitem__, "refund-jobs-dlq-prod.fifo")

    assert (done.moved, done.to, done.left) == (1, ("refund-jobs-prod.fifo",), 0)
    [sent] = sqs.sent
    assert sent["QueueUrl"].endswith("/refund-jobs-prod.fifo")
    assert (json.loads(sent["MessageBody"]), sent["MessageGroupId"]) == ({"row": 7}, "mer_1")
    assert sqs.messages["refund-jobs-dlq-prod.fifo"] == []


def test_a_functions_own_dead_letter_queue_sends_each_event_back_to_it_asynchronously(
    aws: dict[str, Any],
) -> None:
    event = sns_event("arn:aws:sns:us-east-1:123456789012:payment-events:gone")
    aws["sqs"].put("payments-ledger-dlq-prod", event)

    done = redrive(aws.__getitem__, "payments-ledger-dlq-prod")

    assert (done.moved, done.to) == (1, ("payments-ledger-prod",))
    assert aws["lambda"].invoked == [(LEDGER, "Event", event)]
    assert aws["sqs"].messages["payments-ledger-dlq-prod"] == []


def test_in_a_shared_queue_each_event_goes_to_the_function_its_source_names(aws: dict[str, Any]) -> None:
    sqs = aws["sqs"]
    sqs.put("file-events-dlq-prod", s3_event("settlements", "raw/2026/11/24/13/batch%201.parquet"))
    sqs.put("file-events-dlq-prod", s3_event("refund-files", "batches/b_1.csv"))
    sqs.put("file-events-dlq-prod", SCHEDULED)

    done = redrive(aws.__getitem__, "file-events-dlq-prod")

    assert (done.moved, done.left) == (3, 0)
    assert [name for name, _, _ in aws["lambda"].invoked] == [ENRICHER, SPLITTER, REQUEST_SETTLEMENT]


def test_an_sns_event_goes_to_its_subscriptions_endpoint(aws: dict[str, Any]) -> None:
    functions = (FRAUD_FEEDBACK, REFUND_RECEIPTS)
    subscription = "arn:aws:sns:us-east-1:123456789012:payment-events:sub-1"

    assert function_for(sns_event(subscription), functions, aws.__getitem__) == FRAUD_FEEDBACK


@pytest.mark.parametrize(
    "event",
    [
        sns_event("arn:aws:sns:us-east-1:123456789012:payment-events:gone"),  # unsubscribed since
        s3_event("settlements", "enriched/x.parquet"),  # no function of the queue is notified for it
        {"Records": [{"EventSource": "aws:sns"}]},  # no subscription named
        "not json",
        {"anything": "else"},
    ],
)
def test_an_event_naming_none_of_a_shared_queues_functions_stays_there(
    aws: dict[str, Any], event: Any
) -> None:
    sqs = aws["sqs"]
    sqs.put("subscribers-dlq-prod", event)
    sqs.put("subscribers-dlq-prod", sns_event("arn:aws:sns:us-east-1:123456789012:payment-events:sub-1"))

    done = redrive(aws.__getitem__, "subscribers-dlq-prod")

    assert (done.moved, done.left, done.to) == (1, 1, ("payments-fraud-feedback-prod",))
    assert len(sqs.messages["subscribers-dlq-prod"]) == 1


def test_only_what_waits_when_the_redrive_starts_is_sent(aws: dict[str, Any]) -> None:
    # Given an event that fails again at once and comes back as a new message while the redrive runs
    sqs = aws["sqs"]
    sqs.put("payments-ledger-dlq-prod", {"n": 1})
    functions = aws["lambda"]
    first_invoke = functions.invoke

    def fails_again(**request: Any) -> None:
        first_invoke(**request)
        sqs.put("payments-ledger-dlq-prod", {"n": 2})

    functions.invoke = fails_again

    # When it is redriven, Then it is sent once, and the new copy waits for the next redrive
    assert redrive(aws.__getitem__, "payments-ledger-dlq-prod").moved == 1
    assert [json.loads(m["Body"]) for m in sqs.messages["payments-ledger-dlq-prod"]] == [{"n": 2}]
