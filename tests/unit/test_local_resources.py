"""The local stack's table of resource creators, managed policies, and the moto version its patches need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payments.local.emulator import ACCOUNT_ID
from payments.local.moto_patches import MOTO_VERSION, UnsupportedMoto, check_moto_version
from payments.local.resources.registry import CREATION_ORDER, creates, registered
from payments.local.stack import StackBuilder
from payments.local.template import StackError, Template

ROOT = Path(__file__).resolve().parents[2]
STACK = "pay"


# -- the table of creators -----------------------------------------------------------------------


def test_every_type_in_the_creation_order_has_exactly_one_creator() -> None:
    assert registered() == frozenset(CREATION_ORDER)
    assert len(CREATION_ORDER) == len(set(CREATION_ORDER))


def test_a_second_creator_for_a_type_is_refused() -> None:
    with pytest.raises(StackError, match="two creators"):
        creates("AWS::DynamoDB::Table")(lambda _build, _id, _resource: None)


def test_a_creator_for_a_type_with_no_place_in_the_order_is_refused() -> None:
    with pytest.raises(StackError, match="CREATION_ORDER"):
        creates("AWS::MQ::Broker")(lambda _build, _id, _resource: None)


def test_the_moto_version_in_the_patches_is_the_pinned_one() -> None:
    pins = (ROOT / "requirements.lock").read_text().splitlines()

    assert f"moto=={MOTO_VERSION}" in pins


def test_another_moto_version_is_refused_naming_both() -> None:
    check_moto_version(MOTO_VERSION)

    with pytest.raises(UnsupportedMoto) as refused:
        check_moto_version("9.9.9")
    assert MOTO_VERSION in str(refused.value)
    assert "9.9.9" in str(refused.value)


def test_the_installed_moto_is_the_one_the_patches_were_written_for() -> None:
    check_moto_version()


# -- AWS::IAM::ManagedPolicy ---------------------------------------------------------------------

KEY_STATEMENT = {
    "Effect": "Allow",
    "Action": ["kms:Decrypt"],
    "Resource": {"Fn::GetAtt": ["DataKey", "Arn"]},
}


def document(**policy_properties: Any) -> dict[str, Any]:
    return {
        "Resources": {
            "DataKey": {"Type": "AWS::KMS::Key", "Properties": {}},
            "KeyPolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": [KEY_STATEMENT]},
                    **policy_properties,
                },
            },
            "Reader": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "FunctionName": "reader",
                    "Handler": "x.handler",
                    "Runtime": "python3.12",
                    "Policies": [
                        {"Ref": "KeyPolicy"},
                        {"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]},
                    ],
                },
            },
        }
    }


def test_ref_to_a_managed_policy_is_its_arn() -> None:
    template = Template(document(), stack_name=STACK, parameters={})

    assert template.resolve({"Ref": "KeyPolicy"}) == f"arn:aws:iam::{ACCOUNT_ID}:policy/pay-KeyPolicy"
    assert template.resolve({"Fn::GetAtt": ["KeyPolicy", "PolicyArn"]}) == (
        f"arn:aws:iam::{ACCOUNT_ID}:policy/pay-KeyPolicy"
    )


def test_a_managed_policy_arn_has_its_name_and_path() -> None:
    named = Template(
        document(ManagedPolicyName="tables-key", Path="/payments/"), stack_name=STACK, parameters={}
    )

    assert named.resolve({"Ref": "KeyPolicy"}) == f"arn:aws:iam::{ACCOUNT_ID}:policy/payments/tables-key"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            return clients.setdefault(service, boto3.client(service, region_name="us-east-1"))

        yield client


def test_a_managed_policy_is_created_and_attached_to_the_roles_that_name_it(aws: Any) -> None:
    builder = StackBuilder(Template(document(), stack_name=STACK, parameters={}), aws, template_dir=ROOT)

    deployed = builder.build()

    policy_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/pay-KeyPolicy"
    assert deployed.resources["KeyPolicy"] == policy_arn
    version = aws("iam").get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    stored = aws("iam").get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]
    key_arn = aws("kms").describe_key(KeyId=deployed.resources["DataKey"])["KeyMetadata"]["Arn"]
    assert stored["Document"]["Statement"][0]["Resource"] == key_arn
    attached = aws("iam").list_attached_role_policies(RoleName="reader-role")["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == [policy_arn]
    assert aws("iam").list_role_policies(RoleName="reader-role")["PolicyNames"] == ["ReaderPolicy1"]


def test_a_managed_policy_attached_by_its_own_roles_list_is_refused(aws: Any) -> None:
    doc = document(Roles=["someone-role"])
    builder = StackBuilder(Template(doc, stack_name=STACK, parameters={}), aws, template_dir=ROOT)

    with pytest.raises(StackError, match="KeyPolicy: Roles"):
        builder.build()


# -- what each function is given -----------------------------------------------------------------


def test_each_function_keeps_its_own_environment_and_two_may_differ(aws: Any) -> None:
    doc: dict[str, Any] = {
        "Globals": {"Function": {"Runtime": "python3.12", "Environment": {"Variables": {"SHARED": "s"}}}},
        "Resources": {
            name: {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "FunctionName": name,
                    "Handler": "x.handler",
                    "Environment": {"Variables": {"TABLE": f"{name}-table"}},
                },
            }
            for name in ("one", "two")
        },
    }
    builder = StackBuilder(Template(doc, stack_name=STACK, parameters={}), aws, template_dir=ROOT)

    deployed = builder.build()

    assert {spec.name: dict(spec.environment) for spec in deployed.functions} == {
        "one": {"SHARED": "s", "TABLE": "one-table"},
        "two": {"SHARED": "s", "TABLE": "two-table"},
    }
    assert not hasattr(deployed, "environment")
