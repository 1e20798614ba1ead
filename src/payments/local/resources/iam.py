"""IAM: customer managed policies, and the role each function and state machine gets.

The emulator records IAM but enforces none of it locally; the roles and policies exist so that what
reads them (`aws iam`, the console) sees what AWS would hold.
"""

from __future__ import annotations

import json
from typing import Any

from payments.local.emulator import ACCOUNT_ID
from payments.local.resources.registry import Build, creates
from payments.local.template import StackError

_OWN_POLICIES = f"arn:aws:iam::{ACCOUNT_ID}:policy/"
_VERSION = "2012-10-17"


@creates("AWS::IAM::ManagedPolicy")
def managed_policy(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    """Created in the emulator's IAM; functions attach it by naming it (its ARN) in `Policies`."""
    properties = build.properties(resource)
    attached = sorted(name for name in ("Roles", "Users", "Groups") if properties.get(name))
    if attached:
        raise StackError(
            f"{logical_id}: {', '.join(attached)} are not supported locally; "
            "name the policy in each function's Policies instead"
        )
    request: dict[str, Any] = {
        "PolicyName": build.template.name(logical_id),
        "PolicyDocument": json.dumps(properties["PolicyDocument"]),
        "Path": str(properties.get("Path", "/")),
    }
    if "Description" in properties:
        request["Description"] = str(properties["Description"])
    arn = build.client("iam").create_policy(**request)["Policy"]["Arn"]
    build.template.created[logical_id] = arn
    build.template.attributes[(logical_id, "PolicyArn")] = arn


def role(build: Build, name: str, logical_id: str, policies: list[Any], *, service: str) -> str:
    """One role per function or state machine, with the template's inline statements and the stack's
    own managed policies it names (an AWS managed policy or a SAM policy template is not recorded)."""
    iam = build.client("iam")
    trust = {
        "Version": _VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }
    created = iam.create_role(RoleName=f"{name}-role"[:64], AssumeRolePolicyDocument=json.dumps(trust))
    role_name = created["Role"]["RoleName"]
    for index, policy in enumerate(policies):
        if isinstance(policy, dict) and "Statement" in policy:
            iam.put_role_policy(
                RoleName=role_name,
                PolicyName=f"{logical_id}Policy{index}",
                PolicyDocument=json.dumps({"Version": _VERSION, **policy}),
            )
        elif isinstance(policy, str) and policy.startswith(_OWN_POLICIES):
            iam.attach_role_policy(RoleName=role_name, PolicyArn=policy)
    arn: str = created["Role"]["Arn"]
    return arn
