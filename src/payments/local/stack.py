"""Stands the application up in the emulator from `template.yaml` itself: no second list of resources.

It resolves the template's intrinsic functions, merges SAM `Globals`, then creates each resource through
boto3 against the emulator. A resource type it does not know is an error, never silently skipped: what
the template declares exists locally, or `payments local up` refuses to start.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from payments.local.cfn_yaml import load_template
from payments.local.emulator import ACCOUNT_ID, REGION
from payments.local.invoker import FunctionSpec

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function"})
_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class StackError(RuntimeError):
    """The template cannot be stood up locally (unknown resource type, bad reference, conflict)."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function_name: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Deployed:
    functions: list[FunctionSpec] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id


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
    }

    def physical_id(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise StackError(f"reference to unknown resource {logical_id}")
        kind = resource["Type"]
        if kind == "AWS::Serverless::HttpApi":
            return f"{self.stack_name}-{logical_id}"
        name_property = self._NAME_PROPERTY.get(kind)
        name = resource.get("Properties", {}).get(name_property) if name_property else None
        return str(self.resolve(name)) if name is not None else f"{self.stack_name}-{logical_id}"

    def attribute(self, logical_id: str, name: str) -> str:
        if (logical_id, name) in self.attributes:
            return self.attributes[(logical_id, name)]
        kind = self.resources.get(logical_id, {}).get("Type")
        physical = self.physical_id(logical_id)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{physical}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{physical}:*",
        }
        if name == "Arn" and kind in arns:
            return arns[kind]
        raise StackError(f"attribute {logical_id}.{name} is not known before it is created")

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
        return self.parameters[name] if name in self.parameters else self.physical_id(name)

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


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """SAM Globals semantics for what we use: maps merge (the function wins), anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Locally the handler runs in-process from the source tree.\n")
    return buffer.getvalue()


_LAMBDA_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


class StackBuilder:
    """Creates each resource of a `Template` through boto3 clients (pointed at the emulator)."""

    def __init__(self, template: Template, client: Callable[[str], Any]) -> None:
        self.template = template
        self._client = client
        self.deployed = Deployed()
        globals_ = template.document.get("Globals", {})
        self._function_globals: dict[str, Any] = globals_.get("Function", {})
        self._http_api_ids: list[str] = []
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::HttpApi": self._http_api,
        }

    def build(self) -> Deployed:
        unknown = {
            f"{logical_id} ({resource['Type']})"
            for logical_id, resource in self.template.resources.items()
            if resource["Type"] not in self._creators
        }
        if unknown:
            raise StackError(f"the local runtime cannot create: {', '.join(sorted(unknown))}")
        order = list(self._creators)
        for logical_id, resource in sorted(
            self.template.resources.items(), key=lambda item: order.index(item[1]["Type"])
        ):
            if "Condition" in resource and not self.template.condition(resource["Condition"]):
                continue
            self._creators[resource["Type"]](logical_id, resource)
            self.deployed.resources[logical_id] = self.template.physical_id(logical_id)
        self._http_api_routes()
        return self.deployed

    def _properties(self, resource: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = self.template.resolve(resource.get("Properties", {}))
        return properties

    def _log_group(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        logs = self._client("logs")
        name = self.template.physical_id(logical_id)
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in properties:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))

    def _table(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        dynamodb = self._client("dynamodb")
        request: dict[str, Any] = {
            "TableName": self.template.physical_id(logical_id),
            "KeySchema": properties["KeySchema"],
            "AttributeDefinitions": properties["AttributeDefinitions"],
            "BillingMode": properties.get("BillingMode", "PROVISIONED"),
        }
        if "GlobalSecondaryIndexes" in properties:
            request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
        if "StreamSpecification" in properties:
            request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        if "SSESpecification" in properties:
            request["SSESpecification"] = {"Enabled": properties["SSESpecification"].get("SSEEnabled", False)}
        description = dynamodb.create_table(**request)["TableDescription"]
        self.template.attributes[(logical_id, "Arn")] = description["TableArn"]
        if "LatestStreamArn" in description:
            self.template.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(
                TableName=request["TableName"],
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
            )

    def _function(self, logical_id: str, resource: dict[str, Any]) -> None:
        raw = _merge(self._function_globals, resource.get("Properties", {}))
        properties = self.template.resolve(raw)
        name = self.template.physical_id(logical_id)
        iam = self._client("iam")
        role = iam.create_role(RoleName=f"{name}-role"[:64], AssumeRolePolicyDocument=_LAMBDA_TRUST)["Role"]
        for index, policy in enumerate(properties.get("Policies", [])):
            if isinstance(policy, dict) and "Statement" in policy:
                iam.put_role_policy(
                    RoleName=role["RoleName"],
                    PolicyName=f"{logical_id}Policy{index}",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", **policy}),
                )
        environment = {k: str(v) for k, v in properties.get("Environment", {}).get("Variables", {}).items()}
        lambda_client = self._client("lambda")
        lambda_client.create_function(
            FunctionName=name,
            Runtime=properties["Runtime"],
            Role=role["Arn"],
            Handler=properties["Handler"],
            Code={"ZipFile": _placeholder_zip()},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Architectures=properties.get("Architectures", ["x86_64"]),
            Environment={"Variables": environment},
        )
        if "ReservedConcurrentExecutions" in properties:
            lambda_client.put_function_concurrency(
                FunctionName=name,
                ReservedConcurrentExecutions=int(properties["ReservedConcurrentExecutions"]),
            )
        spec = FunctionSpec(
            logical_id=logical_id,
            name=name,
            handler=properties["Handler"],
            timeout_seconds=int(properties.get("Timeout", 3)),
            memory_mb=int(properties.get("MemorySize", 128)),
            environment=environment,
        )
        self.deployed.functions.append(spec)
        self._merge_environment(spec)
        for event_id, event in properties.get("Events", {}).items():
            if event["Type"] != "HttpApi":
                raise StackError(
                    f"{logical_id}.{event_id}: event type {event['Type']} is not supported locally"
                )
            self.deployed.routes.append(
                Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"], name)
            )

    def _merge_environment(self, spec: FunctionSpec) -> None:
        """Handlers share this process, so one variable must mean one thing for every function."""
        for key, value in spec.environment.items():
            current = self.deployed.environment.setdefault(key, value)
            if current != value:
                raise StackError(
                    f"environment variable {key} differs between functions ({current!r} vs {value!r})"
                )

    def _http_api(self, logical_id: str, resource: dict[str, Any]) -> None:
        self._properties(resource)  # resolves every reference, so a broken one fails here
        self._http_api_ids.append(logical_id)

    def _http_api_routes(self) -> None:
        """Register the API and its routes in the emulator too, so `aws apigatewayv2` can list them."""
        apis = self._client("apigatewayv2")
        for logical_id in self._http_api_ids:
            api = apis.create_api(Name=self.template.physical_id(logical_id), ProtocolType="HTTP")
            for route in self.deployed.routes:
                apis.create_route(ApiId=api["ApiId"], RouteKey=route.route_key)
