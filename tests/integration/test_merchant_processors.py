"""Processors per merchant on the emulator: the rules table of template.yaml through its adapter, the
create-intent function choosing by them, each merchant's Stripe key found as the functions find it, and
`payments processors show|set|clear|set-key` against the stack's own names."""

from __future__ import annotations

import io
import json
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from payments import bootstrap
from payments.adapters.dynamodb_processor_rules import DynamoDBProcessorRules
from payments.cli import main
from payments.domain.intents import Processor
from payments.domain.processor_rules import ProcessorRule
from payments.local.frontdoor import CompiledRoute, build_event
from payments.local.runtime import LocalStack
from payments.service.ports import ProcessorNotConfigured

pytestmark = pytest.mark.enable_socket
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DEPLOYMENT_SECRET = "payments/stripe-api-key-local"


def _merchant() -> str:
    return f"mer_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def rules(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBProcessorRules:
    return DynamoDBProcessorRules(dynamodb, table=table_names["MerchantProcessorsTable"])


@pytest.fixture
def secrets(local_stack: LocalStack) -> Any:
    return boto3.client("secretsmanager", endpoint_url=local_stack.emulator.endpoint)


# -- the adapter ----------------------------------------------------------------------------------------


def test_the_table_is_the_templates_and_rules_read_back_in_order(
    rules: DynamoDBProcessorRules, table_names: dict[str, str]
) -> None:
    assert table_names["MerchantProcessorsTable"] == "payment-merchant-processors-local"
    merchant = _merchant()
    written = (
        ProcessorRule(Processor.STRIPE, ("USD", "EUR"), 0, 500_000),
        ProcessorRule(Processor.SANDBOX, ("JPY",), min_amount=1),
        ProcessorRule(Processor.SANDBOX),
    )
    stored = rules.put(merchant, written, now=NOW)
    found = rules.rules_for(merchant)
    assert found == stored
    assert found is not None
    assert (found.rules, found.updated_at) == (written, "2026-11-24T12:00:00.000Z")


def test_the_item_holds_whole_numbers_and_nothing_but_the_rule(
    rules: DynamoDBProcessorRules, dynamodb: Any, table_names: dict[str, str]
) -> None:
    merchant = _merchant()
    rules.put(merchant, (ProcessorRule(Processor.STRIPE, ("USD",), 10, 20),), now=NOW)
    item = dynamodb.get_item(
        TableName=table_names["MerchantProcessorsTable"], Key={"merchantId": {"S": merchant}}
    )["Item"]
    assert item == {
        "merchantId": {"S": merchant},
        "rules": {
            "L": [
                {
                    "M": {
                        "processor": {"S": "stripe"},
                        "currencies": {"L": [{"S": "USD"}]},
                        "minAmount": {"N": "10"},
                        "maxAmount": {"N": "20"},
                    }
                }
            ]
        },
        "updatedAt": {"S": "2026-11-24T12:00:00.000Z"},
    }


def test_a_merchant_without_rules_has_none_and_clearing_says_whether_there_were_any(
    rules: DynamoDBProcessorRules,
) -> None:
    merchant = _merchant()
    assert rules.rules_for(merchant) is None
    assert rules.remove(merchant) is False
    rules.put(merchant, (ProcessorRule(Processor.SANDBOX),), now=NOW)
    assert rules.remove(merchant) is True
    assert rules.rules_for(merchant) is None


@pytest.mark.parametrize(
    "stored",
    [
        {
            "L": [
                {
                    "M": {
                        "processor": {"S": "stripe"},
                        "currencies": {"L": [{"S": "USD"}]},
                        "minAmount": {"N": "1.5"},
                    }
                }
            ]
        },
        {"L": [{"M": {"processor": {"S": "adyen"}}}]},
        {"L": [{"M": {"processor": {"S": "stripe"}, "currencies": {"SS": ["USD"]}}}]},
        {"S": "stripe"},
    ],
)
def test_rules_written_by_hand_that_cannot_be_read_exactly_refuse_the_payment(
    rules: DynamoDBProcessorRules, dynamodb: Any, table_names: dict[str, str], stored: dict[str, Any]
) -> None:
    merchant = _merchant()
    dynamodb.put_item(
        TableName=table_names["MerchantProcessorsTable"],
        Item={"merchantId": {"S": merchant}, "rules": stored, "updatedAt": {"S": "x"}},
    )
    with pytest.raises(ProcessorNotConfigured, match=f"merchant {merchant}'s processor rules cannot be read"):
        rules.rules_for(merchant)


# -- the create-intent function --------------------------------------------------------------------------


def _create(stack: LocalStack, merchant: str, amount: int, currency: str) -> dict[str, Any]:
    path = "/v1/payment-intents"
    route = next(r for r in stack.deployed.routes if CompiledRoute(r).match("POST", path) is not None)
    body = {
        "amount": amount,
        "currency": currency,
        "customerId": "cus_rules",
        "merchantId": merchant,
        "paymentMethod": "pm_card_visa",
    }
    event = build_event(
        route=route,
        method="POST",
        raw_path=path,
        raw_query="",
        headers={"content-type": "application/json", "idempotency-key": str(uuid.uuid4())},
        body=json.dumps(body).encode(),
        path_parameters={},
        source_ip="198.51.100.20",
        api_id="test",
    )
    event["requestContext"]["authorizer"] = {"lambda": {"scope": "platform", "keyId": "sk_test_…0000"}}
    result = stack.invoker.invoke(route.function_name, event)
    assert not result.error, result.payload
    assert result.payload["statusCode"] == 201, result.payload
    return dict(json.loads(result.payload["body"]))


def test_the_function_chooses_by_the_merchants_rules_read_from_its_table(
    local_stack: LocalStack, rules: DynamoDBProcessorRules
) -> None:
    with_rules, without = _merchant(), _merchant()
    rules.put(with_rules, (ProcessorRule(Processor.STRIPE, ("EUR",), 100, 1_000),), now=NOW)
    # This stack's default is the sandbox: the rule sends A's EUR payments within range to Stripe.
    assert _create(local_stack, with_rules, 1_000, "EUR")["processor"] == "stripe"
    assert _create(local_stack, with_rules, 1_001, "EUR")["processor"] == "sandbox"
    assert _create(local_stack, with_rules, 500, "USD")["processor"] == "sandbox"
    assert _create(local_stack, without, 500, "EUR")["processor"] == "sandbox"


# -- each merchant's Stripe key, as the functions read it ------------------------------------------------


def test_a_merchants_own_key_is_read_first_and_the_deployments_otherwise(
    local_stack: LocalStack, secrets: Any
) -> None:
    own, other = _merchant(), _merchant()
    secrets.create_secret(Name=f"{DEPLOYMENT_SECRET}/{own}", SecretString="sk_test_own_key")
    arn = local_stack.deployed.resources["StripeApiKeySecret"]
    assert arn.startswith("arn:aws:secretsmanager:")  # what STRIPE_SECRET_ARN is given
    deployment_key = secrets.get_secret_value(SecretId=arn)["SecretString"]
    env = bootstrap.Environment(
        {"INTENTS_TABLE": "i", "TRANSACTIONS_TABLE": "t", "IDEMPOTENCY_TABLE": "d", "STRIPE_SECRET_ARN": arn}
    )
    assert bootstrap.stripe_key(env, own)() == "sk_test_own_key"
    assert bootstrap.stripe_key(env, other)() == deployment_key  # ResourceNotFoundException: the fallback


# -- the CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(local_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, value in local_stack.emulator.environment().items():
        monkeypatch.setenv(name, value)

    def run(*argv: str, stdin: str = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        return main(["processors", *argv])

    return run


def test_set_replaces_the_rules_and_show_prints_them_one_per_line(
    cli: Any, rules: DynamoDBProcessorRules, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant = _merchant()
    assert cli("set", "--merchant", merchant, "--rule", "sandbox:GBP") == 0
    assert cli("set", "--merchant", merchant, "--rule", "stripe:usd,EUR:0:500000", "--rule", "sandbox") == 0
    found = rules.rules_for(merchant)
    assert found is not None
    assert found.rules == (
        ProcessorRule(Processor.STRIPE, ("USD", "EUR"), 0, 500_000),
        ProcessorRule(Processor.SANDBOX),
    )
    capsys.readouterr()
    assert cli("show", "--merchant", merchant) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{merchant}: rules, the first that matches wins (updated ")
    assert lines[1:4] == [
        "  1. stripe:USD,EUR:0:500000",
        "  2. sandbox",
        "  otherwise: the stack's default processor",
    ]
    assert lines[4:] == [
        f"stripe key secret {DEPLOYMENT_SECRET} (the deployment's): its Stripe payments use it"
    ]


def test_show_json_is_one_object_for_a_program(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    merchant = _merchant()
    assert cli("set", "--merchant", merchant, "--rule", "stripe:JPY::100000") == 0
    capsys.readouterr()
    assert cli("show", "--merchant", merchant, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rules"] == [{"processor": "stripe", "currencies": ["JPY"], "maxAmount": 100_000}]
    assert shown["stripeKeySecret"] == DEPLOYMENT_SECRET
    assert [(s["name"], s["owner"], s["exists"]) for s in shown["secrets"]] == [
        (f"{DEPLOYMENT_SECRET}/{merchant}", "merchant", False),
        (DEPLOYMENT_SECRET, "deployment", True),
    ]


def test_a_bad_rule_changes_nothing(
    cli: Any, rules: DynamoDBProcessorRules, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant = _merchant()
    assert cli("set", "--merchant", merchant, "--rule", "sandbox") == 0
    assert cli("set", "--merchant", merchant, "--rule", "stripe", "--rule", "stripe:USD:10:1") == 2
    assert "min must be <= max" in capsys.readouterr().err
    found = rules.rules_for(merchant)
    assert found is not None
    assert found.rules == (ProcessorRule(Processor.SANDBOX),)


def test_clear_drops_the_rules(
    cli: Any, rules: DynamoDBProcessorRules, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant = _merchant()
    assert cli("set", "--merchant", merchant, "--rule", "sandbox") == 0
    assert cli("clear", "--merchant", merchant) == 0
    assert rules.rules_for(merchant) is None
    capsys.readouterr()
    assert cli("show", "--merchant", merchant) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"{merchant}: no rules: every payment goes to the stack's default processor"
    )


def test_set_key_keeps_the_merchants_key_encrypted_as_the_deployments_and_never_prints_it(
    cli: Any, secrets: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant = _merchant()
    name = f"{DEPLOYMENT_SECRET}/{merchant}"
    assert cli("set-key", "--merchant", merchant, "--processor", "stripe", stdin="sk_test_first_key\n") == 0
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == "sk_test_first_key"
    assert (
        secrets.describe_secret(SecretId=name)["KmsKeyId"]
        == secrets.describe_secret(SecretId=DEPLOYMENT_SECRET)["KmsKeyId"]
    )
    assert cli("set-key", "--merchant", merchant, stdin="rk_live_second_key") == 0
    assert secrets.get_secret_value(SecretId=name)["SecretString"] == "rk_live_second_key"
    assert cli("show", "--merchant", merchant) == 0
    assert cli("show", "--merchant", merchant, "--json") == 0
    printed = capsys.readouterr()
    assert "first_key" not in printed.out + printed.err
    assert "second_key" not in printed.out + printed.err
    assert f"stripe key secret {name} (the merchant's own): its Stripe payments use it" in printed.out
    assert f"stripe key secret {DEPLOYMENT_SECRET} (the deployment's)\n" in printed.out


def test_set_key_refuses_what_is_not_a_stripe_key_and_a_stage_that_does_not_exist(
    cli: Any, secrets: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant = _merchant()
    assert cli("set-key", "--merchant", merchant, stdin="pk_test_publishable") == 2
    assert cli("set-key", "--merchant", merchant, "--stage", "nosuchstage", stdin="sk_test_abc") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "payments processors set-key: stdin is not a Stripe secret or restricted key"
        " (sk_test_..., sk_live_..., rk_...)",
        "payments processors set-key: no secret payments/stripe-api-key-nosuchstage: is --stage right?",
    ]
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=f"{DEPLOYMENT_SECRET}/{merchant}")


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["processors", "show", "--merchant", "mer_1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"payments processors: cannot reach {endpoint}")
