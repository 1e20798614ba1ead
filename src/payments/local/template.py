"""The template resolver: a parsed `template.yaml` with its parameters bound.

It answers what CloudFormation would: parameters (with the pseudo parameters), `Conditions` and
`Rules`, every intrinsic function (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, ...), SAM `Globals`, and
each resource's physical name and ARN. It creates nothing: `payments.local.stack` does, through the
creators in `payments.local.resources`, which record here what the emulator assigned (a key's id, a
stream's ARN) for later references to read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from payments.local.cfn_yaml import load_template
from payments.local.emulator import ACCOUNT_ID, REGION

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")

# Resources the SAM transform adds that a template may name: the CodeDeploy application behind every
# DeploymentPreference. Locally nothing deploys gradually, so it is only a name.
SAM_IMPLICIT_RESOURCES = frozenset({"ServerlessDeploymentApplication"})


class StackError(RuntimeError):
    """The template cannot be stood up locally (unknown resource type, bad reference, conflict)."""


class Template:
    """A parsed template with its parameters bound; resolves intrinsic functions."""

    def __init__(
        self, document: Mapping[str, Any], *, stack_name: str, parameters: Mapping[str, str]
    ) -> None:
        self.document = document
        self.stack_name = stack_name
        self.resources: dict[str, dict[str, Any]] = dict(document.get("Resources", {}))
        self.parameters = self._bind(parameters)
        self.attributes: dict[tuple[str, str], str] = {}  # filled as resources are created
        self.created: dict[str, str] = {}  # logical id -> what creation assigned (key id, queue URL)
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    @property
    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self.document.get("Conditions", {})}

    def condition(self, name: str) -> bool:
        """A named condition, evaluated on first use (conditions may refer to one another)."""
        if name not in self._condition_values:
            declared = self.document.get("Conditions", {})
            if name not in declared:
                raise StackError(f"unknown condition {name}")
            if name in self._evaluating:
                raise StackError(f"condition {name} refers back to itself")
            self._evaluating.add(name)
            try:
                self._condition_values[name] = bool(self.resolve(declared[name]))
            finally:
                self._evaluating.discard(name)
        return self._condition_values[name]

    def broken_rules(self) -> list[str]:
        """The description of every `Rules` assertion the parameters break. CloudFormation checks them
        before it creates or updates anything, and so does the local stack: it is never kinder."""
        broken = []
        for name, rule in self.document.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._rule(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._rule(assertion["Assert"]):
                    broken.append(str(assertion.get("AssertDescription", f"rule {name} is not met")))
        return broken

    def _rule(self, expression: Any) -> Any:
        """A rule's expression: parameter references and the rule functions this runtime knows; any
        other function is refused rather than taken as true."""
        if isinstance(expression, list):
            return [self._rule(item) for item in expression]
        if not (isinstance(expression, dict) and len(expression) == 1):
            return expression
        ((name, argument),) = expression.items()
        function = self._RULE_FUNCTIONS.get(name)
        if function is None:
            raise StackError(f"rule function {name} is not supported by the local stack")
        return function(self, argument)

    def _rule_equals(self, argument: Any) -> bool:
        left, right = self._rule(argument)
        return str(left) == str(right)

    def _rule_contains(self, argument: Any) -> bool:
        items, value = self._rule(argument)
        return str(value) in [str(item) for item in items]

    _RULE_FUNCTIONS: ClassVar[Mapping[str, Callable[[Template, Any], Any]]] = {
        "Ref": lambda self, name: self._ref(name),
        "Fn::Equals": _rule_equals,
        "Fn::Contains": _rule_contains,
        "Fn::Not": lambda self, argument: not self._rule(argument[0]),
        "Fn::And": lambda self, argument: all(self._rule(item) for item in argument),
        "Fn::Or": lambda self, argument: any(self._rule(item) for item in argument),
    }

    @classmethod
    def load(cls, path: Path, *, stack_name: str, parameters: Mapping[str, str]) -> Template:
        return cls(load_template(path), stack_name=stack_name, parameters=parameters)

    def _bind(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, Any] = self.document.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise StackError(f"unknown template parameters: {', '.join(sorted(unknown))}")
        bound: dict[str, Any] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        for name, spec in declared.items():
            if name in overrides:
                bound[name] = overrides[name]
            elif "Default" in spec:
                bound[name] = spec["Default"]
            else:
                raise StackError(f"template parameter {name} has no default and no value")
            if spec.get("Type") == "Number":
                bound[name] = str(bound[name])
        return bound

    # -- physical ids ---------------------------------------------------------------------------

    _NAME_PROPERTY: Mapping[str, str] = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::Serverless::Function": "FunctionName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::S3::Bucket": "BucketName",
        "AWS::Serverless::StateMachine": "Name",
        "AWS::SES::ConfigurationSet": "Name",
        "AWS::KMS::Alias": "AliasName",
        "AWS::SES::EmailIdentity": "EmailIdentity",
        "AWS::SecretsManager::Secret": "Name",
        "AWS::SQS::Queue": "QueueName",
        "AWS::CloudWatch::Alarm": "AlarmName",
        "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    }

    def name(self, logical_id: str) -> str:
        """The resource's name: its name property when the template sets one, else a generated one."""
        resource = self.resources.get(logical_id)
        if resource is None and logical_id in SAM_IMPLICIT_RESOURCES:
            return f"{self.stack_name}-{logical_id}"
        if resource is None:
            raise StackError(f"reference to unknown resource {logical_id}")
        properties = resource.get("Properties", {})
        name_property = self._NAME_PROPERTY.get(resource["Type"])
        if name_property and name_property in properties:
            return str(self.resolve(properties[name_property]))
        generated = f"{self.stack_name}-{logical_id}"
        return generated.lower() if resource["Type"] == "AWS::S3::Bucket" else generated

    def physical_id(self, logical_id: str) -> str:
        """What `Ref` returns: a name for most types, an ARN for topics, state machines and managed
        policies, what AWS assigned for a KMS key (its id), a queue (its URL) or a secret (its ARN)."""
        if logical_id in self.created:
            return self.created[logical_id]
        kind = self.resources.get(logical_id, {}).get("Type")
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{self.name(logical_id)}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{self.name(logical_id)}"
        if kind == "AWS::IAM::ManagedPolicy":
            return self._managed_policy_arn(logical_id)
        if kind in {"AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::SQS::Queue"}:
            raise StackError(f"{logical_id} is referenced before it is created")
        return self.name(logical_id)

    def attribute(self, logical_id: str, name: str) -> str:
        if (logical_id, name) in self.attributes:
            return self.attributes[(logical_id, name)]
        kind = str(self.resources.get(logical_id, {}).get("Type", ""))
        resource_name = self.name(logical_id)
        known = {
            ("AWS::DynamoDB::Table", "Arn"): f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{resource_name}",
            (
                "AWS::Serverless::Function",
                "Arn",
            ): f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{resource_name}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{resource_name}:*",
            ("AWS::SNS::Topic", "TopicArn"): f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{resource_name}",
            ("AWS::SNS::Topic", "TopicName"): resource_name,
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{resource_name}",
            ("AWS::Serverless::StateMachine", "Name"): resource_name,
            ("AWS::SQS::Queue", "Arn"): f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{resource_name}",
            ("AWS::SQS::Queue", "QueueName"): resource_name,
        }
        if (kind, name) in known:
            return known[(kind, name)]
        if (kind, name) in {
            ("AWS::Serverless::StateMachine", "Arn"),
            ("AWS::IAM::ManagedPolicy", "PolicyArn"),
        }:
            return self.physical_id(logical_id)
        raise StackError(f"attribute {logical_id}.{name} is not known before it is created")

    def _managed_policy_arn(self, logical_id: str) -> str:
        """A customer managed policy's ARN (what `Ref` returns for it): its path, then its name."""
        path = str(self.resolve(self.resources[logical_id].get("Properties", {}).get("Path", "/")))
        return f"arn:aws:iam::{ACCOUNT_ID}:policy{path}{self.name(logical_id)}"

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """A function's properties with SAM `Globals` merged in, resolved."""
        function_globals = self.document.get("Globals", {}).get("Function", {})
        merged = merge_globals(function_globals, self.resources[logical_id].get("Properties", {}))
        properties: dict[str, Any] = self.resolve(merged)
        return properties

    # -- intrinsic functions --------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            intrinsic = self._INTRINSICS.get(key)
            if intrinsic is not None:
                return intrinsic(self, argument)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        logical_id, _, suffix = name.partition(".")
        if suffix == "Alias":  # SAM's `!Ref Fn.Alias`: the ARN of the function's AutoPublishAlias
            return f"{self.attribute(logical_id, 'Arn')}:{self.alias_of(logical_id)}"
        return self.physical_id(name)

    def alias_of(self, logical_id: str) -> str:
        """The alias SAM publishes for a function (`AutoPublishAlias`, its own or from Globals)."""
        properties = self.resources.get(logical_id, {}).get("Properties", {})
        default = self.document.get("Globals", {}).get("Function", {}).get("AutoPublishAlias")
        alias = properties.get("AutoPublishAlias", default)
        if not alias:
            raise StackError(f"{logical_id}.Alias: the function publishes no alias")
        return str(alias)

    def _get_att(self, argument: Any) -> str:
        logical_id, name = argument if isinstance(argument, list) else argument.split(".", 1)
        return self.attribute(logical_id, name)

    def _join(self, argument: Any) -> str:
        separator, items = argument
        return str(separator).join(str(item) for item in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: Any) -> list[str]:
        separator, text = argument
        return str(self.resolve(text)).split(separator)

    def _if(self, argument: Any) -> Any:
        condition, when_true, when_false = argument
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return str(left) == str(right)

    _INTRINSICS: ClassVar[Mapping[str, Callable[[Template, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": lambda self, argument: self._sub(argument),
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, argument: not self.resolve(argument[0]),
        "Fn::And": lambda self, argument: all(self.resolve(item) for item in argument),
        "Fn::Or": lambda self, argument: any(self.resolve(item) for item in argument),
        "Condition": lambda self, name: self.condition(name),
    }

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        bound = {name: self.resolve(expr) for name, expr in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in bound:
                return str(bound[name])
            if name in self.parameters:
                return str(self.parameters[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.attribute(logical_id, attribute)
            return self.physical_id(name)

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def merge_globals(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """SAM Globals semantics for what we use: maps merge (the function wins), anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_globals(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
