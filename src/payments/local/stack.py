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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from payments.local.cfn_yaml import load_template
from payments.local.emulator import ACCOUNT_ID, REGION
from payments.local.event_sources import QueueSource, StreamSource
from payments.local.invoker import FunctionSpec

FUNCTION_TYPES = frozenset({"AWS::Serverless::Function"})
_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


CUSTOM_RESOURCE = "AWS::CloudFormation::CustomResource"
# Resources the SAM transform adds that a template may name: the CodeDeploy application behind every
# DeploymentPreference. Locally nothing deploys gradually, so it is only a name.
SAM_IMPLICIT_RESOURCES = frozenset({"ServerlessDeploymentApplication"})


class StackError(RuntimeError):
    """The template cannot be stood up locally (unknown resource type, bad reference, conflict)."""


@dataclass(frozen=True, slots=True)
class Authorizer:
    """An HTTP API Lambda authorizer (payload 2.0, simple responses), as the front door applies it."""

    function_name: str
    identity_headers: tuple[str, ...]  # lower case; a request missing one is refused with 401
    cache_seconds: int  # answers are kept per identity value this long (ReauthorizeEvery)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    function_name: str
    auth: str | None = None  # the event's Auth.Authorizer ("NONE": open); None: the API's default
    authorizer: Authorizer | None = None  # resolved once the API is built

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Deployed:
    functions: list[FunctionSpec] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)  # logical id -> physical id
    stream_sources: list[StreamSource] = field(default_factory=list)
    queue_sources: list[QueueSource] = field(default_factory=list)
    custom_resources: list[CustomResource] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)  # function name -> schedule expression


@dataclass(frozen=True)
class CustomResource:
    """A `Custom::*` resource: its function is asked to create it once the functions exist."""

    logical_id: str
    resource_type: str
    service_token: str  # the function's ARN
    properties: dict[str, Any]


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
        self.created: dict[str, str] = {}  # logical id -> id assigned at creation (KMS keys)
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
        """What `Ref` returns: a name for most types, an ARN for topics and state machines, the id
        AWS assigned for a KMS key."""
        if logical_id in self.created:
            return self.created[logical_id]
        kind = self.resources.get(logical_id, {}).get("Type")
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{self.name(logical_id)}"
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{self.name(logical_id)}"
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
        if (kind, name) == ("AWS::Serverless::StateMachine", "Arn"):
            return self.physical_id(logical_id)
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


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """SAM Globals semantics for what we use: maps merge (the function wins), anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of the S3 API."""
    converted: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Transitions" in rule:
        converted["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    return converted


def _stream_source(function_name: str, settings: Mapping[str, Any]) -> StreamSource:
    """A SAM `DynamoDB` event, as the local poller runs it."""
    return StreamSource(
        function_name=function_name,
        stream_arn=settings["Stream"],
        batch_size=int(settings.get("BatchSize", 100)),
        starting_position=settings.get("StartingPosition", "TRIM_HORIZON"),
        report_batch_item_failures="ReportBatchItemFailures" in settings.get("FunctionResponseTypes", []),
        maximum_retry_attempts=int(settings.get("MaximumRetryAttempts", 3)),
    )


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

    def __init__(self, template: Template, client: Callable[[str], Any], *, template_dir: Path) -> None:
        self.template = template
        self.template_dir = template_dir
        self._client = client
        self.deployed = Deployed()
        globals_ = template.document.get("Globals", {})
        self._function_globals: dict[str, Any] = globals_.get("Function", {})
        self._http_api_ids: list[str] = []
        self._http_api_auth: dict[str, Any] = {}
        # In creation order: what a later type refers to is created first.
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::KMS::Key": self._kms_key,
            "AWS::KMS::Alias": self._kms_alias,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::DynamoDB::Table": self._table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::SNS::Topic": self._topic,
            "AWS::SQS::Queue": self._queue,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::Logs::MetricFilter": self._metric_filter,
            "AWS::CloudWatch::Alarm": self._alarm,
            "AWS::CloudWatch::Dashboard": self._dashboard,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::SES::EmailIdentity": self._ses_identity,
            "AWS::SES::ConfigurationSet": self._ses_configuration_set,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::SES::ConfigurationSetEventDestination": self._ses_event_destination,
            "AWS::Serverless::LayerVersion": self._layer,
            "AWS::Serverless::Function": self._function,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::Serverless::HttpApi": self._http_api,
            CUSTOM_RESOURCE: self._custom_resource,
        }

    @staticmethod
    def _kind(resource: dict[str, Any]) -> str:
        kind = str(resource["Type"])
        return CUSTOM_RESOURCE if kind.startswith("Custom::") else kind

    def build(
        self, on_created: Callable[[int, int, str], None] = lambda _done, _total, _id: None
    ) -> Deployed:
        """Create every resource, in dependency order; `on_created(done, total, logical_id)` after each."""
        unknown = {
            f"{logical_id} ({resource['Type']})"
            for logical_id, resource in self.template.resources.items()
            if self._kind(resource) not in self._creators
        }
        if unknown:
            raise StackError(f"the local runtime cannot create: {', '.join(sorted(unknown))}")
        broken = self.template.broken_rules()
        if broken:  # as CloudFormation, before anything is created
            raise StackError(f"the template's Rules refuse these parameters: {'; '.join(broken)}")
        order = list(self._creators)
        resources = sorted(self.template.resources.items(), key=lambda item: order.index(self._kind(item[1])))
        for done, (logical_id, resource) in enumerate(resources, start=1):
            if "Condition" in resource and not self.template.condition(resource["Condition"]):
                continue
            self._creators[self._kind(resource)](logical_id, resource)
            self.deployed.resources[logical_id] = self.template.physical_id(logical_id)
            on_created(done, len(resources), logical_id)
        self._http_api_routes()
        return self.deployed

    def _properties(self, resource: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = self.template.resolve(resource.get("Properties", {}))
        return properties

    def _log_group(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        logs = self._client("logs")
        name = self.template.physical_id(logical_id)
        encryption = {"kmsKeyId": str(properties["KmsKeyId"])} if "KmsKeyId" in properties else {}
        logs.create_log_group(logGroupName=name, **encryption)
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

    def _kms_key(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        request: dict[str, Any] = {"Description": properties.get("Description", logical_id)}
        if "KeyPolicy" in properties:
            request["Policy"] = json.dumps(properties["KeyPolicy"])
        metadata = self._client("kms").create_key(**request)["KeyMetadata"]
        if properties.get("EnableKeyRotation"):
            self._client("kms").enable_key_rotation(KeyId=metadata["KeyId"])
        self.template.created[logical_id] = metadata["KeyId"]
        self.template.attributes[(logical_id, "Arn")] = metadata["Arn"]
        self.template.attributes[(logical_id, "KeyId")] = metadata["KeyId"]

    def _kms_alias(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        self._client("kms").create_alias(
            AliasName=properties["AliasName"], TargetKeyId=properties["TargetKeyId"]
        )

    def _secret(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        request: dict[str, Any] = {"Name": self.template.name(logical_id)}
        for field_name in ("Description", "SecretString", "KmsKeyId"):
            if field_name in properties:
                request[field_name] = str(properties[field_name])
        generate = properties.get("GenerateSecretString")
        if generate is not None:  # what CloudFormation does for it: Secrets Manager's own generator
            request["SecretString"] = self._client("secretsmanager").get_random_password(
                PasswordLength=int(generate.get("PasswordLength", 32)),
                ExcludePunctuation=bool(generate.get("ExcludePunctuation", False)),
            )["RandomPassword"]
        self.template.created[logical_id] = self._client("secretsmanager").create_secret(**request)["ARN"]

    def _bucket(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        s3 = self._client("s3")
        bucket = self.template.name(logical_id)
        s3.create_bucket(Bucket=bucket)
        if properties.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=bucket,
                VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]},
            )
        encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption
            ]
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
            )
        lifecycle = properties.get("LifecycleConfiguration", {}).get("Rules")
        if lifecycle:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in lifecycle]}
            )

    def _bucket_policy(self, logical_id: str, resource: dict[str, Any]) -> None:
        """The emulator evaluates bucket policies but ignores their `Condition` blocks, which would turn
        a conditional deny (no TLS, no KMS header) into a deny of everything. Locally only the
        unconditional statements apply; in AWS the whole policy does (the template tests check it)."""
        properties = self._properties(resource)
        document = properties["PolicyDocument"]
        statements = (
            document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        )
        enforceable = [statement for statement in statements if "Condition" not in statement]
        if enforceable:
            self._client("s3").put_bucket_policy(
                Bucket=properties["Bucket"], Policy=json.dumps({**document, "Statement": enforceable})
            )

    def _topic(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        attributes = {}
        if "KmsMasterKeyId" in properties:
            attributes["KmsMasterKeyId"] = str(properties["KmsMasterKeyId"])
        self._client("sns").create_topic(Name=self.template.name(logical_id), Attributes=attributes)

    def _queue(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        attributes = {
            name: json.dumps(properties[name])
            if isinstance(properties[name], dict)
            else str(properties[name])
            for name in (
                "KmsMasterKeyId",
                "MessageRetentionPeriod",
                "VisibilityTimeout",
                "RedrivePolicy",
                "FifoQueue",
                "ContentBasedDeduplication",
                "ReceiveMessageWaitTimeSeconds",
            )
            if name in properties
        }
        url = self._client("sqs").create_queue(
            QueueName=self.template.name(logical_id), Attributes=attributes
        )["QueueUrl"]
        self.template.created[logical_id] = url

    def _queue_policy(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        for url in properties["Queues"]:
            self._client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(properties["PolicyDocument"])}
            )

    def _subscription(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        attributes = {}
        if "FilterPolicy" in properties:
            attributes["FilterPolicy"] = json.dumps(properties["FilterPolicy"])
        if "RawMessageDelivery" in properties:
            attributes["RawMessageDelivery"] = str(properties["RawMessageDelivery"]).lower()
        self._client("sns").subscribe(
            TopicArn=properties["TopicArn"],
            Protocol=properties["Protocol"],
            Endpoint=properties["Endpoint"],
            Attributes=attributes,
        )

    def _ses_identity(self, logical_id: str, resource: dict[str, Any]) -> None:
        identity = str(self._properties(resource)["EmailIdentity"])
        ses = self._client("ses")
        if "@" in identity:
            ses.verify_email_identity(EmailAddress=identity)
        else:
            ses.verify_domain_identity(Domain=identity)

    def _ses_configuration_set(self, logical_id: str, resource: dict[str, Any]) -> None:
        self._client("ses").create_configuration_set(
            ConfigurationSet={"Name": self.template.name(logical_id)}
        )

    def _ses_event_destination(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        destination = dict(properties["EventDestination"])
        if "SnsDestination" in destination:  # CloudFormation's spelling of the API's SNSDestination
            destination["SNSDestination"] = destination.pop("SnsDestination")
        self._client("ses").create_configuration_set_event_destination(
            ConfigurationSetName=properties["ConfigurationSetName"], EventDestination=destination
        )

    def _topic_policy(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        for topic_arn in properties["Topics"]:
            self._client("sns").set_topic_attributes(
                TopicArn=topic_arn,
                AttributeName="Policy",
                AttributeValue=json.dumps(properties["PolicyDocument"]),
            )

    def _layer(self, logical_id: str, resource: dict[str, Any]) -> None:
        """A layer's packages are installed in the local environment already (the `settlement` extra)."""

    def _custom_resource(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        self.deployed.custom_resources.append(
            CustomResource(logical_id, resource["Type"], str(properties["ServiceToken"]), properties)
        )

    def _state_machine(self, logical_id: str, resource: dict[str, Any]) -> None:
        """The ASL file itself, with `DefinitionSubstitutions` applied as CloudFormation applies them."""
        properties = self._properties(resource)
        definition = (self.template_dir / properties["DefinitionUri"]).read_text()
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        unresolved = re.findall(r"\$\{([A-Za-z0-9]+)\}", definition)
        if unresolved:
            raise StackError(f"{logical_id}: no substitution for {', '.join(sorted(set(unresolved)))}")
        name = self.template.name(logical_id)
        role = self._role(name, logical_id, properties.get("Policies", []), service="states.amazonaws.com")
        self._client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=role, type=properties.get("Type", "STANDARD")
        )

    def _role(self, name: str, logical_id: str, policies: list[Any], *, service: str) -> str:
        """One role per function or state machine, with the template's inline statements."""
        iam = self._client("iam")
        trust = _LAMBDA_TRUST.replace("lambda.amazonaws.com", service)
        role = iam.create_role(RoleName=f"{name}-role"[:64], AssumeRolePolicyDocument=trust)["Role"]
        for index, policy in enumerate(policies):
            if isinstance(policy, dict) and "Statement" in policy:
                iam.put_role_policy(
                    RoleName=role["RoleName"],
                    PolicyName=f"{logical_id}Policy{index}",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", **policy}),
                )
        arn: str = role["Arn"]
        return arn

    def _function(self, logical_id: str, resource: dict[str, Any]) -> None:
        raw = _merge(self._function_globals, resource.get("Properties", {}))
        properties = self.template.resolve(raw)
        name = self.template.physical_id(logical_id)
        role_arn = self._role(
            name, logical_id, properties.get("Policies", []), service="lambda.amazonaws.com"
        )
        environment = {k: str(v) for k, v in properties.get("Environment", {}).get("Variables", {}).items()}
        dead_letter_arn = properties.get("DeadLetterQueue", {}).get("TargetArn")
        lambda_client = self._client("lambda")
        lambda_client.create_function(
            FunctionName=name,
            Runtime=properties["Runtime"],
            Role=role_arn,
            Handler=properties["Handler"],
            Code={"ZipFile": _placeholder_zip()},
            Timeout=int(properties.get("Timeout", 3)),
            MemorySize=int(properties.get("MemorySize", 128)),
            Architectures=properties.get("Architectures", ["x86_64"]),
            Environment={"Variables": environment},
            # What `payments dlq` reads to find the function's dead-letter queue, as in AWS.
            **({"DeadLetterConfig": {"TargetArn": dead_letter_arn}} if dead_letter_arn else {}),
        )
        if properties.get("AutoPublishAlias"):
            # Published once, as a first deploy does; `DeploymentPreference` (a canary) needs a second
            # deploy to mean anything, so locally the alias simply points at the one version.
            version = lambda_client.publish_version(FunctionName=name)["Version"]
            lambda_client.create_alias(
                FunctionName=name, Name=str(properties["AutoPublishAlias"]), FunctionVersion=version
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
            dead_letter_arn=dead_letter_arn,
        )
        self.deployed.functions.append(spec)
        self._merge_environment(spec)
        for event_id, event in properties.get("Events", {}).items():
            if event["Type"] == "HttpApi":
                self.deployed.routes.append(
                    Route(
                        event["Properties"]["Method"].upper(),
                        event["Properties"]["Path"],
                        name,
                        auth=event["Properties"].get("Auth", {}).get("Authorizer"),
                    )
                )
            elif event["Type"] == "SNS":
                attributes = {}
                if "FilterPolicy" in event["Properties"]:
                    attributes["FilterPolicy"] = json.dumps(event["Properties"]["FilterPolicy"])
                self._client("sns").subscribe(
                    TopicArn=event["Properties"]["Topic"],
                    Protocol="lambda",
                    Endpoint=self.template.attribute(logical_id, "Arn"),
                    Attributes=attributes,
                )
            elif event["Type"] == "DynamoDB":
                self.deployed.stream_sources.append(_stream_source(name, event["Properties"]))
            elif event["Type"] == "SQS":
                settings = event["Properties"]
                self.deployed.queue_sources.append(
                    QueueSource(
                        function_name=name,
                        queue_arn=settings["Queue"],
                        batch_size=int(settings.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in settings.get("FunctionResponseTypes", []),
                        concurrency=int(settings.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
                    )
                )
            elif event["Type"] == "S3":
                self._notify(logical_id, event["Properties"])
            elif event["Type"] == "Schedule":
                # The local runtime keeps no clock-driven rules; what a schedule would start is
                # started on demand through /_local (e.g. POST /_local/settlements/emit).
                self.deployed.schedules[name] = str(event["Properties"]["Schedule"])
            else:
                raise StackError(
                    f"{logical_id}.{event_id}: event type {event['Type']} is not supported locally"
                )

    def _notify(self, logical_id: str, settings: Mapping[str, Any]) -> None:
        """A SAM `S3` event: the bucket notifies the function (added to the bucket's other notifications)."""
        bucket = settings["Bucket"]
        configuration: dict[str, Any] = {
            "LambdaFunctionArn": self.template.attribute(logical_id, "Arn"),
            "Events": settings["Events"] if isinstance(settings["Events"], list) else [settings["Events"]],
        }
        rules = settings.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if rules:
            configuration["Filter"] = {
                "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
            }
        s3 = self._client("s3")
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
        current.pop("ResponseMetadata", None)
        current.setdefault("LambdaFunctionConfigurations", []).append(configuration)
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)

    def _metric_filter(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        self._client("logs").put_metric_filter(
            logGroupName=properties["LogGroupName"],
            filterName=properties.get("FilterName", f"{self.template.stack_name}-{logical_id}"),
            filterPattern=properties["FilterPattern"],
            metricTransformations=[
                {
                    "metricName": transformation["MetricName"],
                    "metricNamespace": transformation["MetricNamespace"],
                    "metricValue": transformation["MetricValue"],
                }
                for transformation in properties["MetricTransformations"]
            ],
        )

    def _dashboard(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        self._client("cloudwatch").put_dashboard(
            DashboardName=properties.get("DashboardName", self.template.name(logical_id)),
            DashboardBody=properties["DashboardBody"],
        )

    def _alarm(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)
        request = {
            key: properties[key]
            for key in (
                "AlarmDescription",
                "Namespace",
                "MetricName",
                "Statistic",
                "ExtendedStatistic",
                "Period",
                "DatapointsToAlarm",
                "EvaluationPeriods",
                "Threshold",
                "ComparisonOperator",
                "TreatMissingData",
                "AlarmActions",
                "Dimensions",
                "Metrics",
            )
            if key in properties
        }
        for number in ("Threshold", "Period", "EvaluationPeriods", "DatapointsToAlarm"):
            if number in request:  # a `!Ref` to a Number parameter arrives as a string
                request[number] = float(request[number]) if number == "Threshold" else int(request[number])
        self._client("cloudwatch").put_metric_alarm(AlarmName=self.template.name(logical_id), **request)

    def _merge_environment(self, spec: FunctionSpec) -> None:
        """Handlers share this process, so one variable must mean one thing for every function."""
        for key, value in spec.environment.items():
            current = self.deployed.environment.setdefault(key, value)
            if current != value:
                raise StackError(
                    f"environment variable {key} differs between functions ({current!r} vs {value!r})"
                )

    def _http_api(self, logical_id: str, resource: dict[str, Any]) -> None:
        properties = self._properties(resource)  # resolves every reference, so a broken one fails here
        self._http_api_ids.append(logical_id)
        self._http_api_auth = properties.get("Auth", {})

    def _resolve_authorizers(self) -> None:
        """Each route's authorizer: its own (or NONE), else the API's default, as API Gateway does."""
        authorizers = {}
        for name, config in self._http_api_auth.get("Authorizers", {}).items():
            if "FunctionArn" not in config:
                raise StackError(f"authorizer {name}: only Lambda authorizers run locally")
            identity = config.get("Identity", {})
            authorizers[name] = Authorizer(
                function_name=str(config["FunctionArn"]).rsplit(":function:", 1)[-1].split(":", 1)[0],
                identity_headers=tuple(header.lower() for header in identity.get("Headers", [])),
                cache_seconds=int(identity.get("ReauthorizeEvery", 300)),
            )
        default = self._http_api_auth.get("DefaultAuthorizer")
        resolved = []
        for route in self.deployed.routes:
            name = route.auth or default
            if name is not None and name != "NONE" and name not in authorizers:
                raise StackError(f"route {route.route_key}: no authorizer named {name}")
            resolved.append(replace(route, authorizer=authorizers.get(name) if name else None))
        self.deployed.routes = resolved

    def _http_api_routes(self) -> None:
        """Register the API and its routes in the emulator too, so `aws apigatewayv2` can list them."""
        self._resolve_authorizers()
        apis = self._client("apigatewayv2")
        for logical_id in self._http_api_ids:
            api = apis.create_api(Name=self.template.physical_id(logical_id), ProtocolType="HTTP")
            for route in self.deployed.routes:
                apis.create_route(ApiId=api["ApiId"], RouteKey=route.route_key)
