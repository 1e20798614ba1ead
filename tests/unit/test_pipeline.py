"""The delivery pipeline: the stages a release goes through, what protects its artifacts, and roles that
can do their part of the release and little more.

`pipeline/pipeline.yaml` is read offline; nothing here calls AWS.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from payments.local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PATH = ROOT / "pipeline" / "pipeline.yaml"
# The regions the application is meant for (test_template.py): the pipeline deploys it there.
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]

STAGES = ["Source", "Build", "DeployDev", "Approval", "DeployProd"]
PACKAGED_TEMPLATE = "BuildOutput::build/packaged.json"
DEPLOY_STAGES = {
    # pipeline stage: (the stage parameter, its deployment role)
    "DeployDev": ("DevStage", "DevDeployRole"),
    "DeployProd": ("ProdStage", "ProdDeployRole"),
}
DEPLOY_ROLES = list(DEPLOY_STAGES.values())
TRUSTED_SERVICE = {
    "PipelineRole": "codepipeline.amazonaws.com",
    "BuildRole": "codebuild.amazonaws.com",
    "DevDeployRole": "cloudformation.amazonaws.com",
    "ProdDeployRole": "cloudformation.amazonaws.com",
    "SourcePushRole": "events.amazonaws.com",
}

# Statements allowed `"Resource": "*"`, each with the reason AWS leaves no narrower choice.
ALLOWED_WILDCARD_RESOURCES = {
    "LogDelivery": "CloudWatch Logs' log-delivery APIs and account resource policy take no resource ARN",
    "NoResourceArn": "Describe/List reads and GetRandomPassword take no resource ARN",
    "CreateEventSourceMappings": "Lambda makes up the mapping's id; a condition names the functions",
    "CreateDataKey": "CreateKey acts on a key that does not exist yet; conditions fix its kind",
    "StopDeployments": "StopDeployment takes a deployment id, not an ARN",
}

# Values that stand in for the pseudo parameters and the pipeline's parameters.
ACCOUNT = "111122223333"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def pipeline() -> dict[str, Any]:
    return load_template(PIPELINE_PATH)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement, both branches of a conditional one included."""
    for statement in _as_list(document["Statement"]):
        if "Fn::If" in statement:
            _, *branches = statement["Fn::If"]
            yield from (branch for branch in branches if branch != {"Ref": "AWS::NoValue"})
        else:
            yield statement


def _identity_policies(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(role, policy's logical id, document) for every policy a role of the pipeline stack holds."""
    for name, resource in template["Resources"].items():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield name, name, policy["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::RolePolicy":
            yield properties["RoleName"]["Ref"], name, properties["PolicyDocument"]
        elif resource["Type"] == "AWS::IAM::ManagedPolicy":
            for role in properties["Roles"]:
                yield role["Ref"], name, properties["PolicyDocument"]


def _all_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource, statement) for identity, trust, key and bucket policies alike."""
    for _, name, document in _identity_policies(template):
        yield from ((name, statement) for statement in _statements(document))
    resource_policies = {
        "AWS::IAM::Role": "AssumeRolePolicyDocument",
        "AWS::KMS::Key": "KeyPolicy",
        "AWS::S3::BucketPolicy": "PolicyDocument",
    }
    for name, resource in template["Resources"].items():
        if resource["Type"] in resource_policies:
            document = resource["Properties"][resource_policies[resource["Type"]]]
            yield from ((name, statement) for statement in _statements(document))


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for holder, _, document in _identity_policies(template)
        if holder == role
        for statement in _statements(document)
    ]


def _stage(template: dict[str, Any], name: str) -> dict[str, Any]:
    stages = template["Resources"]["Pipeline"]["Properties"]["Stages"]
    (stage,) = [stage for stage in stages if stage["Name"] == name]
    return stage  # type: ignore[no-any-return]


def _actions(template: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    return sorted(_stage(template, stage)["Actions"], key=lambda action: action.get("RunOrder", 1))


def _describe(matches: list[Any]) -> list[str]:
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


# -- Lint, stages and actions ----------------------------------------------------------------------------


def test_pipeline_lints_clean_in_every_region() -> None:
    matches = lint(PIPELINE_PATH.read_text(encoding="utf-8"), config=ManualArgs(regions=REGIONS))
    assert _describe(matches) == []


def test_a_release_goes_source_build_dev_approval_prod(pipeline: dict[str, Any]) -> None:
    properties = pipeline["Resources"]["Pipeline"]["Properties"]
    assert properties["PipelineType"] == "V2"
    assert [stage["Name"] for stage in properties["Stages"]] == STAGES


@pytest.mark.parametrize(("stage", "stage_parameter", "role"), [(k, *v) for k, v in DEPLOY_STAGES.items()])
def test_each_stage_deploys_the_packaged_template_by_change_set(
    pipeline: dict[str, Any], stage: str, stage_parameter: str, role: str
) -> None:
    """A change set made from the build's packaged template, then executed, with the stage's own role."""
    replace, execute = _actions(pipeline, stage)
    prepared, executed = replace["Configuration"], execute["Configuration"]
    assert (prepared["ActionMode"], executed["ActionMode"]) == ("CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE")
    assert replace["RunOrder"] < execute["RunOrder"]
    assert prepared["TemplatePath"] == PACKAGED_TEMPLATE
    assert replace["InputArtifacts"] == [{"Name": "BuildOutput"}]
    # The packaged template still carries the SAM transform, and the transform writes roles.
    assert set(prepared["Capabilities"].split(",")) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    stack = {"Fn::Sub": f"${{ApplicationName}}-${{{stage_parameter}}}"}
    assert prepared["StackName"] == executed["StackName"] == stack
    assert prepared["ChangeSetName"] == executed["ChangeSetName"]
    # The stage, and what must differ per stage in one account: the processor, the SES sender, and
    # where the stage's alerts go.
    prefix = stage_parameter.removesuffix("Stage")
    overrides = json.loads(
        _substitute(
            prepared["ParameterOverrides"]["Fn::Sub"],
            {
                stage_parameter: "s",
                f"{prefix}GatewayBaseUrl": "https://g",
                f"{prefix}ReceiptSender": "r@x",
                f"{prefix}OpsAlertEmail": "ops@x",
                f"{prefix}OpsWebhookUrl": "https://chat/ops",
                f"{prefix}CustomerSuccessWebhookUrl": "https://chat/cs",
            },
        )
    )
    assert overrides == {
        "Stage": "s",
        "GatewayBaseUrl": "https://g",
        "ReceiptSender": "r@x",
        "OpsAlertEmail": "ops@x",
        "OpsWebhookUrl": "https://chat/ops",
        "CustomerSuccessWebhookUrl": "https://chat/cs",
    }
    assert prepared["RoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def _pipeline_rules_broken(**parameters: str) -> list[str]:
    """What the pipeline stack's Rules refuse, for these parameters and the ones it always needs."""
    from payments.local.template import Template  # noqa: PLC0415

    needed = {
        "ConnectionArn": "arn:aws:codeconnections:eu-west-1:111122223333:connection/0f0e0d0c-0b0a",
        "FullRepositoryId": "owner/repo",
        "ProdGatewayBaseUrl": "https://processor.example",
        "ProdReceiptSender": "no-reply@shop.example",
    }
    template = Template(load_template(PIPELINE_PATH), stack_name="pipeline", parameters=needed | parameters)
    return template.broken_rules()


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({"DevOpsAlertEmail": "dev@x.example", "ProdOpsWebhookUrl": "https://chat.example/ops"}, []),
        ({"DevOpsWebhookUrl": "https://chat.example/dev", "ProdOpsAlertEmail": "ops@x.example"}, []),
        ({"ProdOpsAlertEmail": "ops@x.example"}, ["Set DevOpsAlertEmail, DevOpsWebhookUrl or both."]),
        (
            {"DevCustomerSuccessWebhookUrl": "https://chat.example/cs"},
            [
                "Set DevOpsAlertEmail, DevOpsWebhookUrl or both.",
                "Set ProdOpsAlertEmail, ProdOpsWebhookUrl or both.",
            ],
        ),
    ],
)
def test_a_stage_whose_alerts_would_reach_nobody_is_refused_with_the_pipeline(
    parameters: dict[str, str], broken: list[str]
) -> None:
    assert _pipeline_rules_broken(**parameters) == broken


@pytest.mark.parametrize("stage", ["Dev", "Prod"])
def test_alert_destinations_cannot_break_the_parameter_overrides_json(
    pipeline: dict[str, Any], stage: str
) -> None:
    """They are written into the overrides' JSON as they are: a quote or a space is refused up front."""
    parameters = pipeline["Parameters"]
    for name, good in (
        ("OpsAlertEmail", "ops@x.example"),
        ("OpsWebhookUrl", "https://hooks.slack.com/services/T0/B0/x"),
        ("CustomerSuccessWebhookUrl", "https://hooks.slack.com/services/T0/B1/y"),
    ):
        pattern = parameters[f"{stage}{name}"]["AllowedPattern"]
        assert re.fullmatch(pattern, "")
        assert re.fullmatch(pattern, good)
        assert not re.fullmatch(pattern, good + '", "Stage": "other')
    assert all(
        parameters[f"{stage}{name}"]["NoEcho"] for name in ("OpsWebhookUrl", "CustomerSuccessWebhookUrl")
    )


def test_only_a_person_lets_a_release_into_prod(pipeline: dict[str, Any]) -> None:
    """Dev deploys every passing build at once; prod waits for a manual approval."""
    (approve,) = _actions(pipeline, "Approval")
    assert (approve["ActionTypeId"]["Category"], approve["ActionTypeId"]["Provider"]) == (
        "Approval",
        "Manual",
    )
    assert approve["Configuration"]["NotificationArn"] == {
        "Fn::If": ["EmailApprover", {"Ref": "ApprovalTopic"}, {"Ref": "AWS::NoValue"}]
    }
    assert approve["Configuration"]["CustomData"]
    before_approval = STAGES[: STAGES.index("Approval")]
    assert all(
        action["ActionTypeId"]["Category"] != "Approval"
        for stage in before_approval
        for action in _actions(pipeline, stage)
        if "Fn::If" not in action
    )
    topic = pipeline["Resources"]["ApprovalTopic"]
    assert topic["Condition"] == "EmailApprover"
    assert topic["Properties"]["KmsMasterKeyId"] == {"Ref": "ArtifactKey"}


def test_the_source_is_the_chosen_provider_only(pipeline: dict[str, Any]) -> None:
    (source,) = _stage(pipeline, "Source")["Actions"]
    condition, connection, codecommit = source["Fn::If"]
    assert condition == "UseCodeStarConnection"
    assert connection["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert connection["Configuration"]["OutputArtifactFormat"] == "CODE_ZIP"
    assert codecommit["ActionTypeId"]["Provider"] == "CodeCommit"
    # CodeCommit is not polled: an EventBridge rule, only made for CodeCommit, starts the pipeline.
    assert codecommit["Configuration"]["PollForSourceChanges"] is False
    assert pipeline["Resources"]["SourcePushRule"]["Condition"] == "UseCodeCommit"
    rules = pipeline["Rules"]
    assert len(rules["CodeStarSourceNeedsItsConnection"]["Assertions"]) == 2
    assert len(rules["CodeCommitNeedsItsRepository"]["Assertions"]) == 1


def test_the_build_runs_the_buildspec_on_arm_with_the_artifact_bucket(pipeline: dict[str, Any]) -> None:
    project = pipeline["Resources"]["BuildProject"]["Properties"]
    environment = project["Environment"]
    assert (environment["Type"], environment["Image"], environment["ComputeType"]) == (
        "ARM_CONTAINER",
        "aws/codebuild/amazonlinux-aarch64-standard:3.0",
        "BUILD_GENERAL1_LARGE",
    )
    variables = {variable["Name"]: variable["Value"] for variable in environment["EnvironmentVariables"]}
    assert variables == {"ARTIFACT_BUCKET": {"Ref": "ArtifactBucket"}}
    assert project["Source"] == {"Type": "CODEPIPELINE", "BuildSpec": "buildspec.yml"}
    assert project["EncryptionKey"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    assert project["TimeoutInMinutes"] == 90
    # The buildspec uploads to that bucket and hands on the template the deploy stages read.
    buildspec = (ROOT / "buildspec.yml").read_text(encoding="utf-8")
    assert '--bucket "$ARTIFACT_BUCKET"' in buildspec
    assert PACKAGED_TEMPLATE.removeprefix("BuildOutput::") in buildspec


# -- Artifacts and their key -----------------------------------------------------------------------------


def test_artifacts_are_kms_encrypted_versioned_private_and_tls_only(pipeline: dict[str, Any]) -> None:
    resources = pipeline["Resources"]
    key = {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    store = resources["Pipeline"]["Properties"]["ArtifactStore"]
    assert store["EncryptionKey"] == {"Type": "KMS", "Id": key}
    assert resources["ArtifactKey"]["Properties"]["EnableKeyRotation"] is True
    bucket = resources["ArtifactBucket"]
    assert bucket["DeletionPolicy"] == "Retain"
    properties = bucket["Properties"]
    [encryption] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert encryption["BucketKeyEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert all(properties["PublicAccessBlockConfiguration"].values())
    lifecycle = properties["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in rule for rule in lifecycle)
    policy = resources["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    statements = {statement["Sid"]: statement for statement in _statements(policy)}
    assert all(statement["Effect"] == "Deny" for statement in statements.values())
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyNonKmsPuts"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }


def test_only_the_pipelines_roles_may_use_the_artifact_key(pipeline: dict[str, Any]) -> None:
    """The account administers the key but cannot decrypt with it; deployment roles only decrypt, via S3."""
    policy = pipeline["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]
    statements = {statement["Sid"]: statement for statement in _statements(policy)}
    usage = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
    assert not usage & set(statements["AccountAdministers"]["Action"])
    assert statements["PipelineAndBuildUse"]["Principal"] == {
        "AWS": [{"Fn::GetAtt": ["PipelineRole", "Arn"]}, {"Fn::GetAtt": ["BuildRole", "Arn"]}]
    }
    deployers = statements["DeploymentRolesDecrypt"]
    assert deployers["Action"] == "kms:Decrypt"
    assert deployers["Principal"] == {"AWS": [{"Fn::GetAtt": [role, "Arn"]} for _, role in DEPLOY_ROLES]}
    assert "kms:ViaService" in deployers["Condition"]["StringEquals"]
    # CloudWatch Logs, for the build's log group only.
    logs = statements["LogsEncryptTheBuildLog"]["Condition"]["ArnEquals"]
    assert "kms:EncryptionContext:aws:logs:arn" in logs


# -- Least privilege -------------------------------------------------------------------------------------


def _wildcard_problems(statement: dict[str, Any]) -> list[str]:
    """What makes a statement too broad: a whole service (or everything) allowed, or a Not* element."""
    problems = [f"uses {key}" for key in ("NotAction", "NotResource", "NotPrincipal") if key in statement]
    if statement.get("Effect") == "Allow":
        problems += [
            f"allows {action}"
            for action in _as_list(statement.get("Action", []))
            if action == "*" or action.endswith(":*")
        ]
    return problems


def test_no_statement_allows_a_whole_service(pipeline: dict[str, Any]) -> None:
    """Identity, trust, key and bucket policies alike. A Deny may be broad (refusing s3:* without TLS)."""
    problems = [
        f"{name}/{statement.get('Sid')}: {problem}"
        for name, statement in _all_statements(pipeline)
        for problem in _wildcard_problems(statement)
    ]
    assert problems == []


def test_the_wildcard_guard_catches_a_whole_service() -> None:
    whole_service = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:*"], "Resource": "*"}
    assert _wildcard_problems(whole_service) == ["allows s3:*"]
    assert _wildcard_problems({"Effect": "Allow", "Action": "*", "Resource": "*"}) == ["allows *"]
    assert _wildcard_problems({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}) == [
        "uses NotAction"
    ]
    assert _wildcard_problems({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}) == []


def test_resource_wildcards_only_where_aws_offers_no_resource_arn(pipeline: dict[str, Any]) -> None:
    wildcards = {
        statement.get("Sid", "<no Sid>")
        for _, _, document in _identity_policies(pipeline)
        for statement in _statements(document)
        if "*" in _as_list(statement["Resource"])
    }
    assert wildcards == set(ALLOWED_WILDCARD_RESOURCES)  # and no stale excuse in the list


def test_the_pipeline_passes_only_the_deployment_roles_and_only_to_cloudformation(
    pipeline: dict[str, Any],
) -> None:
    (passing,) = [s for s in _role_statements(pipeline, "PipelineRole") if s["Action"] == "iam:PassRole"]
    assert passing["Resource"] == [{"Fn::GetAtt": [role, "Arn"]} for _, role in DEPLOY_ROLES]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    # Every other role that passes roles (the deployment roles, to the functions) names the services too.
    for name, statement in _all_statements(pipeline):
        if "iam:PassRole" in _as_list(statement.get("Action", [])):
            assert "iam:PassedToService" in statement["Condition"]["StringEquals"], name


def test_each_role_is_trusted_by_exactly_one_service(pipeline: dict[str, Any]) -> None:
    roles = {name for name, res in pipeline["Resources"].items() if res["Type"] == "AWS::IAM::Role"}
    assert roles == set(TRUSTED_SERVICE)
    for role, service in TRUSTED_SERVICE.items():
        trust = pipeline["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
        (statement,) = _statements(trust)
        assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole")
        assert statement["Principal"] == {"Service": service}, role


def test_the_prod_role_is_the_dev_role_for_the_other_stage(pipeline: dict[str, Any]) -> None:
    """One reviewed policy, twice: any difference between the stages' roles is a mistake."""
    dev = sorted(json.dumps(s, sort_keys=True) for s in _role_statements(pipeline, "DevDeployRole"))
    prod = sorted(json.dumps(s, sort_keys=True) for s in _role_statements(pipeline, "ProdDeployRole"))
    assert dev
    assert sorted(statement.replace("DevStage", "ProdStage") for statement in dev) == prod
    assert not any("ProdStage" in statement for statement in dev)


# -- The deployment roles against what template.yaml creates ---------------------------------------------

# Every resource type the translated application template holds: each was read against the deployment
# roles. A new type needs the same reading (and, likely, new statements) before it can deploy.
REVIEWED_TYPES = {
    "AWS::IAM::ManagedPolicy",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::DynamoDB::Table",
    "AWS::Events::Rule",
    "AWS::IAM::Role",
    "AWS::KMS::Alias",
    "AWS::KMS::Key",
    "AWS::Lambda::Alias",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Lambda::Version",
    "AWS::Logs::LogGroup",
    "AWS::Logs::MetricFilter",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SES::ConfigurationSet",
    "AWS::SES::ConfigurationSetEventDestination",
    "AWS::SES::EmailIdentity",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::Queue",
    "AWS::SQS::QueuePolicy",
    "AWS::SecretsManager::Secret",
    "AWS::StepFunctions::StateMachine",
    "Custom::EmailTemplates",
}

# Named resources of template.yaml: (name property, the action that creates one, its ARN).
NAMED_TYPES = {
    "AWS::DynamoDB::Table": ("TableName", "dynamodb:CreateTable", "dynamodb:{region}:{account}:table/{name}"),
    "AWS::Logs::LogGroup": (
        "LogGroupName",
        "logs:CreateLogGroup",
        "logs:{region}:{account}:log-group:{name}",
    ),
    "AWS::Serverless::Function": (
        "FunctionName",
        "lambda:CreateFunction",
        "lambda:{region}:{account}:function:{name}",
    ),
    "AWS::SNS::Topic": ("TopicName", "sns:CreateTopic", "sns:{region}:{account}:{name}"),
    "AWS::SQS::Queue": ("QueueName", "sqs:CreateQueue", "sqs:{region}:{account}:{name}"),
    "AWS::S3::Bucket": ("BucketName", "s3:CreateBucket", "s3:::{name}"),
    "AWS::CloudWatch::Alarm": (
        "AlarmName",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:{region}:{account}:alarm:{name}",
    ),
    "AWS::CloudWatch::Dashboard": (
        "DashboardName",
        "cloudwatch:PutDashboard",
        "cloudwatch::{account}:dashboard/{name}",
    ),
    # Secrets Manager appends six characters to the name.
    "AWS::SecretsManager::Secret": (
        "Name",
        "secretsmanager:CreateSecret",
        "secretsmanager:{region}:{account}:secret:{name}-Ab12Cd",
    ),
    "AWS::Serverless::StateMachine": (
        "Name",
        "states:CreateStateMachine",
        "states:{region}:{account}:stateMachine:{name}",
    ),
    "AWS::KMS::Alias": ("AliasName", "kms:CreateAlias", "kms:{region}:{account}:{name}"),
    "AWS::SES::ConfigurationSet": (
        "Name",
        "ses:CreateConfigurationSet",
        "ses:{region}:{account}:configuration-set/{name}",
    ),
}


def _substitute(text: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), f"<{match.group(1)}>")

    return re.sub(r"\$\{([^}]+)\}", value, text)


def _grants(statements: list[dict[str, Any]], values: dict[str, str]) -> list[tuple[list[str], list[str]]]:
    """(actions, resource patterns) of each Allow statement, its Fn::Sub strings resolved."""
    grants = []
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        resources = [
            _substitute(resource["Fn::Sub"], values) if isinstance(resource, dict) else resource
            for resource in _as_list(statement["Resource"])
            if isinstance(resource, str) or "Fn::Sub" in resource
        ]
        grants.append(([action.lower() for action in _as_list(statement["Action"])], resources))
    return grants


def _allowed(grants: list[tuple[list[str], list[str]]], action: str, arn: str) -> bool:
    return any(
        any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in actions)
        and any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)
        for actions, resources in grants
    )


def test_the_application_holds_only_resource_types_the_roles_were_read_against(
    translated_application: dict[str, Any],
) -> None:
    kinds = {resource["Type"] for resource in translated_application["Resources"].values()}
    assert kinds - REVIEWED_TYPES == set()


@pytest.mark.parametrize(("stage", "role"), [("dev", "DevDeployRole"), ("prod", "ProdDeployRole")])
def test_each_deployment_role_may_create_every_named_resource_of_its_stage(
    pipeline: dict[str, Any], application_template: dict[str, Any], stage: str, role: str
) -> None:
    """Names (and CloudFormation's generated ones) against the role's ARNs; conditions are not evaluated."""
    stack = f"payments-{stage}"
    values = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    parameters = {"ApplicationName": "payments", "DevStage": "dev", "ProdStage": "prod"}
    grants = _grants(_role_statements(pipeline, role), {**values, **parameters})
    missing = []
    for logical_id, resource in application_template["Resources"].items():
        if resource["Type"] not in NAMED_TYPES:
            continue
        name_property, action, arn = NAMED_TYPES[resource["Type"]]
        name = resource.get("Properties", {}).get(name_property)
        if name is None:  # CloudFormation makes one up from the stack's name
            name = f"{stack}-{logical_id}-1A2B3C4D5E6F"
            name = name.lower() if resource["Type"] == "AWS::S3::Bucket" else name
        elif isinstance(name, dict):
            name = _substitute(name["Fn::Sub"], {**values, "Stage": stage})
        full_arn = "arn:aws:" + arn.format(region=REGION, account=ACCOUNT, name=name)
        if not _allowed(grants, action, full_arn):
            missing.append(f"{logical_id}: {action} on {full_arn}")
    assert missing == []
    # ... and not the other stage's.
    other = "prod" if stage == "dev" else "dev"
    other_table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payment-intents-{other}"
    assert not _allowed(grants, "dynamodb:CreateTable", other_table)


@pytest.mark.parametrize(("stage", "role"), DEPLOY_ROLES)
def test_each_deployment_role_lets_dynamodb_encrypt_its_tables_with_its_stages_data_key(
    pipeline: dict[str, Any], stage: str, role: str
) -> None:
    """What AWS lists as DynamoDB's minimum on a customer-managed key, from the role that creates or
    updates the table; through DynamoDB only, and on this stage's data key only."""
    (statement,) = [s for s in _role_statements(pipeline, role) if s.get("Sid") == "EncryptTablesWithDataKey"]
    assert set(statement["Action"]) == {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncrypt*",
        "kms:GenerateDataKey*",
        "kms:DescribeKey",
        "kms:CreateGrant",
    }
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"
    }
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}},
        "ForAllValues:StringEquals": {
            "kms:ResourceAliases": {"Fn::Sub": f"alias/payments-data-${{{stage}}}"}
        },
    }


def test_the_deployment_roles_attach_only_the_managed_policies_the_transform_uses(
    pipeline: dict[str, Any], translated_application: dict[str, Any]
) -> None:
    used = {
        re.sub(r"^arn:aws:", "arn:${AWS::Partition}:", arn)
        for resource in translated_application["Resources"].values()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
        if isinstance(arn, str)  # AWS's own; the stack's own policies are AttachStackManagedPolicies'
    }
    for _, role in DEPLOY_ROLES:
        (attach,) = [s for s in _role_statements(pipeline, role) if s.get("Sid") == "AttachManagedPolicies"]
        allowed = {arn["Fn::Sub"] for arn in attach["Condition"]["ArnEquals"]["iam:PolicyARN"]}
        assert allowed == used, role
