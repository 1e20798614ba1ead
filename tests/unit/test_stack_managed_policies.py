"""The application's own managed policies (template.yaml's AWS::IAM::ManagedPolicy, named in functions'
`Policies`) against the deployment roles of pipeline/pipeline.yaml: each stage's role may create them
and attach them to that stage's roles, and nothing of the other stage's.

CloudFormation names a managed policy without a ManagedPolicyName `<stack>-<logical id>-<suffix>`,
as it names the roles SAM writes.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from payments.local.cfn_yaml import load_template
from tests.unit.inventory import MANAGED_POLICY, ROOT, as_list, resources_of

ACCOUNT = "123456789012"
VALUES = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": ACCOUNT,
    "ApplicationName": "payments",
    "DevStage": "dev",
    "ProdStage": "prod",
}
STAGES = [("dev", "DevDeployRole"), ("prod", "ProdDeployRole")]
# What CloudFormation calls to create, update (a new default version) and delete a managed policy.
LIFECYCLE = (
    "iam:CreatePolicy",
    "iam:GetPolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:ListPolicyVersions",
    "iam:DeletePolicy",
)


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return load_template(ROOT / "pipeline" / "pipeline.yaml")


def _resolve(value: Any) -> Any:
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda match: VALUES.get(match.group(1), "<?>"), value["Fn::Sub"])
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item) for key, item in value.items()}
    return value


def _role_statements(pipeline: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        _resolve(statement)
        for res in resources_of(pipeline, MANAGED_POLICY).values()
        if {"Ref": role} in res["Properties"].get("Roles", [])
        for statement in as_list(res["Properties"]["PolicyDocument"]["Statement"])
        if isinstance(statement, dict) and "Fn::If" not in statement
    ]


def _allows(statements: list[dict[str, Any]], action: str, arn: str, policy_arn: str | None = None) -> bool:
    for statement in statements:
        if statement["Effect"] != "Allow" or action not in as_list(statement["Action"]):
            continue
        if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in as_list(statement["Resource"])):
            continue
        condition = statement.get("Condition", {})
        if policy_arn is None:
            if not condition:
                return True
            continue
        allowed = [
            *as_list(condition.get("ArnLike", {}).get("iam:PolicyARN", [])),
            *as_list(condition.get("ArnEquals", {}).get("iam:PolicyARN", [])),
        ]
        if any(fnmatch.fnmatchcase(policy_arn, pattern) for pattern in allowed):
            return True
    return False


@pytest.mark.parametrize(("stage", "role"), STAGES)
def test_each_deployment_role_may_create_and_attach_its_stacks_managed_policies(
    pipeline: dict[str, Any], application_template: dict[str, Any], stage: str, role: str
) -> None:
    policies = resources_of(application_template, MANAGED_POLICY)
    assert policies
    statements = _role_statements(pipeline, role)
    other = "prod" if stage == "dev" else "dev"
    for logical_id, res in policies.items():
        assert "ManagedPolicyName" not in res["Properties"], logical_id  # named after the stack
        arn = f"arn:aws:iam::{ACCOUNT}:policy/payments-{stage}-{logical_id}-1A2B3C4D5E6F"
        missing = [action for action in LIFECYCLE if not _allows(statements, action, arn)]
        assert missing == [], logical_id
        function_role = f"arn:aws:iam::{ACCOUNT}:role/payments-{stage}-GetIntentFunctionRole-1A2B3C4D5E6F"
        assert _allows(statements, "iam:AttachRolePolicy", function_role, policy_arn=arn)
        assert _allows(statements, "iam:DetachRolePolicy", function_role, policy_arn=arn)
        # ... and never the other stage's policies, nor onto the other stage's roles.
        theirs = arn.replace(f"payments-{stage}-", f"payments-{other}-")
        assert not _allows(statements, "iam:CreatePolicyVersion", theirs)
        assert not _allows(statements, "iam:AttachRolePolicy", function_role, policy_arn=theirs)
    # Any other customer managed policy of the account stays out of reach of these roles.
    foreign = f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccessCopy"
    assert not _allows(statements, "iam:AttachRolePolicy", function_role, policy_arn=foreign)
