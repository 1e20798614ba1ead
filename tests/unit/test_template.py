"""The application template: it lints, it translates offline, and it keeps the promises others rely on.

The local runtime creates every resource from `template.yaml`, so the logical ids, names, handlers and
environment variables checked here are a contract, not decoration.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint
from cfnlint.config import ManualArgs

from payments.local.cfn_yaml import TemplateError, load_template, parse_template
from payments.local.sam import translate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
# The regions the stack is meant for: each offers every service it uses (SES is not in all regions).
REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]

FUNCTIONS = {
    # logical id: (name, handler, HTTP route or None)
    "CreateIntentFunction": (
        "create-intent",
        "payments.functions.create_intent.handler",
        ("POST", "/v1/payment-intents"),
    ),
    "GetIntentFunction": (
        "get-intent",
        "payments.functions.get_intent.handler",
        ("GET", "/v1/payment-intents/{paymentIntentId}"),
    ),
    "ListCustomerIntentsFunction": (
        "list-customer-intents",
        "payments.functions.list_customer_intents.handler",
        ("GET", "/v1/customers/{customerId}/payment-intents"),
    ),
    "AuthorizeFunction": (
        "authorize",
        "payments.functions.authorize.handler",
        ("POST", "/v1/payment-intents/{paymentIntentId}/authorize"),
    ),
    "FraudCheckFunction": ("fraud-check", "payments.functions.fraud_check.handler", None),
    "ApiAuthorizerFunction": ("api-authorizer", "payments.functions.api_authorizer.handler", None),
    "StartCheckoutFunction": (
        "start-checkout",
        "payments.functions.start_checkout.handler",
        ("POST", "/v1/checkouts"),
    ),
    "GetCheckoutFunction": (
        "get-checkout",
        "payments.functions.get_checkout.handler",
        ("GET", "/v1/checkouts/{trackingId}"),
    ),
    "CheckoutChallengeFunction": (
        "checkout-challenge",
        "payments.functions.checkout_challenge.handler",
        ("POST", "/v1/checkouts/{trackingId}/challenge"),
    ),
    "OpsAlertsFunction": ("ops-alerts", "payments.functions.ops_alerts.handler", None),
    "CaptureIntentFunction": (
        "capture-intent",
        "payments.functions.capture_intent.handler",
        ("POST", "/v1/payment-intents/{paymentIntentId}/capture"),
    ),
    "VoidIntentFunction": (
        "void-intent",
        "payments.functions.void_intent.handler",
        ("POST", "/v1/payment-intents/{paymentIntentId}/void"),
    ),
    "CreateRefundFunction": (
        "create-refund",
        "payments.functions.create_refund.handler",
        ("POST", "/v1/refunds"),
    ),
    "GetRefundFunction": (
        "get-refund",
        "payments.functions.get_refund.handler",
        ("GET", "/v1/refunds/{refundId}"),
    ),
    "EventsPublisherFunction": ("events-publisher", "payments.functions.events_publisher.handler", None),
    "ListEventsFunction": ("list-events", "payments.functions.list_events.handler", ("GET", "/v1/events")),
    "FraudFeedbackFunction": ("fraud-feedback", "payments.functions.fraud_feedback.handler", None),
    "LedgerFunction": ("ledger", "payments.functions.ledger.handler", None),
    "CreateRefundBatchFunction": (
        "create-refund-batch",
        "payments.functions.create_refund_batch.handler",
        ("POST", "/v1/refund-batches"),
    ),
    "GetRefundBatchFunction": (
        "get-refund-batch",
        "payments.functions.get_refund_batch.handler",
        ("GET", "/v1/refund-batches/{batchId}"),
    ),
    "ListRefundBatchFailuresFunction": (
        "list-refund-batch-failures",
        "payments.functions.list_refund_batch_failures.handler",
        ("GET", "/v1/refund-batches/{batchId}/failures"),
    ),
    "RefundBatchSplitterFunction": (
        "refund-batch-splitter",
        "payments.functions.refund_batch_splitter.handler",
        None,
    ),
    "RefundJobsWorkerFunction": ("refund-jobs-worker", "payments.functions.refund_jobs_worker.handler", None),
    "GetIntentLedgerFunction": (
        "get-intent-ledger",
        "payments.functions.get_intent_ledger.handler",
        ("GET", "/v1/payment-intents/{paymentIntentId}/ledger"),
    ),
    "GetLedgerBalancesFunction": (
        "get-ledger-balances",
        "payments.functions.get_ledger_balances.handler",
        ("GET", "/v1/ledger/balances"),
    ),
    "GatewayWebhooksFunction": (
        "gateway-webhooks",
        "payments.functions.gateway_webhooks.handler",
        ("POST", "/v1/webhooks/gateway"),
    ),
    "EmailTemplatesFunction": ("email-templates", "payments.functions.email_templates.handler", None),
    "ReceiptFeedbackFunction": ("receipt-feedback", "payments.functions.receipt_feedback.handler", None),
    "RefundReceiptsFunction": ("refund-receipts", "payments.functions.refund_receipts.handler", None),
    "RequestSettlementFunction": (
        "request-settlement",
        "payments.functions.request_settlement.handler",
        None,
    ),
    "SettlementEnricherFunction": (
        "settlement-enricher",
        "payments.functions.settlement_enricher.handler",
        None,
    ),
    "SettlementReconcilerFunction": (
        "settlement-reconciler",
        "payments.functions.settlement_reconciler.handler",
        None,
    ),
    "ListSettlementReportsFunction": (
        "list-settlement-reports",
        "payments.functions.list_settlement_reports.handler",
        ("GET", "/v1/settlements/reports"),
    ),
    "CustomerSuccessFunction": (
        "customer-success",
        "payments.functions.ops_alerts.customer_success_handler",
        None,
    ),
    "PreTrafficHookFunction": ("pre-traffic", "payments.functions.deploy_hooks.before_allow_traffic", None),
    "PostTrafficHookFunction": ("post-traffic", "payments.functions.deploy_hooks.after_allow_traffic", None),
    **{
        f"Checkout{task}Function": (f"checkout-{name}", f"payments.functions.checkout_tasks.{handler}", None)
        for task, name, handler in (
            ("Validate", "validate", "validate"),
            ("StepUp", "step-up", "step_up"),
            ("Decline", "decline", "decline"),
            ("Authorize", "authorize", "authorize"),
            ("Ledger", "ledger", "record_ledger"),
            ("Compensate", "compensate", "compensate"),
            ("Receipt", "receipt", "send_receipt"),
            ("Audit", "audit", "write_audit"),
            ("RecordFailure", "record-failure", "record_failure"),
            ("Alert", "alert", "alert_ops"),
        )
    },
}

# CodeDeploy's role may invoke only hooks whose names start with CodeDeployHook_.
DEPLOYMENT_HOOKS = {"PreTrafficHookFunction", "PostTrafficHookFunction"}
# Functions off the synchronous payment path: deployed at once, without canary, hooks or alarms.
DEPLOYED_AT_ONCE = {
    "EmailTemplatesFunction",
    "ReceiptFeedbackFunction",
    "RefundReceiptsFunction",
    "CustomerSuccessFunction",
    "OpsAlertsFunction",
    "EventsPublisherFunction",
    "FraudFeedbackFunction",
    "LedgerFunction",
    "RefundBatchSplitterFunction",
    "RefundJobsWorkerFunction",
    "RequestSettlementFunction",
    "SettlementEnricherFunction",
    "SettlementReconcilerFunction",
    *DEPLOYMENT_HOOKS,
}
ROLLBACK_ALARMS = ["DeclineRateAlarm", "ApiErrorsAlarm", "ApiLatencyAlarm", "CheckoutErrorsAlarm"]


def _function_name(logical_id: str, name: str) -> str:
    prefix = "CodeDeployHook_" if logical_id in DEPLOYMENT_HOOKS else ""
    return f"{prefix}payments-{name}-${{Stage}}"


# Statements allowed a "*" resource, each with the reason it cannot name one.
ALLOWED_WILDCARD_RESOURCES = {
    ("CheckoutChallengeFunction", "AnswerCallback"): "task-token calls take no resource ARN",
    ("CheckoutStateMachine", "LogDelivery"): "CloudWatch Logs delivery APIs take no resource ARN",
    ("EmailTemplatesFunction", "EmailTemplates"): "SES v1 template APIs take no resource ARN",
}

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
}
MONEY_TABLES = ("PaymentIntentsTable", "TransactionsTable")
# Tables that must survive the stack: money state, the books, checkouts in flight.
# The running balances have a composite key (currency, account); every other table is keyed by one id.
COMPOSITE_KEY_TABLES = {
    "LedgerBalancesTable": ("ledger-balances", "currency", "account"),
    "RefundBatchesTable": ("refund-batches", "batchId", "item"),
    "SettlementsTable": ("settlements", "pk", "sk"),
}
RETAINED_TABLES = (
    *MONEY_TABLES,
    "LedgerTable",
    "LedgerBalancesTable",
    "CheckoutsTable",
    "EventsTable",
    # Losing it would mail again the addresses that bounced or complained.
    "ReceiptSuppressionsTable",
    # Which movements have settled, and every reconciliation report.
    "SettlementsTable",
    # Who may call the API: losing it would lock every merchant out.
    "ApiKeysTable",
)

COMMON_ENV = {
    "INTENTS_TABLE": {"Ref": "PaymentIntentsTable"},
    "TRANSACTIONS_TABLE": {"Ref": "TransactionsTable"},
    "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "STAGE": {"Ref": "Stage"},
    "POWERTOOLS_SERVICE_NAME": "payments",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_METRICS_NAMESPACE": "Payments",
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
    return {name: res for name, res in document["Resources"].items() if res["Type"] == kind}


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


# Functions whose work takes longer than an API call: the splitter queues a whole file, the worker
# runs ten refunds against the gateway.
LONGER_TIMEOUTS = {
    "RefundBatchSplitterFunction": 300,
    "PreTrafficHookFunction": 60,  # a synthetic payment: three calls to the new versions
    "PostTrafficHookFunction": 120,  # a checkout through the workflow, waited for up to a minute
    "RefundJobsWorkerFunction": 30,
    "EmailTemplatesFunction": 60,  # SES throttles its template APIs to about one call a second
    "RequestSettlementFunction": 60,  # the gateway builds the hour's file before it answers
    "SettlementEnricherFunction": 120,  # a file of tens of thousands of rows
    "SettlementReconcilerFunction": 120,
}


def test_functions_are_translated_with_the_global_settings(translated: dict[str, Any]) -> None:
    functions = _resources(translated, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for logical_id, (name, handler, _) in FUNCTIONS.items():
        props = functions[logical_id]["Properties"]
        assert props["FunctionName"] == {"Fn::Sub": _function_name(logical_id, name)}
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["MemorySize"] == 512
        assert props["Timeout"] == LONGER_TIMEOUTS.get(logical_id, 10)
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Code"] == {"S3Bucket": "payments-artifacts", "S3Key": "code.zip"}
        env = props["Environment"]["Variables"]
        assert env.items() >= COMMON_ENV.items(), logical_id
        # Tracing stays on in AWS; only the local runtime turns it off.
        assert "POWERTOOLS_TRACE_DISABLED" not in env


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


def test_api_routes_reach_their_functions(translated: dict[str, Any]) -> None:
    apis = _resources(translated, "AWS::ApiGatewayV2::Api")
    assert set(apis) == {"PaymentsApi"}
    paths = apis["PaymentsApi"]["Properties"]["Body"]["paths"]
    routes = {
        (method.upper(), path): operation["x-amazon-apigateway-integration"]
        for path, operations in paths.items()
        for method, operation in operations.items()
    }
    expected = {route: logical_id for logical_id, (_, _, route) in FUNCTIONS.items() if route}
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


def test_every_route_but_the_webhook_needs_a_merchant_api_key(translated: dict[str, Any]) -> None:
    body = _resources(translated, "AWS::ApiGatewayV2::Api")["PaymentsApi"]["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["MerchantApiKeys"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["identitySource"] == ["$request.header.Authorization"]
    assert authorizer["authorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["enableSimpleResponses"] is True
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    assert "ApiAuthorizerFunctionAliaslive" in json.dumps(authorizer["authorizerUri"])
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            # SAM writes `Authorizer: NONE` as the NONE scheme, which API Gateway reads as no authorizer.
            expected = [{"NONE": []}] if path == "/v1/webhooks/gateway" else [{"MerchantApiKeys": []}]
            assert operation.get("security") == expected, (method, path)


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
    """Every inline IAM statement: SAM `Policies` documents, IAM roles' and policies' documents."""
    for name, res in document["Resources"].items():
        props = res.get("Properties", {})
        documents: list[Any] = []
        if res["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::StateMachine"}:
            policies = props.get("Policies", [])
            documents = [p for p in policies if isinstance(p, dict) and "Statement" in p]
        elif res["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif res["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents = [props["PolicyDocument"]]
        for doc in documents:
            statements = doc["Statement"]
            for statement in statements if isinstance(statements, list) else [statements]:
                yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


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
            for owner, sid in ALLOWED_WILDCARD_RESOURCES
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
    # Every function has an inline policy, so an empty list would mean the guard looked nowhere.
    assert {name for name, _ in sam_statements} == {*FUNCTIONS, "CheckoutStateMachine"}
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


def SENDS(template: str) -> set[tuple[str, str]]:  # noqa: N802 (reads as a constant)
    """SendTemplatedEmail from the sender, with the configuration set, of the template's locales only."""
    account = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}"
    return {
        ("ses:SendTemplatedEmail", json.dumps({"Fn::Sub": f"{account}:{resource}"}))
        for resource in (
            "identity/${ReceiptSender}",
            "configuration-set/${ReceiptsConfigurationSet}",
            f"template/{template}-${{Stage}}-*",
        )
    }


def SETTLEMENTS(prefix: str) -> str:  # noqa: N802 (reads as a constant)
    bucket = "arn:${AWS::Partition}:s3:::payments-settlements-${AWS::AccountId}-${Stage}"
    return json.dumps({"Fn::Sub": f"{bucket}/{prefix}/*"})


def INVOKE_ANY_VERSION(*names: str) -> set[tuple[str, str]]:  # noqa: N802 (reads as a constant)
    function = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function"
    return {
        ("lambda:InvokeFunction", json.dumps({"Fn::Sub": f"{function}:payments-{name}-${{Stage}}:*"}))
        for name in names
    }


REPORT_TO_CODEDEPLOY = {
    (
        f"codedeploy:{action}",
        json.dumps(
            {
                "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:"
                "deploymentgroup:${ServerlessDeploymentApplication}/*"
            }
        ),
    )
    for action in ("GetDeployment", "PutLifecycleEventHookExecutionStatus")
}

IDEMPOTENCY_GRANTS = {
    (f"dynamodb:{action}", _arn("IdempotencyTable"))
    for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
}


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            "CreateIntentFunction",
            {("dynamodb:PutItem", _arn("PaymentIntentsTable")), *IDEMPOTENCY_GRANTS},
        ),
        ("GetIntentFunction", {("dynamodb:GetItem", _arn("PaymentIntentsTable"))}),
        (
            "ListCustomerIntentsFunction",
            {
                ("dynamodb:Query", json.dumps({"Fn::Sub": f"${{PaymentIntentsTable.Arn}}/index/{index}"}))
                for index in ("by-customer", "by-merchant-customer")
            },
        ),
        (
            "AuthorizeFunction",
            {
                (f"dynamodb:{action}", _arn(table))
                for action in ("GetItem", "UpdateItem", "PutItem", "ConditionCheckItem")
                for table in MONEY_TABLES
            }
            | IDEMPOTENCY_GRANTS
            | {("lambda:InvokeFunction", json.dumps({"Ref": "FraudCheckFunction.Alias"}))},
        ),
        ("FraudCheckFunction", {("dynamodb:UpdateItem", _arn("FraudVelocityTable"))}),
        # The ledger: one TransactWriteItems per posting (the entry, its balances); reads of the books
        (
            "LedgerFunction",
            {
                ("dynamodb:PutItem", _arn("LedgerTable")),
                ("dynamodb:UpdateItem", _arn("LedgerBalancesTable")),
                *DATA_KEY_GRANTS,
            },
        ),
        (
            "CheckoutLedgerFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:ConditionCheckItem", _arn("PaymentIntentsTable")),
                ("dynamodb:PutItem", _arn("LedgerTable")),
                ("dynamodb:UpdateItem", _arn("LedgerBalancesTable")),
            },
        ),
        # Whose payment it is decides who reads its events or answers its checkout's challenge.
        (
            "ListEventsFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:Query", json.dumps({"Fn::Sub": "${EventsTable.Arn}/index/by-payment"})),
            },
        ),
        (
            "CheckoutChallengeFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:GetItem", _arn("CheckoutsTable")),
                ("dynamodb:UpdateItem", _arn("CheckoutsTable")),
                ("states:SendTaskSuccess", '"*"'),
                ("states:SendTaskFailure", '"*"'),
            },
        ),
        (
            "GetIntentLedgerFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:Query", json.dumps({"Fn::Sub": "${LedgerTable.Arn}/index/by-payment"})),
            },
        ),
        (
            "RefundJobsWorkerFunction",
            {
                (f"dynamodb:{action}", _arn(table))
                for action in ("GetItem", "UpdateItem", "PutItem", "ConditionCheckItem")
                for table in MONEY_TABLES
            }
            | {
                ("dynamodb:UpdateItem", _arn("RefundBatchesTable")),
                ("dynamodb:DeleteItem", _arn("RefundBatchesTable")),
                ("kms:Decrypt", _arn("PaymentsDataKey")),
            },
        ),
        # A batch's failures: its item, then queries on its partition (never a scan).
        (
            "ListRefundBatchFailuresFunction",
            {
                ("dynamodb:GetItem", _arn("RefundBatchesTable")),
                ("dynamodb:Query", _arn("RefundBatchesTable")),
            },
        ),
        # The workflow's alerts: a fault before any money moved, the steps after the authorization that
        # failed (reported by the audit, or by the catch-all), a compensation that failed
        (
            "CheckoutRecordFailureFunction",
            {
                ("dynamodb:UpdateItem", _arn("CheckoutsTable")),
                ("sns:Publish", json.dumps({"Ref": "OpsAlertsTopic"})),
            },
        ),
        (
            "CheckoutAuditFunction",
            {
                (
                    "states:GetExecutionHistory",
                    json.dumps(
                        {
                            "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:"
                            "execution:payments-checkout-${Stage}:*"
                        }
                    ),
                ),
                ("s3:PutObject", json.dumps({"Fn::Sub": "${AuditBucket.Arn}/audit/*"})),
                ("sns:Publish", json.dumps({"Ref": "OpsAlertsTopic"})),
                *DATA_KEY_GRANTS,
            },
        ),
        (
            "CheckoutAlertFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:UpdateItem", _arn("CheckoutsTable")),
                ("sns:Publish", json.dumps({"Ref": "OpsAlertsTopic"})),
            },
        ),
        # Receipts: the intent's receipt status, the suppression list, SES sends of one template
        (
            "CheckoutReceiptFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:PutItem", _arn("PaymentIntentsTable")),
                ("dynamodb:GetItem", _arn("ReceiptSuppressionsTable")),
                *SENDS("receipt-v3"),
            },
        ),
        (
            "RefundReceiptsFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:PutItem", _arn("PaymentIntentsTable")),
                ("dynamodb:GetItem", _arn("TransactionsTable")),
                ("dynamodb:GetItem", _arn("ReceiptSuppressionsTable")),
                *IDEMPOTENCY_GRANTS,
                *SENDS("refund-receipt-v1"),
                *DATA_KEY_GRANTS,
            },
        ),
        (
            "ReceiptFeedbackFunction",
            {
                ("dynamodb:GetItem", _arn("PaymentIntentsTable")),
                ("dynamodb:PutItem", _arn("PaymentIntentsTable")),
                ("dynamodb:UpdateItem", _arn("ReceiptSuppressionsTable")),
                ("sns:Publish", json.dumps({"Ref": "CustomerSuccessTopic"})),
                *DATA_KEY_GRANTS,
            },
        ),
        (
            "EmailTemplatesFunction",
            {(f"ses:{action}Template", json.dumps("*")) for action in ("Create", "Update", "Delete")},
        ),
        # Settlements: each function reads and writes its own prefix of the bucket, nothing more
        (
            "RequestSettlementFunction",
            {("s3:GetObject", SETTLEMENTS("raw")), *DATA_KEY_GRANTS},
        ),
        (
            "SettlementEnricherFunction",
            {
                ("s3:GetObject", SETTLEMENTS("raw")),
                ("s3:PutObject", SETTLEMENTS("enriched")),
                ("dynamodb:BatchGetItem", _arn("PaymentIntentsTable")),
                *DATA_KEY_GRANTS,
            },
        ),
        (
            "SettlementReconcilerFunction",
            {
                ("s3:GetObject", SETTLEMENTS("enriched")),
                ("s3:PutObject", SETTLEMENTS("reports")),
                ("dynamodb:BatchGetItem", _arn("LedgerTable")),
                ("dynamodb:Query", json.dumps({"Fn::Sub": "${LedgerTable.Arn}/index/by-kind"})),
                ("dynamodb:Query", json.dumps({"Fn::Sub": "${LedgerTable.Arn}/index/by-payment"})),
                *{
                    (f"dynamodb:{action}", _arn("SettlementsTable"))
                    for action in ("GetItem", "BatchGetItem", "BatchWriteItem", "PutItem")
                },
                ("sns:Publish", json.dumps({"Ref": "OpsAlertsTopic"})),
                *DATA_KEY_GRANTS,
            },
        ),
        ("ListSettlementReportsFunction", {("dynamodb:Query", _arn("SettlementsTable"))}),
        # The deployment hooks: any version of the functions they call, and this stack's deployments.
        (
            "PreTrafficHookFunction",
            INVOKE_ANY_VERSION("create-intent", "authorize", "void-intent") | REPORT_TO_CODEDEPLOY,
        ),
        (
            "PostTrafficHookFunction",
            INVOKE_ANY_VERSION("create-intent", "start-checkout", "get-checkout", "void-intent")
            | REPORT_TO_CODEDEPLOY,
        ),
        (
            "GetLedgerBalancesFunction",
            {
                ("dynamodb:Scan", _arn("LedgerBalancesTable")),
                ("dynamodb:GetItem", _arn("LedgerBalancesTable")),
            },
        ),
        # The authorizer reads a key's record by its hash, nothing else.
        ("ApiAuthorizerFunction", {("dynamodb:GetItem", _arn("ApiKeysTable"))}),
    ],
)
def test_function_policies_grant_exactly_what_the_code_needs(
    template: dict[str, Any], function: str, expected: set[tuple[str, str]]
) -> None:
    # Whatever reaches a table also uses the key the tables are encrypted with.
    if any(action.startswith("dynamodb:") for action, _ in expected):
        expected = expected | TABLES_KEY_GRANTS
    assert _policy_grants(template, function) == expected


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
    statements = broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"][0]["Statement"]
    statements[:] = [s for s in statements if s["Sid"] != "TablesKey"]
    broken["Resources"]["EmailTemplatesFunction"]["Properties"]["Policies"].append(
        {"DynamoDBReadPolicy": {"TableName": {"Ref": "LedgerTable"}}}
    )
    problems = _tables_key_problems(broken)
    assert [problem.split(":")[0] for problem in problems] == [
        "LedgerTable",
        "EmailTemplatesFunction",
        "GetIntentFunction",
    ], problems


@pytest.mark.parametrize("table", RETAINED_TABLES)
def test_money_tables_survive_deletion_and_can_be_restored(template: dict[str, Any], table: str) -> None:
    res = template["Resources"][table]
    assert res["DeletionPolicy"] == "Retain"
    assert res["UpdateReplacePolicy"] == "Retain"
    pitr = res["Properties"]["PointInTimeRecoverySpecification"]
    assert pitr == {"PointInTimeRecoveryEnabled": True}


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
    assert "GlobalSecondaryIndexes" not in props


@pytest.mark.parametrize(
    ("function", "queue"),
    [
        ("LedgerFunction", "LedgerDeadLetterQueue"),
        ("FraudFeedbackFunction", "SubscribersDeadLetterQueue"),
        ("OpsAlertsFunction", "SubscribersDeadLetterQueue"),
        ("ReceiptFeedbackFunction", "SubscribersDeadLetterQueue"),
        ("RefundReceiptsFunction", "SubscribersDeadLetterQueue"),
        ("CustomerSuccessFunction", "SubscribersDeadLetterQueue"),
    ],
)
def test_every_topic_subscriber_keeps_what_it_could_not_handle(
    template: dict[str, Any], function: str, queue: str
) -> None:
    props = template["Resources"][function]["Properties"]
    assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": {"Fn::GetAtt": [queue, "Arn"]}}
    # The queue is KMS-encrypted, so the function's role may use the data key to write to it
    assert template["Resources"][queue]["Properties"]["KmsMasterKeyId"] == {"Ref": "PaymentsDataKeyAlias"}
    statements = [s for policy in props["Policies"] for s in policy["Statement"]]
    assert any(
        s["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
        and s["Resource"] == {"Fn::GetAtt": ["PaymentsDataKey", "Arn"]}
        for s in statements
    )


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
    ("table", "attribute"), [("IdempotencyTable", "expiration"), ("FraudVelocityTable", "expiresAt")]
)
def test_ttl_attributes(template: dict[str, Any], table: str, attribute: str) -> None:
    ttl = template["Resources"][table]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": attribute, "Enabled": True}


def test_sam_functions_declare_their_routes_on_the_shared_api(template: dict[str, Any]) -> None:
    for logical_id, (_, handler, route) in FUNCTIONS.items():
        props = template["Resources"][logical_id]["Properties"]
        assert props["Handler"] == handler
        events = [event for event in props.get("Events", {}).values() if event["Type"] == "HttpApi"]
        if route is None:
            assert events == []
            continue
        (event,) = events
        assert event["Type"] == "HttpApi"
        properties = dict(event["Properties"])
        # Only the webhook opts out of the API key: the gateway's signature is its credential.
        auth = properties.pop("Auth", None)
        assert auth == ({"Authorizer": "NONE"} if route[1] == "/v1/webhooks/gateway" else None), route
        assert properties == {"ApiId": {"Ref": "PaymentsApi"}, "Method": route[0], "Path": route[1]}


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
    from payments.local.stack import Template  # noqa: PLC0415

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
    translated: dict[str, Any],
) -> None:
    groups = _resources(translated, "AWS::CodeDeploy::DeploymentGroup")
    aliases = _resources(translated, "AWS::Lambda::Alias")
    canaried = set(FUNCTIONS) - DEPLOYED_AT_ONCE
    assert {name.removesuffix("DeploymentGroup") for name in groups} == canaried
    for logical_id in canaried:
        group = groups[f"{logical_id}DeploymentGroup"]["Properties"]
        assert group["DeploymentConfigName"]["Fn::Sub"][1] == {"ConfigName": "Canary10Percent5Minutes"}
        assert [alarm["Name"] for alarm in group["AlarmConfiguration"]["Alarms"]] == [
            {"Ref": alarm} for alarm in ROLLBACK_ALARMS
        ]
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        update = aliases[f"{logical_id}Aliaslive"]["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHookFunction"}
        assert update["AfterAllowTrafficHook"] == {"Ref": "PostTrafficHookFunction"}
    # Every function still has a `live` alias: event sources call it, deployed at once or not.
    assert {name.removesuffix("Aliaslive") for name in aliases} == set(FUNCTIONS)


def test_the_workflow_and_authorize_call_live_aliases(template: dict[str, Any]) -> None:
    machine = template["Resources"]["CheckoutStateMachine"]["Properties"]
    tasks = {key: value for key, value in machine["DefinitionSubstitutions"].items() if "Function" in key}
    assert len(tasks) == 11
    assert all(value == {"Ref": value["Ref"]} and value["Ref"].endswith(".Alias") for value in tasks.values())
    (invoke,) = [s for s in machine["Policies"][0]["Statement"] if s["Sid"] == "InvokeTasks"]
    assert sorted(invoke["Resource"], key=json.dumps) == sorted(tasks.values(), key=json.dumps)


def test_rollback_alarms_watch_this_stage(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for alarm in ROLLBACK_ALARMS:
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
    from payments.local.stack import Template  # noqa: PLC0415

    stack = Template.load(TEMPLATE_PATH, stack_name="payments", parameters={"GatewayWebhookSecret": given})
    stack.created["PaymentsDataKey"] = "key-id"  # what the key's creation would have recorded
    properties = stack.resolve(stack.resources["WebhookSecret"]["Properties"])
    assert ("GenerateSecretString" in properties, "SecretString" in properties) == (generated, not generated)
    if not generated:
        assert properties["SecretString"] == given


# Invoked asynchronously (S3 notifications, the EventBridge schedule): Lambda drops an event after its
# retries unless the function has somewhere to keep it.
ASYNC_FILE_FUNCTIONS = (
    "RefundBatchSplitterFunction",
    "SettlementEnricherFunction",
    "SettlementReconcilerFunction",
    "RequestSettlementFunction",
)


@pytest.mark.parametrize("function", ASYNC_FILE_FUNCTIONS)
def test_file_and_schedule_events_that_keep_failing_are_kept(template: dict[str, Any], function: str) -> None:
    properties = template["Resources"][function]["Properties"]
    assert properties["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["FileEventsDeadLetterQueue", "Arn"]},
    }
    # The queue is encrypted with the data key, so the function must be able to encrypt for it.
    assert ("kms:GenerateDataKey", _arn("PaymentsDataKey")) in _policy_grants(template, function)
    alarm = template["Resources"]["FileEventsDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["FileEventsDeadLetterQueue", "QueueName"]}


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
    assert len(queues) == 4
    assert watched == queues


def test_background_functions_errors_and_throttles_page(template: dict[str, Any]) -> None:
    """Every function a stream, topic, queue, file or schedule drives (the alert posters aside: their
    failures land in a DLQ that pages) is in the errors and the throttles alarms."""
    posters = {"OpsAlertsFunction", "CustomerSuccessFunction"}
    background = {
        logical_id
        for logical_id, resource in _resources(template, "AWS::Serverless::Function").items()
        if any(
            event["Type"] in {"SNS", "S3", "SQS", "DynamoDB", "Schedule"}
            for event in resource["Properties"].get("Events", {}).values()
        )
    } - posters
    for alarm in ("BackgroundErrorsAlarm", "BackgroundThrottlesAlarm"):
        metrics = template["Resources"][alarm]["Properties"]["Metrics"]
        named = {
            m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"] for m in metrics if "MetricStat" in m
        }
        assert named == background, alarm
        assert len(metrics) <= 11  # CloudWatch takes at most 10 metrics and an expression per alarm


def test_the_dashboard_shows_every_business_metric_the_code_emits(template: dict[str, Any]) -> None:
    import re  # noqa: PLC0415

    from payments.local.stack import Template  # noqa: PLC0415

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
