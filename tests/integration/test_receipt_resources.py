"""Receipts' AWS side on the emulator: the templates the custom resource published, the suppression
list's contract, custom resources that fail, and the configuration set's event destination."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.request import Request, urlopen

import boto3
import pytest

from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList
from payments.adapters.ses_templates import load_email_templates, publish_email_templates
from payments.domain.receipts import Feedback, FeedbackKind
from payments.local.custom_resources import create_custom_resource
from payments.local.deployed import CustomResource
from payments.local.invoker import Invocation
from payments.local.runtime import LocalStack
from payments.local.template import StackError


def _client(stack: LocalStack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.emulator.endpoint)


def test_the_custom_resource_published_every_template_file(local_stack: LocalStack) -> None:
    ses = _client(local_stack, "ses")
    published = {t["Name"] for t in ses.list_templates()["TemplatesMetadata"]}
    shipped = {f"{t.name}-local-{t.locale}" for t in load_email_templates()}
    assert published >= shipped
    [es] = [t for t in load_email_templates() if (t.name, t.locale) == ("receipt-v3", "es-MX")]
    stored = ses.get_template(TemplateName="receipt-v3-local-es-MX")["Template"]
    assert (stored["SubjectPart"], stored["TextPart"]) == (es.subject.strip(), es.text)


def test_publishing_again_updates_in_place(local_stack: LocalStack) -> None:
    ses = _client(local_stack, "ses")
    before = len(ses.list_templates()["TemplatesMetadata"])
    names = publish_email_templates(ses, stage="local")
    assert len(names) == len(load_email_templates())
    assert len(ses.list_templates()["TemplatesMetadata"]) == before


def test_the_configuration_set_sends_bounces_and_complaints_to_the_feedback_topic(
    local_stack: LocalStack,
) -> None:
    described = _client(local_stack, "ses").describe_configuration_set(
        ConfigurationSetName="payments-receipts-local", ConfigurationSetAttributeNames=["eventDestinations"]
    )
    [destination] = described["EventDestinations"]
    assert sorted(destination["MatchingEventTypes"]) == ["bounce", "complaint"]
    assert destination["SNSDestination"]["TopicARN"].endswith(":receipt-feedback-local")


class Answers:
    """A custom-resource function that answers (or not) through the pre-signed URL, as told."""

    def __init__(self, s3: Any, status: str | None) -> None:
        self._s3 = s3
        self._status = status

    def __call__(self, name: str, event: dict[str, Any]) -> Invocation:
        if self._status is not None:
            body = json.dumps({"Status": self._status, "Reason": "template is broken"}).encode()
            answer = Request(event["ResponseURL"], data=body, headers={"content-type": ""}, method="PUT")  # noqa: S310
            with urlopen(answer, timeout=5):  # noqa: S310 (the pre-signed URL the test made)
                pass
        return Invocation({"errorMessage": "crashed"}, error=self._status is None)


@pytest.mark.parametrize(
    ("status", "message"), [("FAILED", "template is broken"), (None, "answered nothing")]
)
def test_a_custom_resource_that_fails_or_never_answers_stops_the_stack(
    local_stack: LocalStack, status: str | None, message: str
) -> None:
    s3 = _client(local_stack, "s3")
    resource = CustomResource(
        "Broken", "Custom::Broken", "arn:aws:lambda:us-east-1:123456789012:function:x", {}
    )
    with pytest.raises(StackError, match=message):
        create_custom_resource(resource, invoke=Answers(s3, status), s3=s3)


def test_a_custom_resource_that_succeeds_returns_its_answer(local_stack: LocalStack) -> None:
    s3 = _client(local_stack, "s3")
    resource = CustomResource("Fine", "Custom::Fine", "arn:aws:lambda:us-east-1:123456789012:function:x", {})
    assert create_custom_resource(resource, invoke=Answers(s3, "SUCCESS"), s3=s3)["Status"] == "SUCCESS"


# -- the suppression list ---------------------------------------------------------------------------


@pytest.fixture
def suppressions(local_stack: LocalStack) -> DynamoDBSuppressionList:
    return DynamoDBSuppressionList(_client(local_stack, "dynamodb"), table="receipt-suppressions-local")


def _feedback(kind: FeedbackKind, message_id: str, *, permanent: bool = True) -> Feedback:
    return Feedback(kind, message_id, ("x",), permanent=permanent, payment_intent_id=None, detail="d")


def test_each_message_is_counted_once_per_kind(suppressions: DynamoDBSuppressionList) -> None:
    address = f"{uuid.uuid4().hex}@example.com"
    assert suppressions.get(address) is None
    first = suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m1"), at="t1")
    assert first is not None
    assert (first.bounces, first.complaints, first.suppressed) == (1, 0, True)
    assert suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m1"), at="t2") is None
    complaint = suppressions.record(address, _feedback(FeedbackKind.COMPLAINT, "m1"), at="t3")
    assert complaint is not None
    assert (complaint.bounces, complaint.complaints, complaint.updated_at) == (1, 1, "t3")
    second = suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m2"), at="t4")
    assert second is not None
    assert second.bounces == 2


def test_a_transient_bounce_neither_suppresses_nor_lifts(suppressions: DynamoDBSuppressionList) -> None:
    address = f"{uuid.uuid4().hex}@example.com"
    soft = suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m1", permanent=False), at="t")
    assert soft is not None
    assert (soft.suppressed, suppressions.is_suppressed(address)) == (False, False)
    suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m2"), at="t")
    suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m3", permanent=False), at="t")
    assert suppressions.is_suppressed(address)


def test_lifting_keeps_the_counts(suppressions: DynamoDBSuppressionList) -> None:
    address = f"{uuid.uuid4().hex}@example.com"
    assert suppressions.lift(address) is False
    suppressions.record(address, _feedback(FeedbackKind.BOUNCE, "m1"), at="t")
    assert suppressions.lift(address) is True
    assert suppressions.lift(address) is False
    entry = suppressions.get(address)
    assert entry is not None
    assert (entry.suppressed, entry.bounces) == (False, 1)
