"""The application template: it lints, it translates offline, and it keeps the promises others rely on.

The local runtime creates every resource from `template.yaml`, so the logical ids, names, handlers and
environment variables checked here are a contract, not decoration. The functions and routes are not
listed here: each check iterates the template's (`tests/unit/inventory.py`), so declaring a function
in the template is all it takes for it to be checked. What each function's role may do is in
`test_function_grants.py`; the routes against the OpenAPI spec are in `test_openapi.py`.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from payments.local.cfn_yaml import TemplateError, load_template, parse_template
from payments.local.sam import translate
from tests.unit.inventory import (
    MANAGED_POLICY,
    ROOT,
    STATE_MACHINE,
    TEMPLATE_PATH,
    WILDCARD_RESOURCES_ALLOWED,
    as_list,
    deployment_hooks,
    functions,
    handler_module,
    http_routes,
    module_path,
    referenced,
    resources_of,
    statements,
    sub_text,
    synchronous_callers,
)

# The regions the stack is meant for: each offers every service it uses (SES is not in all regions).
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
# CloudWatch's limits on an alarm based on metric math: metrics retrieved, expressions, and in all.
ALARM_MAX_METRICS = 10
ALARM_MAX_EXPRESSIONS = 10
ALARM_MAX_QUERIES = 20
# What holds data: retained when the stack is deleted or an update replaces it. Log groups are not in
# it: they keep operational logs for LogRetentionDays, and the audit trail is in the audit bucket.
DATA_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
)


def _function_name_problems(document: dict[str, Any]) -> list[str]:
    """Functions not named `payments-<name>-<stage>`, the names the deployment roles may create, and
    deployment hooks not named `CodeDeployHook_...`, the only names CodeDeploy's role may invoke."""
    hooks = deployment_hooks(document)
    problems = []
    for logical_id, properties in functions(document).items():
        prefix = "CodeDeployHook_" if logical_id in hooks else ""
        name = sub_text(properties.get("FunctionName"))
        if not re.fullmatch(rf"{prefix}payments-[a-z0-9-]+-\$\{{Stage\}}", name):
            problems.append(f"{logical_id}: FunctionName {name!r} is not {prefix}payments-<name>-${{Stage}}")
    return problems


TABLES = {
    # logical id: (name prefix, partition key, has the by-customer index)
    "PaymentIntentsTable": ("payment-intents", "paymentIntentId", True),
    "TransactionsTable": ("transactions", "transactionId", True),
    "IdempotencyTable": ("payments-idempotency", "id", False),
    "FraudVelocityTable": ("fraud-velocity", "counterKey", False),
    "CheckoutsTable": ("checkouts", "trackingId", False),
    "LedgerTable": ("ledger", "entryId", False),
    "EventsTable": ("payment-events", "eventId", False),
    "ReceiptSuppressionsTable": ("receipt-suppressions", "address", False),
    "ApiKeysTable": ("payments-api-keys", "keyHash", False),
    "MerchantProcessorsTable": ("payment-merchant-processors", "merchantId", False),
    "WebhookEventsTable": ("webhook-events", "eventId", False),
}
# The running balances have a composite key (currency, account); every other table is keyed by one id.
COMPOSITE_KEY_TABLES = {
    "LedgerBalancesTable": ("ledger-balances", "currency", "account"),
    "RefundBatchesTable": ("refund-batches", "batchId", "item"),
    "SettlementsTable": ("settlements", "pk", "sk"),
    "WebhookDeliveriesTable": ("webhook-deliveries", "webhookEndpointId", "eventId"),
    "WebhookEndpointsTable": ("webhook-endpoints", "merchantId", "webhookEndpointId"),
}
# The composite-key tables read through an index of their own: (its name, partition key, sort key).
COMPOSITE_KEY_INDEXES = {
    # An endpoint's deliveries newest first (`<createdAt>#<eventId>`).
    "WebhookDeliveriesTable": ("by-created", "webhookEndpointId", "createdAtEventId"),
}
# Nothing is ignored on the translated template. W3037 (unknown IAM action) is a known false positive
# on the policy SAM writes for SQS pollers, but on this template it is the only check that catches a
# misspelled action in our own inline policies (the SAM file's lint does not look inside them), so if
# a poller policy trips it, drop those matches by resource rather than turning the rule off.
TRANSLATED_IGNORED_CHECKS: list[str] = []


@pytest.fixture(scope="module")
def template(application_template: dict[str, Any]) -> dict[str, Any]:
    return application_template


@pytest.fixture(scope="module")
def translated(translated_application: dict[str, Any]) -> dict[str, Any]:
    return translated_application


def _resources(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return resources_of(document, kind)


def _globals(template: dict[str, Any]) -> dict[str, Any]:
    globals_: dict[str, Any] = template["Globals"]["Function"]
    return globals_


def _rollback_alarms(template: dict[str, Any]) -> list[Any]:
    """The alarms that roll a canary back: Globals' DeploymentPreference, as written (`!Ref`s)."""
    alarms: list[Any] = _globals(template)["DeploymentPreference"]["Alarms"]
    return alarms


def _describe(matches: list[Any]) -> list[str]:
    return [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches]


def test_loader_turns_short_tags_into_long_form() -> None:
    document = parse_template(
        """
        A: !Ref Stage
        B: !Sub "x-${Stage}"
        C: !GetAtt Table.Arn
        D: !GetAtt Db.Endpoint.Address
        E: !If [IsProd, 1, !Ref AWS::NoValue]
        F: !Join ["", [!Ref A, "b"]]
        G: !Sub ["${X}", {X: !GetAtt [T, Arn]}]
        H: !Equals [!Ref Stage, prod]
        I: !Condition IsProd
        Version: 2012-10-17
        """
    )
    assert document == {
        "A": {"Ref": "Stage"},
        "B": {"Fn::Sub": "x-${Stage}"},
        "C": {"Fn::GetAtt": ["Table", "Arn"]},
        "D": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "E": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]},
        "F": {"Fn::Join": ["", [{"Ref": "A"}, "b"]]},
        "G": {"Fn::Sub": ["${X}", {"X": {"Fn::GetAtt": ["T", "Arn"]}}]},
        "H": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "I": {"Condition": "IsProd"},
        "Version": "2012-10-17",
    }


@pytest.mark.parametrize(
    "text",
    ["A: 1\nA: 2\n", "- a\n- b\n", "A: !GetAtt NoAttribute\n", "A: [unclosed\n"],
    ids=["duplicate-key", "not-a-mapping", "bad-getatt", "bad-yaml"],
)
def test_loader_refuses_what_cloudformation_refuses(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text)


def test_sam_template_lints_clean_in_every_region() -> None:
    matches = lint(TEMPLATE_PATH.read_text(encoding="utf-8"), config=ManualArgs(regions=REGIONS))
    assert _describe(matches) == []


def _lint_translated(document: dict[str, Any], regions: list[str]) -> list[Any]:
    config = ManualArgs(regions=regions, ignore_checks=TRANSLATED_IGNORED_CHECKS)
    matches: list[Any] = lint(json.dumps(document), config=config)
    # The transform itself reads DeploymentType (it writes the deployment group's config name from the
    # value CloudFormation passes it), so the translated template no longer mentions it.
    return [m for m in matches if not (m.rule.id == "W2001" and "DeploymentType" in str(m))]


def test_translated_template_lints_clean(translated: dict[str, Any]) -> None:
    assert _describe(_lint_translated(translated, REGIONS)) == []


def test_translated_lint_catches_a_misspelled_action(translated: dict[str, Any]) -> None:
    broken = copy.deepcopy(translated)
    document = broken["Resources"]["GetIntentFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    document["Statement"][0]["Action"] = ["dynamodb:GetItems"]
    matches = _lint_translated(broken, ["us-east-1"])
    assert [m.rule.id for m in matches] == ["W3037"]


def test_translate_leaves_its_input_alone(template: dict[str, Any], translated: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["CodeUri"] == "src/"
    assert "AWS::Serverless::Function" in {res["Type"] for res in template["Resources"].values()}
    assert load_template(TEMPLATE_PATH) == template


def test_translation_needs_a_region(template: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(ValueError, match="AWS_DEFAULT_REGION"):
        translate(template)


# API Gateway gives up on an HTTP API integration after 30 seconds.
API_INTEGRATION_TIMEOUT_SECONDS = 30


def test_functions_are_translated_with_the_global_settings(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    declared = functions(template)
    translated_functions = _resources(translated, "AWS::Lambda::Function")
    assert set(translated_functions) == set(declared)
    globals_ = _globals(template)
    common_env = globals_["Environment"]["Variables"]
    assert {"INTENTS_TABLE", "TRANSACTIONS_TABLE", "IDEMPOTENCY_TABLE", "STAGE"} <= common_env.keys()
    for logical_id, own in declared.items():
        props = translated_functions[logical_id]["Properties"]
        assert props["FunctionName"] == own["FunctionName"]
        assert props["Handler"] == own["Handler"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == 512
        assert props["Timeout"] == own.get("Timeout", globals_["Timeout"])
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Code"] == {"S3Bucket": "payments-artifacts", "S3Key": "code.zip"}
        env = props["Environment"]["Variables"]
        assert env.items() >= common_env.items(), logical_id
        # Tracing stays on in AWS; only the local runtime turns it off.
        assert "POWERTOOLS_TRACE_DISABLED" not in env


def test_every_function_is_named_as_the_deployment_roles_and_codedeploy_expect(
    template: dict[str, Any],
) -> None:
    assert _function_name_problems(template) == []
    broken = copy.deepcopy(template)
    broken["Resources"]["GetIntentFunction"]["Properties"]["FunctionName"] = {
        "Fn::Sub": "get-intent-${Stage}"
    }
    hook = next(iter(deployment_hooks(broken)))
    name = broken["Resources"][hook]["Properties"]["FunctionName"]["Fn::Sub"]
    broken["Resources"][hook]["Properties"]["FunctionName"] = {
        "Fn::Sub": name.removeprefix("CodeDeployHook_")
    }
    assert [problem.split(":")[0] for problem in _function_name_problems(broken)] == sorted(
        ["GetIntentFunction", hook], key=list(functions(broken)).index
    )


def test_every_handler_is_a_function_its_module_defines(template: dict[str, Any]) -> None:
    """Read from the source, not imported: a handler that names a module or a function that is not
    there fails here rather than at the first invocation in AWS."""
    problems = []
    for logical_id, properties in functions(template).items():
        handler = properties["Handler"]
        path = module_path(handler_module(handler))
        if not path.is_file():
            problems.append(f"{logical_id}: no module {path.relative_to(ROOT)}")
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {
            node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        defined |= {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        if handler.rpartition(".")[2] not in defined:
            problems.append(f"{logical_id}: {handler} is not defined in {path.relative_to(ROOT)}")
    assert problems == []


def test_what_the_api_and_other_functions_wait_for_answers_within_the_api_timeout(
    template: dict[str, Any],
) -> None:
    """A function a caller waits on (a route, the authorizer, one function calling another) has the
    global timeout: well inside API Gateway's 30 seconds. Longer timeouts are for work nothing waits on."""
    globals_ = _globals(template)
    callers = synchronous_callers(template)
    api_ids = set(_resources(template, "AWS::Serverless::HttpApi"))
    for logical_id, properties in functions(template).items():
        waited_on_by = callers.get(logical_id, set()) - set(_resources(template, STATE_MACHINE))
        if waited_on_by:
            assert properties.get("Timeout", globals_["Timeout"]) == globals_["Timeout"], logical_id
    assert globals_["Timeout"] < API_INTEGRATION_TIMEOUT_SECONDS
    assert api_ids <= {caller for callers_of in callers.values() for caller in callers_of}


def test_only_authorize_reserves_concurrency(translated: dict[str, Any]) -> None:
    reserved = {
        name: res["Properties"]["ReservedConcurrentExecutions"]
        for name, res in _resources(translated, "AWS::Lambda::Function").items()
        if "ReservedConcurrentExecutions" in res["Properties"]
    }
    assert reserved == {"AuthorizeFunction": {"Ref": "AuthorizeReservedConcurrency"}}


def test_function_specific_environment(translated: dict[str, Any]) -> None:
    functions = _resources(translated, "AWS::Lambda::Function")
    authorize = functions["AuthorizeFunction"]["Properties"]["Environment"]["Variables"]
    assert authorize["FRAUD_FUNCTION_NAME"] == {"Ref": "FraudCheckFunctionAliaslive"}
    assert authorize["GATEWAY_BASE_URL"] == {"Ref": "GatewayBaseUrl"}
    assert authorize["GATEWAY_TIMEOUT_SECONDS"] == {"Ref": "GatewayTimeoutSeconds"}
    fraud = functions["FraudCheckFunction"]["Properties"]["Environment"]["Variables"]
    assert fraud["FRAUD_VELOCITY_TABLE"] == {"Ref": "FraudVelocityTable"}
    assert fraud["FRAUD_STEP_UP_SCORE"] == {"Ref": "FraudStepUpScore"}
    assert fraud["FRAUD_BLOCK_SCORE"] == {"Ref": "FraudBlockScore"}
    assert fraud["FRAUD_BLOCKLIST"] == {"Ref": "FraudBlocklist"}


def test_each_function_has_its_own_role(translated: dict[str, Any]) -> None:
    functions = _resources(translated, "AWS::Lambda::Function")
    roles = _resources(translated, "AWS::IAM::Role")
    used = [res["Properties"]["Role"] for res in functions.values()]
    assert all(role.keys() == {"Fn::GetAtt"} and role["Fn::GetAtt"][1] == "Arn" for role in used)
    role_ids = [role["Fn::GetAtt"][0] for role in used]
    function_roles = set(roles) - {"CheckoutStateMachineRole", "CodeDeployServiceRole"}
    assert len(set(role_ids)) == len(functions) == len(function_roles)
    assert set(role_ids) == function_roles


def test_api_routes_reach_their_functions(template: dict[str, Any], translated: dict[str, Any]) -> None:
    apis = _resources(translated, "AWS::ApiGatewayV2::Api")
    assert set(apis) == {"PaymentsApi"}
    paths = apis["PaymentsApi"]["Properties"]["Body"]["paths"]
    routes = {
        (method.upper(), path): operation["x-amazon-apigateway-integration"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    expected = http_routes(template)
    assert expected
    assert set(routes) == set(expected)
    for route, logical_id in expected.items():
        integration = routes[route]
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        # The API calls the `live` alias, which a deployment moves as a canary.
        assert f"${{{logical_id}Aliaslive}}" in integration["uri"]["Fn::Sub"]
    permissions = _resources(translated, "AWS::Lambda::Permission")
    allowed = {
        res["Properties"]["FunctionName"]["Ref"]
        for res in permissions.values()
        if res["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    # API Gateway may call each route's function, and the authorizer: their `live` aliases only.
    assert allowed == {
        f"{logical_id}Aliaslive" for logical_id in [*expected.values(), "ApiAuthorizerFunction"]
    }


def test_each_route_takes_the_authorizer_its_event_declares(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """The API's default is the merchant key's authorizer; a route opts out with `Auth: {Authorizer:
    NONE}` (which routes may is the OpenAPI spec's to say: test_openapi.py)."""
    body = _resources(translated, "AWS::ApiGatewayV2::Api")["PaymentsApi"]["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["MerchantApiKeys"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["identitySource"] == ["$request.header.Authorization"]
    assert authorizer["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["enableSimpleResponses"] is True
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    assert "ApiAuthorizerFunctionAliaslive" in json.dumps(authorizer["authorizerUri"])
    opted_out = {route for route, logical_id in http_routes(template).items() if _route_auth(template, route)}
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            # SAM writes `Authorizer: NONE` as the NONE scheme, which API Gateway reads as no authorizer.
            open_route = (method.upper(), path) in opted_out
            expected = [{"NONE": []}] if open_route else [{"MerchantApiKeys": []}]
            assert operation.get("security") == expected, (method, path)


def _route_auth(template: dict[str, Any], route: tuple[str, str]) -> dict[str, Any] | None:
    """The `Auth` a route's HttpApi event declares, if any."""
    properties = functions(template)[http_routes(template)[route]]
    for event in properties.get("Events", {}).values():
        if (
            event["Type"] == "HttpApi"
            and (str(event["Properties"]["Method"]).upper(), event["Properties"]["Path"]) == route
        ):
            auth: dict[str, Any] | None = event["Properties"].get("Auth")
            return auth
    raise AssertionError(f"no event declares {route}")


def test_api_stage_logs_access_as_json_and_throttles(translated: dict[str, Any]) -> None:
    (stage,) = _resources(translated, "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["ApiId"] == {"Ref": "PaymentsApi"}
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["PaymentsApiAccessLogs", "Arn"]}
    log_format = props["AccessLogSettings"]["Format"]["Fn::Sub"]
    # Status and latency are numbers, so the log's metric filters can compare them.
    sample = log_format.replace("$context.status", "502").replace("$context.responseLatency", "31")
    fields = json.loads(sample.replace("${Stage}", "dev"))
    assert {"requestId", "status", "routeKey", "stage"} <= fields.keys()
    assert (fields["status"], fields["responseLatency"], fields["stage"]) == (502, 31, "dev")
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${PaymentsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }
    for table in TABLES:
        assert outputs[f"{table}Name"]["Value"] == {"Ref": table}
    # What a processor delivering settlement files is given (docs/settlements.md)
    assert outputs["SettlementsBucketName"]["Value"] == {"Ref": "SettlementsBucket"}
    assert outputs["DataKeyArn"]["Value"] == {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]}


def _log_group_problems(document: dict[str, Any], function_type: str) -> list[str]:
    """Functions whose logs do not go to an explicit log group of their own with a retention."""
    log_groups = _resources(document, "AWS::Logs::LogGroup")
    problems = []
    functions = _resources(document, function_type)
    if not functions:
        problems.append(f"no {function_type} resources")
    for name, res in functions.items():
        target = res["Properties"].get("LoggingConfig", {}).get("LogGroup")
        group = log_groups.get(str(target.get("Ref"))) if isinstance(target, dict) else None
        if group is None:
            problems.append(f"{name}: LoggingConfig.LogGroup is not a Ref to a log group: {target!r}")
            continue
        group_props = group.get("Properties", {})
        if "RetentionInDays" not in group_props:
            problems.append(f"{name}: log group {target['Ref']} keeps logs forever")
        function_name = res["Properties"].get("FunctionName", {}).get("Fn::Sub", "")
        if group_props.get("LogGroupName") != {"Fn::Sub": f"/aws/lambda/{function_name}"}:
            problems.append(f"{name}: log group {target['Ref']} is not named after the function")
    return problems


def _statements(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement with its owner: a function's, state machine's or role's inline policies and
    the stack's managed policies it names (and each managed policy's own, under its id)."""
    return statements(document)


_as_list = as_list


def _wildcard_problems(statements: Iterator[tuple[str, dict[str, Any]]]) -> list[str]:
    problems = []
    for name, statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{name}: NotAction/NotResource grants everything else")
        problems += [
            f"{name}: wildcard action {action!r}"
            for action in _as_list(statement.get("Action", []))
            if not isinstance(action, str) or "*" in action
        ]
        allowed = any(
            name.startswith(owner) and statement.get("Sid") == sid
            for owner, sid in WILDCARD_RESOURCES_ALLOWED
        )
        problems += [
            f"{name}: wildcard resource {resource!r}"
            for resource in _as_list(statement.get("Resource", []))
            if resource == "*" and not allowed
        ]
    return problems


def test_every_function_logs_to_its_own_log_group_with_retention(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    assert _log_group_problems(template, "AWS::Serverless::Function") == []
    assert _log_group_problems(translated, "AWS::Lambda::Function") == []
    for res in _resources(template, "AWS::Logs::LogGroup").values():
        assert res["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_log_group_guard_catches_a_function_without_one(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    del broken["Resources"]["GetIntentFunction"]["Properties"]["LoggingConfig"]
    del broken["Resources"]["AuthorizeLogGroup"]["Properties"]["RetentionInDays"]
    problems = _log_group_problems(broken, "AWS::Serverless::Function")
    assert len(problems) == 2, problems


def test_no_iam_statement_uses_wildcards(template: dict[str, Any], translated: dict[str, Any]) -> None:
    sam_statements = list(_statements(template))
    translated_statements = list(_statements(translated))
    # Every function has a policy, so an empty list would mean the guard looked nowhere.
    owners = {
        *functions(template),
        *_resources(template, STATE_MACHINE),
        *_resources(template, MANAGED_POLICY),
    }
    assert {name for name, _ in sam_statements} == owners
    assert len(translated_statements) >= len(sam_statements)
    assert _wildcard_problems(iter(sam_statements)) == []
    assert _wildcard_problems(iter(translated_statements)) == []


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:::table/t"},
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "*"], "Resource": "arn:aws:dynamodb:::table/t"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
        {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": ["arn:aws:dynamodb:::table/t"]},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:dynamodb:::table/t"},
    ],
)
def test_wildcard_guard_catches(statement: dict[str, Any]) -> None:
    assert _wildcard_problems(iter([("Fn", statement)])) != []


def _policy_grants(template: dict[str, Any], function: str) -> set[tuple[str, str]]:
    grants = set()
    for name, statement in _statements(template):
        if name == function:
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    grants.add((action, json.dumps(resource, sort_keys=True)))
    return grants


def _arn(table: str) -> str:
    return json.dumps({"Fn::GetAtt": [table, "Arn"]}, sort_keys=True)


DATA_KEY_GRANTS = {(f"kms:{action}", _arn("PaymentsDataKey")) for action in ("GenerateDataKey", "Decrypt")}
# The tables are encrypted with the data key, and DynamoDB uses it with the caller's permissions: what
# AWS lists as DynamoDB's minimum on a customer-managed key, but CreateGrant (the deploying role's).
TABLES_KEY_ACTIONS = frozenset(
    f"kms:{action}"
    for action in (
        "Encrypt",
        "Decrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "DescribeKey",
    )
)
TABLES_KEY_GRANTS = {(action, _arn("PaymentsDataKey")) for action in TABLES_KEY_ACTIONS}


def test_the_tables_key_statement_is_written_once(template: dict[str, Any]) -> None:
    """One managed policy holds it; every function that reaches a table names that policy (the check
    below), and no inline policy spells the statement out again."""
    key = _arn("PaymentsDataKey")
    holders = [
        name
        for name, res in template["Resources"].items()
        if res["Type"] == MANAGED_POLICY
        and any(
            {
                (action, json.dumps(resource, sort_keys=True))
                for action in as_list(s["Action"])
                for resource in as_list(s["Resource"])
            }
            >= TABLES_KEY_GRANTS
            for s in as_list(res["Properties"]["PolicyDocument"]["Statement"])
        )
    ]
    assert holders == ["TablesKeyPolicy"]
    inline_copies = [
        name
        for name, res in template["Resources"].items()
        for policy in res.get("Properties", {}).get("Policies", []) or []
        if isinstance(policy, dict) and "Statement" in policy
        for statement in as_list(policy["Statement"])
        if set(as_list(statement.get("Action", []))) >= TABLES_KEY_ACTIONS
        and key in json.dumps(statement, sort_keys=True)
    ]
    assert inline_copies == []
    policy = template["Resources"]["TablesKeyPolicy"]["Properties"]
    # Named by the functions (a Ref in their Policies), never attached by the policy itself: the SAM
    # transform writes the attachment into each function's role, and the local runtime reads it there.
    assert not {"Roles", "Users", "Groups"} & policy.keys()


# Every table, with the stack's customer-managed key (not the AWS-managed aws/dynamodb).
TABLE_ENCRYPTION = {
    "SSEEnabled": True,
    "SSEType": "KMS",
    "KMSMasterKeyId": {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]},
}


def test_every_table_is_encrypted_and_on_demand(template: dict[str, Any]) -> None:
    tables = _resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == set(TABLES) | set(COMPOSITE_KEY_TABLES)
    for name, res in tables.items():
        props = res["Properties"]
        assert props["SSESpecification"] == TABLE_ENCRYPTION, name
        assert props["BillingMode"] == "PAY_PER_REQUEST", name


def _tables_key_problems(document: dict[str, Any]) -> list[str]:
    """Tables not encrypted with the data key, and roles that reach a table but may not use that key."""
    problems = []
    tables = _resources(document, "AWS::DynamoDB::Table")
    if not tables:
        problems.append("no tables")
    problems += [
        f"{name}: not encrypted with the data key: {res['Properties'].get('SSESpecification')!r}"
        for name, res in tables.items()
        if res["Properties"].get("SSESpecification") != TABLE_ENCRYPTION
    ]
    reaching: set[str] = set()
    on_the_key: dict[str, set[str]] = {}
    for name, statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(action) for action in _as_list(statement["Action"])]
        if any(action.startswith("dynamodb:") for action in actions):
            reaching.add(name)
        if TABLE_ENCRYPTION["KMSMasterKeyId"] in _as_list(statement["Resource"]):
            on_the_key.setdefault(name, set()).update(a for a in actions if a.startswith("kms:"))
    # SAM's DynamoDB policy templates (DynamoDBCrudPolicy and the like) reach tables too.
    for name, res in document["Resources"].items():
        policies = res.get("Properties", {}).get("Policies", [])
        if any(isinstance(p, dict) and any(str(k).startswith("DynamoDB") for k in p) for p in policies):
            reaching.add(name)
    if not reaching:
        problems.append("no role reaches a table")
    for name in sorted(reaching):
        missing = TABLES_KEY_ACTIONS - on_the_key.get(name, set())
        if missing:
            problems.append(f"{name}: reaches a table but may not {sorted(missing)} with the data key")
    return problems


def _may_hold(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every statement a policy may hold: a conditional one (`Fn::If` [condition, statement, NoValue])
    as its statement."""
    return [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]


def test_every_table_is_encrypted_with_the_data_key_and_whatever_reaches_one_may_use_it(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """Derived from the template: functions, the state machine, and the roles SAM writes for them."""
    assert _tables_key_problems(template) == []
    assert _tables_key_problems(translated) == []
    # The key policy leaves its use to IAM (the roles' statements above): nothing in it stops DynamoDB.
    statements = _may_hold(template["Resources"]["PaymentsDataKey"]["Properties"]["KeyPolicy"]["Statement"])
    (account,) = [s for s in statements if s["Sid"] == "AccountAdministers"]
    assert account["Action"] == "kms:*"
    assert "Condition" not in account
    assert all(s["Effect"] == "Allow" for s in statements)
    # Retained tables encrypted with a deleted key could not be read: the key is retained with them.
    key = template["Resources"]["PaymentsDataKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_every_bucket_queue_and_topic_is_encrypted_with_the_data_key(template: dict[str, Any]) -> None:
    key_arn = {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]}
    buckets = _resources(template, "AWS::S3::Bucket")
    assert buckets
    for name, bucket in buckets.items():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        assert default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}, name
    queues_and_topics = {**_resources(template, "AWS::SQS::Queue"), **_resources(template, "AWS::SNS::Topic")}
    assert queues_and_topics
    for name, res in queues_and_topics.items():
        assert res["Properties"]["KmsMasterKeyId"] == {"Ref": "PaymentsDataKeyAlias"}, name


def test_tables_key_guard_catches_a_table_or_a_role_without_the_key(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["LedgerTable"]["Properties"]["SSESpecification"] = {"SSEEnabled": True}
    policies = broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"]
    policies[:] = [p for p in policies if p != {"Ref": "TablesKeyPolicy"}]
    broken["Resources"]["EmailTemplatesFunction"]["Properties"]["Policies"].append(
        {"DynamoDBReadPolicy": {"TableName": {"Ref": "LedgerTable"}}}
    )
    problems = _tables_key_problems(broken)
    assert [problem.split(":")[0] for problem in problems] == [
        "LedgerTable",
        "EmailTemplatesFunction",
        "GetIntentFunction",
    ], problems


def _not_retained(document: dict[str, Any]) -> list[str]:
    problems = []
    for kind in DATA_TYPES:
        found = _resources(document, kind)
        if not found:
            problems.append(f"no {kind}: the check looked nowhere")
        for name, res in found.items():
            policies = (res.get("DeletionPolicy"), res.get("UpdateReplacePolicy"))
            if policies != ("Retain", "Retain"):
                problems.append(f"{name} ({kind}): DeletionPolicy, UpdateReplacePolicy {policies}")
    return problems


def test_everything_that_holds_data_outlives_the_stack(template: dict[str, Any]) -> None:
    """Tables (the short-lived idempotency records and velocity counters too: dropping them mid-window
    would let a retried request move money twice, or reopen a velocity window), buckets, queues (what
    waits in a dead-letter queue is work not done), the key they are encrypted with, and the webhook
    secret the gateway signs with. A deletion or a replacement leaves them in place."""
    assert _not_retained(template) == []
    broken = copy.deepcopy(template)
    del broken["Resources"]["LedgerDeadLetterQueue"]["UpdateReplacePolicy"]
    broken["Resources"]["WebhookSecret"]["DeletionPolicy"] = "Delete"
    assert [problem.split(" ")[0] for problem in _not_retained(broken)] == [
        "LedgerDeadLetterQueue",
        "WebhookSecret",
    ]


def test_every_table_that_is_not_short_lived_can_be_restored(template: dict[str, Any]) -> None:
    """Point-in-time recovery on every table but those whose items expire by TTL (idempotency records,
    velocity counters), which nothing needs back after a loss."""
    tables = _resources(template, "AWS::DynamoDB::Table")
    lasting = {name for name, res in tables.items() if "TimeToLiveSpecification" not in res["Properties"]}
    assert lasting
    for name in lasting:
        pitr = tables[name]["Properties"].get("PointInTimeRecoverySpecification")
        assert pitr == {"PointInTimeRecoveryEnabled": True}, name


def test_transactions_table_streams_both_images(template: dict[str, Any]) -> None:
    props = template["Resources"]["TransactionsTable"]["Properties"]
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


@pytest.mark.parametrize("table", list(TABLES))
def test_table_names_and_keys(template: dict[str, Any], table: str) -> None:
    prefix, partition_key, by_customer = TABLES[table]
    props = template["Resources"][table]["Properties"]
    assert props["TableName"] == {"Fn::Sub": f"{prefix}-${{Stage}}"}
    assert props["KeySchema"] == [{"AttributeName": partition_key, "KeyType": "HASH"}]
    indexes = {index["IndexName"]: index for index in props.get("GlobalSecondaryIndexes", [])}
    if by_customer:
        assert indexes["by-customer"]["KeySchema"] == [
            {"AttributeName": "customerId", "KeyType": "HASH"},
            {"AttributeName": "createdAt", "KeyType": "RANGE"},
        ]
        assert indexes["by-customer"]["Projection"] == {"ProjectionType": "ALL"}
    elif table in {"LedgerTable", "EventsTable"}:
        sort_key = "createdAt" if table == "LedgerTable" else "occurredAt"
        assert indexes["by-payment"]["KeySchema"] == [
            {"AttributeName": "paymentIntentId", "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ]
    else:
        assert indexes == {}


@pytest.mark.parametrize("table", list(COMPOSITE_KEY_TABLES))
def test_composite_key_tables(template: dict[str, Any], table: str) -> None:
    prefix, partition_key, sort_key = COMPOSITE_KEY_TABLES[table]
    props = template["Resources"][table]["Properties"]
    assert props["TableName"] == {"Fn::Sub": f"{prefix}-${{Stage}}"}
    assert props["KeySchema"] == [
        {"AttributeName": partition_key, "KeyType": "HASH"},
        {"AttributeName": sort_key, "KeyType": "RANGE"},
    ]
    indexes = props.get("GlobalSecondaryIndexes", [])
    if table in COMPOSITE_KEY_INDEXES:
        name, index_partition, index_sort = COMPOSITE_KEY_INDEXES[table]
        assert indexes == [
            {
                "IndexName": name,
                "KeySchema": [
                    {"AttributeName": index_partition, "KeyType": "HASH"},
                    {"AttributeName": index_sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    else:
        assert indexes == []


# Lambda invokes these asynchronously and drops an event after its retries unless the function has
# somewhere to keep it: each kind of event has its dead-letter queue (the ledger has one of its own).
ASYNC_EVENT_QUEUES = {
    "SNS": "SubscribersDeadLetterQueue",
    "S3": "FileEventsDeadLetterQueue",
    "Schedule": "FileEventsDeadLetterQueue",
}
OWN_DEAD_LETTER_QUEUES = {"LedgerFunction": "LedgerDeadLetterQueue"}


def test_every_function_invoked_asynchronously_keeps_what_it_could_not_handle(
    template: dict[str, Any],
) -> None:
    checked = 0
    for logical_id, properties in functions(template).items():
        kinds = {event["Type"] for event in properties.get("Events", {}).values()} & set(ASYNC_EVENT_QUEUES)
        if not kinds:
            continue
        checked += 1
        (queue,) = {OWN_DEAD_LETTER_QUEUES.get(logical_id) or ASYNC_EVENT_QUEUES[kind] for kind in kinds}
        assert properties["DeadLetterQueue"] == {
            "Type": "SQS",
            "TargetArn": {"Fn::GetAtt": [queue, "Arn"]},
        }, logical_id
        # The queue is KMS-encrypted, so the function's role may use the data key to write to it.
        assert template["Resources"][queue]["Properties"]["KmsMasterKeyId"] == {"Ref": "PaymentsDataKeyAlias"}
        assert _policy_grants(template, logical_id) >= DATA_KEY_GRANTS, logical_id
    assert checked


def test_refund_jobs_are_fifo_with_a_dead_letter_queue_and_an_alarm(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["RefundJobsQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RefundJobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "RefundJobsMaxReceives"},
    }
    assert template["Parameters"]["RefundJobsMaxReceives"]["Default"] == 3
    assert resources["RefundJobsDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    alarm = resources["RefundJobsDeadLetterAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RefundJobsDeadLetterQueue", "QueueName"]}}
    ]
    worker = resources["RefundJobsWorkerFunction"]["Properties"]
    (jobs,) = worker["Events"].values()
    assert jobs["Properties"]["BatchSize"] == 10
    assert jobs["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # The job stays hidden at least as long as the worker may run on it
    assert template["Parameters"]["RefundJobsVisibilityTimeout"]["Default"] >= 6 * worker["Timeout"]


def test_the_ledger_subscribes_to_every_event_and_keeps_what_fails(template: dict[str, Any]) -> None:
    props = template["Resources"]["LedgerFunction"]["Properties"]
    (subscription,) = props["Events"].values()
    assert subscription["Type"] == "SNS"
    assert subscription["Properties"] == {"Topic": {"Ref": "PaymentEventsTopic"}}  # no filter: all events
    assert props["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["LedgerDeadLetterQueue", "Arn"]},
    }


@pytest.mark.parametrize(
    ("table", "attribute"),
    [
        ("IdempotencyTable", "expiration"),
        ("FraudVelocityTable", "expiresAt"),
        ("WebhookEventsTable", "expiresAt"),
        ("WebhookDeliveriesTable", "expiresAt"),
    ],
)
def test_ttl_attributes(template: dict[str, Any], table: str, attribute: str) -> None:
    ttl = template["Resources"][table]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": attribute, "Enabled": True}


def test_sam_functions_declare_their_routes_on_the_shared_api(template: dict[str, Any]) -> None:
    """One API; each route's function serves that route alone; a route may only opt out of the
    authorizer (the OpenAPI spec says which: test_openapi.py)."""
    (api_id,) = _resources(template, "AWS::Serverless::HttpApi")
    for logical_id, properties in functions(template).items():
        events = [event for event in properties.get("Events", {}).values() if event["Type"] == "HttpApi"]
        assert len(events) <= 1, logical_id
        for event in events:
            declared = dict(event["Properties"])
            auth = declared.pop("Auth", None)
            assert auth in (None, {"Authorizer": "NONE"}), logical_id
            assert declared.keys() == {"ApiId", "Method", "Path"}, logical_id
            assert declared["ApiId"] == {"Ref": api_id}, logical_id
            assert str(declared["Path"]).startswith("/v1/"), logical_id


def test_ops_alerts_subscribe_to_the_ops_topic(template: dict[str, Any]) -> None:
    events = template["Resources"]["OpsAlertsFunction"]["Properties"]["Events"]
    assert events["OpsAlerts"] == {"Type": "SNS", "Properties": {"Topic": {"Ref": "OpsAlertsTopic"}}}
    # The document's filter: disputes, on any amount tier but LOW.
    assert events["Disputes"] == {
        "Type": "SNS",
        "Properties": {
            "Topic": {"Ref": "PaymentEventsTopic"},
            "FilterPolicy": {"eventType": ["DISPUTED"], "amountTier": [{"anything-but": "LOW"}]},
        },
    }


def test_fraud_feedback_hears_authorizations_only(template: dict[str, Any]) -> None:
    [event] = template["Resources"]["FraudFeedbackFunction"]["Properties"]["Events"].values()
    assert event["Properties"]["Topic"] == {"Ref": "PaymentEventsTopic"}
    assert event["Properties"]["FilterPolicy"] == {"eventType": ["AUTHORIZED"]}


def test_the_analytics_queue_receives_every_event(template: dict[str, Any]) -> None:
    subscription = template["Resources"]["AnalyticsSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "PaymentEventsTopic"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["AnalyticsQueue", "Arn"]}
    assert "FilterPolicy" not in subscription


def test_parameter_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["Stage"]["Default"] == "dev"
    assert params["Stage"]["AllowedPattern"] == "^[a-z0-9-]{1,16}$"
    assert params["GatewayBaseUrl"]["Default"] == "https://gateway.sandbox.invalid"
    assert params["GatewayTimeoutSeconds"]["Type"] == "String"
    assert params["GatewayTimeoutSeconds"]["Default"] == "1.0"
    assert params["AuthorizeReservedConcurrency"]["Default"] == 100
    assert params["LogRetentionDays"]["Default"] == 30
    assert 30 in params["LogRetentionDays"]["AllowedValues"]
    assert params["FraudStepUpScore"]["Default"] == 40
    assert params["FraudBlockScore"]["Default"] == 80
    assert params["FraudBlocklist"]["Default"] == ""


def test_settlement_files_are_kept_seven_years_encrypted_versioned_and_over_tls(
    template: dict[str, Any],
) -> None:
    bucket = template["Resources"]["SettlementsBucket"]
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    [encryption] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]},
    }
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["Transitions"] == [{"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 90}]
    assert rule["ExpirationInDays"] == 2555
    assert all(props["PublicAccessBlockConfiguration"].values())
    statements = {
        s["Sid"]: s
        for s in template["Resources"]["SettlementsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::If" not in s  # the processor's, when there is one: below
    }
    assert statements["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyUnencryptedPuts"]["Condition"] == {
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    assert all(s["Effect"] == "Deny" for s in statements.values())


def test_pyarrow_ships_only_with_the_settlement_functions(template: dict[str, Any]) -> None:
    layered = {
        name
        for name, res in _resources(template, "AWS::Serverless::Function").items()
        if "Layers" in res["Properties"]
    }
    assert layered == {"SettlementEnricherFunction", "SettlementReconcilerFunction"}
    layer = template["Resources"]["SettlementLayer"]
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    requirements = (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").read_text()
    pinned = {
        line for line in (ROOT / "requirements.lock").read_text().splitlines() if line.startswith("pyarrow==")
    }
    assert {line for line in requirements.splitlines() if line and not line.startswith("#")} == pinned
    # ... and nothing the API path imports pulls it in.
    assert "pyarrow" not in (ROOT / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]


DATA_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SETTLEMENTS_ARN = "arn:aws:s3:::payments-settlements-123456789012-dev"
PROCESSOR_ROLE = "arn:aws:iam::210987654321:role/settlement-delivery"


def _settlement_policies(principal: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The settlements bucket's policy and the data key's policy as deployed with this processor."""
    from payments.local.template import Template  # noqa: PLC0415

    stack = Template.load(
        TEMPLATE_PATH, stack_name="payments", parameters={"SettlementProcessorPrincipal": principal}
    )
    stack.attributes[("PaymentsDataKey", "Arn")] = DATA_KEY_ARN
    bucket = stack.resolve(stack.resources["SettlementsBucketPolicy"]["Properties"]["PolicyDocument"])
    key = stack.resolve(stack.resources["PaymentsDataKey"]["Properties"]["KeyPolicy"])
    return bucket["Statement"], key["Statement"]


@pytest.mark.parametrize("principal", [PROCESSOR_ROLE, "210987654321"])
def test_the_settlement_processor_may_put_files_under_raw_with_the_data_key_and_nothing_else(
    principal: str,
) -> None:
    bucket, key = _settlement_policies(principal)

    [put] = [s for s in bucket if s.get("Principal") == {"AWS": principal}]
    assert put == {
        "Sid": "ProcessorPutsRawFiles",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": "s3:PutObject",
        "Resource": f"{SETTLEMENTS_ARN}/raw/*",
        "Condition": {
            "StringEquals": {
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": DATA_KEY_ARN,
            }
        },
    }
    # ... and the bucket's denials (no TLS, no KMS header) still apply to it, as to everyone
    assert {s["Sid"] for s in bucket if s["Effect"] == "Deny"} == {
        "DenyInsecureTransport",
        "DenyUnencryptedPuts",
    }

    [encrypt] = [s for s in key if s.get("Principal") == {"AWS": principal}]
    assert encrypt["Sid"] == "ProcessorEncryptsSettlementFiles"
    assert (encrypt["Effect"], encrypt["Resource"]) == ("Allow", "*")
    assert sorted(encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]  # Decrypt: multipart
    assert encrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [SETTLEMENTS_ARN, f"{SETTLEMENTS_ARN}/raw/*"]},
    }


def test_without_a_settlement_processor_no_one_outside_the_stack_may_write_settlement_files(
    template: dict[str, Any],
) -> None:
    assert template["Parameters"]["SettlementProcessorPrincipal"]["Default"] == ""
    bucket, key = _settlement_policies("")

    assert all(s["Effect"] == "Deny" for s in bucket)
    assert "ProcessorEncryptsSettlementFiles" not in {s["Sid"] for s in key}
    assert [s["Sid"] for s in key if "AWS" in s["Principal"]] == ["AccountAdministers"]


def test_the_gateway_is_told_the_data_keys_arn_which_another_account_can_name(
    template: dict[str, Any],
) -> None:
    # An alias resolves in the caller's account, and the processor's put must name this very key
    variables = template["Resources"]["RequestSettlementFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["DATA_KEY_ARN"] == {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]}
    source = (ROOT / "src/payments/functions/request_settlement.py").read_text()
    assert "kms_key=config.data_key_arn" in source


@pytest.mark.parametrize(
    ("principal", "accepted"),
    [
        ("", True),
        ("210987654321", True),
        (PROCESSOR_ROLE, True),
        ("arn:aws-us-gov:iam::210987654321:role/delivery/settlements", True),
        ("*", False),
        ("21098765432", False),
        ("arn:aws:iam::210987654321:user/someone", False),
        ("arn:aws:iam::210987654321:role/*", False),
    ],
)
def test_the_settlement_processor_is_an_account_id_or_a_role_arn(
    template: dict[str, Any], principal: str, accepted: bool
) -> None:
    import re  # noqa: PLC0415

    pattern = template["Parameters"]["SettlementProcessorPrincipal"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, principal)) is accepted


def test_the_hourly_settlement_and_its_s3_chain(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    schedule = resources["RequestSettlementFunction"]["Properties"]["Events"]["Hourly"]
    assert schedule == {"Type": "Schedule", "Properties": {"Schedule": "cron(5 * * * ? *)"}}
    for function, prefix in (
        ("SettlementEnricherFunction", "raw/"),
        ("SettlementReconcilerFunction", "enriched/"),
    ):
        [event] = resources[function]["Properties"]["Events"].values()
        assert event["Properties"]["Bucket"] == {"Ref": "SettlementsBucket"}
        assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [
            {"Name": "prefix", "Value": prefix},
            {"Name": "suffix", "Value": ".parquet"},
        ]


def test_api_and_workflow_functions_deploy_as_a_canary_checked_by_hooks_and_alarms(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """What a caller waits on (a route, the authorizer, a workflow task, a function another calls) moves
    to a new version as a canary; the rest (event sources, the custom resource, the hooks) opts out, for
    it has no synchronous caller to canary."""
    groups = _resources(translated, "AWS::CodeDeploy::DeploymentGroup")
    aliases = _resources(translated, "AWS::Lambda::Alias")
    canaried = set(synchronous_callers(template))
    opted_out = {
        logical_id
        for logical_id, properties in functions(template).items()
        if properties.get("DeploymentPreference", {}).get("Enabled") is False
    }
    assert canaried
    assert opted_out
    assert opted_out == set(functions(template)) - canaried
    assert deployment_hooks(template) <= opted_out
    assert {name.removesuffix("DeploymentGroup") for name in groups} == canaried
    hooks = _globals(template)["DeploymentPreference"]["Hooks"]
    for logical_id in canaried:
        group = groups[f"{logical_id}DeploymentGroup"]["Properties"]
        assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "Canary10Percent5Minutes"}
        assert [alarm["Name"] for alarm in group["AlarmConfiguration"]["Alarms"]] == _rollback_alarms(
            template
        )
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        update = aliases[f"{logical_id}Aliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == hooks["PreTraffic"]
        assert update["AfterAllowTrafficHook"] == hooks["PostTraffic"]
    # Every function still has a `live` alias: event sources call it, deployed at once or not.
    assert {name.removesuffix("Aliaslive") for name in aliases} == set(functions(template))


def test_the_workflow_and_authorize_call_live_aliases(template: dict[str, Any]) -> None:
    machine = template["Resources"]["CheckoutStateMachine"]["Properties"]
    definition = (ROOT / machine["DefinitionUri"]).read_text(encoding="utf-8")
    names = set(functions(template))
    tasks = {
        key: value for key, value in machine["DefinitionSubstitutions"].items() if referenced(value) & names
    }
    assert tasks
    assert all(f"${{{key}}}" in definition for key in tasks)
    assert all(value == {"Ref": value["Ref"]} and value["Ref"].endswith(".Alias") for value in tasks.values())
    (invoke,) = [s for s in machine["Policies"][0]["Statement"] if s["Sid"] == "InvokeTasks"]
    assert sorted(invoke["Resource"], key=json.dumps) == sorted(tasks.values(), key=json.dumps)
    authorize = template["Resources"]["AuthorizeFunction"]["Properties"]["Environment"]["Variables"]
    assert authorize["FRAUD_FUNCTION_NAME"] == {"Ref": "FraudCheckFunction.Alias"}


def test_the_canarys_rollback_alarms_are_alarms_of_the_stack_and_documented(template: dict[str, Any]) -> None:
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    rollback = _rollback_alarms(template)
    assert rollback
    assert all(isinstance(alarm, dict) and alarm.keys() == {"Ref"} for alarm in rollback), rollback
    assert {alarm["Ref"] for alarm in rollback} <= set(alarms)
    assert len({alarm["Ref"] for alarm in rollback}) == len(rollback)
    # docs/deploy.md's table of what rolls a deployment back names exactly these.
    deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(payments-[a-z0-9-]+-<stage>)` \| `Payments/", deploy, flags=re.MULTILINE))
    names = {
        sub_text(alarms[alarm["Ref"]]["Properties"]["AlarmName"]).replace("${Stage}", "<stage>")
        for alarm in rollback
    }
    assert listed == names


def test_rollback_alarms_watch_this_stage(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for alarm in (ref["Ref"] for ref in _rollback_alarms(template)):
        props = resources[alarm]["Properties"]
        assert props["Namespace"] == "Payments"
        assert {"Name": "stage", "Value": {"Ref": "Stage"}} in props["Dimensions"]
        assert props["TreatMissingData"] == "notBreaching"
    assert resources["DeclineRateAlarm"]["Properties"]["Threshold"] == {"Ref": "DeclineRateAlarmPercent"}
    assert resources["ApiLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
    # The API's errors and latency come from its access log: metric filters write the metrics.
    filters = {
        props["MetricTransformations"][0]["MetricName"]: props
        for props in (res["Properties"] for res in _resources(template, "AWS::Logs::MetricFilter").values())
    }
    assert filters["ApiServerErrors"]["FilterPattern"] == "{ $.status >= 500 }"
    assert filters["ApiLatency"]["MetricTransformations"][0]["MetricValue"] == "$.responseLatency"
    assert all(props["LogGroupName"] == {"Ref": "PaymentsApiAccessLogs"} for props in filters.values())


@pytest.mark.parametrize(("given", "generated"), [("", True), ("s" * 24, False)])
def test_the_webhook_secret_is_generated_unless_one_is_given(given: str, generated: bool) -> None:
    from payments.local.template import Template  # noqa: PLC0415

    stack = Template.load(TEMPLATE_PATH, stack_name="payments", parameters={"GatewayWebhookSecret": given})
    stack.created["PaymentsDataKey"] = "key-id"  # what the key's creation would have recorded
    properties = stack.resolve(stack.resources["WebhookSecret"]["Properties"])
    assert ("GenerateSecretString" in properties, "SecretString" in properties) == (generated, not generated)
    if not generated:
        assert properties["SecretString"] == given


def test_every_log_group_is_encrypted_with_the_data_key(template: dict[str, Any]) -> None:
    groups = _resources(template, "AWS::Logs::LogGroup")
    assert len(groups) > 40
    assert all(
        g["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]} for g in groups.values()
    )
    statements = _may_hold(template["Resources"]["PaymentsDataKey"]["Properties"]["KeyPolicy"]["Statement"])
    (logs,) = [s for s in statements if s["Sid"] == "LogsEncryptLogGroups"]
    # Only for log groups of this account and region.
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_every_dead_letter_queue_pages_when_anything_waits_in_it(template: dict[str, Any]) -> None:
    queues = {
        logical_id
        for logical_id, resource in _resources(template, "AWS::SQS::Queue").items()
        if "dlq" in json.dumps(resource["Properties"]["QueueName"])
    }
    watched = {
        props["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for props in (res["Properties"] for res in _resources(template, "AWS::CloudWatch::Alarm").values())
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert len(queues) == 6
    assert watched == queues


def _math_alarm_problems(document: dict[str, Any]) -> list[str]:
    """Metric math alarms CloudWatch would refuse (more than 10 metrics, more than 10 expressions, more
    than 20 queries, not exactly one answer), or whose answer leaves out a metric it retrieves."""
    problems = []
    for name, res in _resources(document, "AWS::CloudWatch::Alarm").items():
        queries = res["Properties"].get("Metrics")
        if queries is None:
            continue
        metrics = [q["Id"] for q in queries if "MetricStat" in q]
        expressions = [q for q in queries if "Expression" in q]
        answers = [q for q in queries if q.get("ReturnData", True)]
        if len(metrics) > ALARM_MAX_METRICS:
            problems.append(f"{name}: {len(metrics)} metrics, CloudWatch takes at most {ALARM_MAX_METRICS}")
        if len(expressions) > ALARM_MAX_EXPRESSIONS or len(queries) > ALARM_MAX_QUERIES:
            problems.append(f"{name}: {len(expressions)} expressions in {len(queries)} queries")
        if len(answers) != 1 or "Expression" not in answers[0]:
            problems.append(f"{name}: the alarm must watch exactly one expression")
            continue
        summed = set(re.findall(r"\b[a-z]\w*\b", answers[0]["Expression"]))
        if set(metrics) - summed:
            problems.append(f"{name}: its expression leaves out {sorted(set(metrics) - summed)}")
    return problems


def test_every_metric_math_alarm_is_one_cloudwatch_accepts(template: dict[str, Any]) -> None:
    assert any(
        "Metrics" in res["Properties"] for res in _resources(template, "AWS::CloudWatch::Alarm").values()
    )
    assert _math_alarm_problems(template) == []


def test_the_metric_math_check_catches_an_alarm_over_the_limit(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    name, alarm = next(
        (name, res)
        for name, res in _resources(broken, "AWS::CloudWatch::Alarm").items()
        if "Metrics" in res["Properties"]
    )
    queries = alarm["Properties"]["Metrics"]
    metric = next(q for q in queries if "MetricStat" in q)
    queries += [{**copy.deepcopy(metric), "Id": f"extra{i}"} for i in range(ALARM_MAX_METRICS)]
    assert _math_alarm_problems(broken) == [
        f"{name}: {len([q for q in queries if 'MetricStat' in q])} metrics, CloudWatch takes at most 10",
        f"{name}: its expression leaves out {sorted(f'extra{i}' for i in range(ALARM_MAX_METRICS))}",
    ]


def _watched_functions(alarm: dict[str, Any], metric_name: str) -> set[str]:
    return {
        query["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for query in alarm["Properties"].get("Metrics", [])
        if "MetricStat" in query
        and query["MetricStat"]["Metric"]["Namespace"] == "AWS/Lambda"
        and query["MetricStat"]["Metric"]["MetricName"] == metric_name
    }


def test_background_functions_errors_and_throttles_page(template: dict[str, Any]) -> None:
    """Every function a stream, topic, queue, file or schedule drives (the alert posters aside: their
    failures land in a DLQ that pages) is in exactly one errors alarm and one throttles alarm. The
    alarms go by area, so that none outgrows CloudWatch's 10 metrics; an area's errors and throttles
    alarms watch the same functions."""
    posters = {"OpsAlertsFunction", "CustomerSuccessFunction"}
    background = {
        logical_id
        for logical_id, properties in functions(template).items()
        if any(
            event["Type"] in {"SNS", "S3", "SQS", "DynamoDB", "Schedule"}
            for event in properties.get("Events", {}).values()
        )
    } - posters
    assert background
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    areas: dict[str, dict[str, set[str]]] = {}
    for metric_name in ("Errors", "Throttles"):
        watched = {name: _watched_functions(alarm, metric_name) for name, alarm in alarms.items()}
        watched = {name: found for name, found in watched.items() if found}
        every = [function for found in watched.values() for function in found]
        assert sorted(every) == sorted(background), metric_name  # each once, none left out
        for name, found in watched.items():
            alarm_name = sub_text(alarms[name]["Properties"]["AlarmName"])
            areas.setdefault(alarm_name.replace(metric_name.lower(), "<metric>"), {})[metric_name] = found
    assert all(area.get("Errors") == area.get("Throttles") for area in areas.values()), areas


def test_the_dashboard_shows_every_business_metric_the_code_emits(template: dict[str, Any]) -> None:
    import re  # noqa: PLC0415

    from payments.local.template import Template  # noqa: PLC0415

    emitted = set(re.findall(r'_emit\("(\w+)"', (ROOT / "src/payments/adapters/emf_metrics.py").read_text()))
    stack = Template.load(TEMPLATE_PATH, stack_name="payments", parameters={"GatewayWebhookSecret": ""})
    body = json.loads(
        stack.resolve(template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"])
    )
    shown = {
        metric[1]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric, list) and metric[0] == "Payments"
    }
    assert len(emitted) == 5
    assert emitted | {"ApiServerErrors", "ApiLatency"} == shown
    # The errors, throttles and p99 of every function, found by name, whatever functions are added.
    searches = [
        metric["expression"]
        for widget in body["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric, dict)
    ]
    assert [expression.split('"')[1] for expression in searches] == ["Errors", "Throttles", "Duration"]
    assert all("payments dev" in expression for expression in searches)  # this stage's functions


def test_alarms_may_use_the_key_of_the_topics_they_notify(template: dict[str, Any]) -> None:
    """An alarm's notification to a topic encrypted with a customer-managed key is dropped unless the
    key lets CloudWatch use it."""
    resources = template["Resources"]
    notified = {
        action["Ref"]
        for alarm in _resources(template, "AWS::CloudWatch::Alarm").values()
        for action in alarm["Properties"].get("AlarmActions", []) + alarm["Properties"].get("OKActions", [])
        if isinstance(action, dict) and "Ref" in action
    }
    assert notified
    statements = resources["PaymentsDataKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) >= {"kms:GenerateDataKey", "kms:Decrypt"}
    for topic in notified:
        assert resources[topic]["Properties"]["KmsMasterKeyId"] == {"Ref": "PaymentsDataKeyAlias"}, topic
