"""The table of resource creators: one per resource type, registered with `@creates(type)`.

A creator takes `(build, logical_id, resource)` and creates the resource through boto3 against the
emulator, recording what later resources need (an ARN the emulator assigned, a route, an event source).
Types are created in `CREATION_ORDER`, so that what a later type refers to exists first; a type the
table does not hold is an error for the whole stack, never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from payments.local.deployed import Deployed
from payments.local.template import StackError, Template

CUSTOM_RESOURCE: Final = "AWS::CloudFormation::CustomResource"

# In creation order: what a later type refers to is created first.
CREATION_ORDER: Final = (
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::SecretsManager::Secret",
    "AWS::Logs::LogGroup",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::Logs::MetricFilter",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SNS::Subscription",
    "AWS::SES::EmailIdentity",
    "AWS::SES::ConfigurationSet",
    "AWS::SNS::TopicPolicy",
    "AWS::SES::ConfigurationSetEventDestination",
    "AWS::IAM::ManagedPolicy",  # its statements name the resources above; the roles below attach it
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
    "AWS::Serverless::HttpApi",
    CUSTOM_RESOURCE,
)


@dataclass
class Build:
    """What a creator works with: the bound template, a boto3 client per service (pointed at the
    emulator), the template's directory (for files it names), and what has been deployed so far."""

    template: Template
    client: Callable[[str], Any]
    template_dir: Path
    deployed: Deployed = field(default_factory=Deployed)
    http_apis: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> its Auth

    def properties(self, resource: Mapping[str, Any]) -> dict[str, Any]:
        """The resource's properties, every reference resolved (a broken one fails here)."""
        properties: dict[str, Any] = self.template.resolve(resource.get("Properties", {}))
        return properties


Creator = Callable[[Build, str, dict[str, Any]], None]
_CREATORS: dict[str, Creator] = {}


def creates(*resource_types: str) -> Callable[[Creator], Creator]:
    """Register the decorated function as the creator of these resource types."""

    def register(creator: Creator) -> Creator:
        for resource_type in resource_types:
            if resource_type not in CREATION_ORDER:
                raise StackError(f"{resource_type} has a creator but no place in CREATION_ORDER")
            if resource_type in _CREATORS:
                raise StackError(f"{resource_type} has two creators")
            _CREATORS[resource_type] = creator
        return creator

    return register


def kind_of(resource: Mapping[str, Any]) -> str:
    """The table's key for a resource: its type, with every `Custom::*` type one kind."""
    kind = str(resource["Type"])
    return CUSTOM_RESOURCE if kind.startswith("Custom::") else kind


def creator_for(resource: Mapping[str, Any]) -> Creator | None:
    return _CREATORS.get(kind_of(resource))


def creation_rank(resource: Mapping[str, Any]) -> int:
    return CREATION_ORDER.index(kind_of(resource))


def registered() -> frozenset[str]:
    return frozenset(_CREATORS)
