"""The patches of moto's per-request bookkeeping change what it remembers, never what it answers."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.core import utils
from moto.sns import sns_backends
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials

from payments.local import moto_patches
from payments.local.emulator import ACCOUNT_ID, REGION


@pytest.fixture(autouse=True)
def patched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    moto_patches.apply()
    with mock_aws():
        yield


def test_a_topic_keeps_only_its_latest_messages_and_still_delivers_every_one() -> None:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="events")["TopicArn"]
    queue = sqs.create_queue(QueueName="analytics")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    for number in range(150):
        sns.publish(TopicArn=topic, Message=str(number))
    kept = sns_backends[ACCOUNT_ID][REGION].topics[topic].sent_notifications
    assert [entry[1] for entry in kept] == [str(number) for number in range(50, 150)]
    depth = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "150"


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("SendMessageBatch", "send_message_batch"),
        ("ContentBasedDeduplication", "content_based_deduplication"),
    ],
)
def test_names_in_snake_case_are_remembered_and_the_same(name: str, snake: str) -> None:
    assert utils.camelcase_to_underscores(name) == snake
    assert utils.camelcase_to_underscores(name) == snake
    assert utils.camelcase_to_underscores.cache_info().hits >= 1  # type: ignore[attr-defined]


def test_the_workflow_engine_reuses_one_client_per_role_and_service() -> None:
    make = lambda_eval_utils.boto_client_for
    role = StateCredentials(role_arn="arn:aws:iam::123456789012:role/checkout")
    other = StateCredentials(role_arn="arn:aws:iam::123456789012:role/other")
    assert make(REGION, "lambda", role) is make(REGION, "lambda", role)
    assert make(REGION, "lambda", role) is not make(REGION, "lambda", other)
    assert make(REGION, "lambda", role) is not make(REGION, "sqs", role)
