"""Processors per merchant, on fakes: a new payment's processor is chosen by its merchant's rules
(create-intent), each payment then moves at its processor with its merchant's own key where it has one
(one gateway per processor and merchant), and `payments processors` refuses bad input in one line
before it touches AWS."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from unittest.mock import Mock

import pytest
from botocore.exceptions import ClientError

from payments import bootstrap
from payments.adapters.gateway_client import HttpGateway
from payments.adapters.stripe_gateway import StripeGateway
from payments.bootstrap import Environment, Secret, merchant_secret_name
from payments.cli import main
from payments.domain.intents import PaymentIntent, Processor
from payments.domain.money import Money
from payments.domain.processor_rules import ProcessorRule
from payments.functions import create_intent, http
from payments.processor_commands import set_key
from payments.service.ports import MerchantProcessorRules, MerchantRules, PaymentGateway
from payments.service.processors import Processors
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository

DEPLOYMENT_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/stripe-api-key-dev-Ab12Cd"
DEPLOYMENT_NAME = "payments/stripe-api-key-dev"
FUNCTION_ENV = {
    "INTENTS_TABLE": "intents",
    "TRANSACTIONS_TABLE": "transactions",
    "IDEMPOTENCY_TABLE": "idempotency",
    "GATEWAY_BASE_URL": "http://127.0.0.1:1",
    "STRIPE_API_BASE": "http://127.0.0.1:2",
    "STRIPE_SECRET_ARN": DEPLOYMENT_ARN,
}


class FakeStripe(FakeGateway):
    processor: ClassVar[Processor] = Processor.STRIPE


class FakeRules(MerchantProcessorRules):
    def __init__(self, rules: Mapping[str, Sequence[ProcessorRule]] | None = None) -> None:
        self.stored = {merchant: tuple(found) for merchant, found in (rules or {}).items()}
        self.reads: list[str] = []

    def rules_for(self, merchant_id: str) -> MerchantRules | None:
        self.reads.append(merchant_id)
        found = self.stored.get(merchant_id)
        return None if found is None else MerchantRules(merchant_id, found, "2026-01-01T00:00:00.000Z")

    def put(self, merchant_id: str, rules: Sequence[ProcessorRule], *, now: datetime) -> MerchantRules:
        self.stored[merchant_id] = tuple(rules)
        return MerchantRules(merchant_id, tuple(rules), now.isoformat())

    def remove(self, merchant_id: str) -> bool:
        return self.stored.pop(merchant_id, None) is not None


class SecretsManager:
    """Secrets by name or ARN; counts its reads; never holds a key of a merchant it was not given."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.reads: list[str] = []
        self.refuse: str | None = None  # an error code to answer every read with

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 (boto3's name)
        self.reads.append(SecretId)
        if self.refuse is not None:
            raise ClientError({"Error": {"Code": self.refuse, "Message": "no"}}, "GetSecretValue")
        if SecretId not in self.secrets:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "GetSecretValue"
            )
        return {"SecretString": self.secrets[SecretId]}


class FunctionEnvironment(Environment):
    """A function's environment whose Secrets Manager is a fake (no other client is asked for)."""

    def __init__(self, secrets: SecretsManager, variables: Mapping[str, str] = FUNCTION_ENV) -> None:
        super().__init__(variables)
        self.secrets = secrets

    def client(self, service: str) -> Any:
        assert service == "secretsmanager", service
        return self.secrets


def _intent(merchant_id: str, processor: Processor) -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(2_500, "USD"),
        customer_id="cus_1",
        merchant_id=merchant_id,
        payment_method="pm_card_visa",
        now=FakeClock()(),
        time_to_live=timedelta(hours=1),
        processor=processor,
    )


# -- the router: one gateway per processor and merchant ------------------------------------------------


def test_each_merchant_gets_its_own_gateway_of_a_processor_built_once() -> None:
    built: list[tuple[Processor, str]] = []
    sandbox = FakeGateway()

    def stripe_for(merchant_id: str) -> PaymentGateway:
        built.append((Processor.STRIPE, merchant_id))
        return FakeStripe()

    def sandbox_for(merchant_id: str) -> PaymentGateway:
        built.append((Processor.SANDBOX, merchant_id))
        return sandbox

    processors = Processors({Processor.SANDBOX: sandbox_for, Processor.STRIPE: stripe_for})
    a_first = processors.for_payment(_intent("mer_a", Processor.STRIPE))
    a_again = processors.for_payment(_intent("mer_a", Processor.STRIPE))
    b = processors.for_payment(_intent("mer_b", Processor.STRIPE))
    processors.for_payment(_intent("mer_a", Processor.SANDBOX))
    assert a_first is a_again
    assert b is not a_first
    assert built == [(Processor.STRIPE, "mer_a"), (Processor.STRIPE, "mer_b"), (Processor.SANDBOX, "mer_a")]


def test_the_deployments_sandbox_gateway_is_one_for_every_merchant() -> None:
    processors = bootstrap.gateway(FunctionEnvironment(SecretsManager({})))
    a = processors.for_payment(_intent("mer_a", Processor.SANDBOX))
    b = processors.for_payment(_intent("mer_b", Processor.SANDBOX))
    assert isinstance(a, HttpGateway)
    assert a is b  # one pool of connections to the sandbox, whoever the merchant


def test_a_merchants_stripe_payments_use_its_own_key_and_the_others_the_deployments() -> None:
    secrets = SecretsManager(
        {DEPLOYMENT_ARN: "sk_test_deployment", f"{DEPLOYMENT_NAME}/mer_own": "sk_test_own"}
    )
    processors = bootstrap.gateway(FunctionEnvironment(secrets))
    own = processors.for_payment(_intent("mer_own", Processor.STRIPE))
    other = processors.for_payment(_intent("mer_other", Processor.STRIPE))
    assert isinstance(own, StripeGateway)
    assert isinstance(other, StripeGateway)
    assert secrets.reads == []  # building a gateway reads no key
    # The key each gateway calls Stripe with (read on every request, as a rotated key must be).
    assert own._api_key() == "sk_test_own"
    assert other._api_key() == "sk_test_deployment"
    assert secrets.reads == [f"{DEPLOYMENT_NAME}/mer_own", f"{DEPLOYMENT_NAME}/mer_other", DEPLOYMENT_ARN]


def test_the_stripe_return_url_of_the_deployment_reaches_the_connector() -> None:
    # With StripeReturnUrl set, a challenge comes with the URL the customer follows; empty, none is sent.
    secrets = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"})
    variables = {**FUNCTION_ENV, "STRIPE_RETURN_URL": "https://shop.example/back"}
    with_url = bootstrap.gateway(FunctionEnvironment(secrets, variables))
    without = bootstrap.gateway(FunctionEnvironment(secrets))
    stripe_with = with_url.for_payment(_intent("mer_1", Processor.STRIPE))
    stripe_without = without.for_payment(_intent("mer_1", Processor.STRIPE))
    assert isinstance(stripe_with, StripeGateway)
    assert isinstance(stripe_without, StripeGateway)
    assert stripe_with._return_url == "https://shop.example/back"
    assert stripe_without._return_url is None


def test_a_merchant_without_a_key_costs_one_read_per_five_minutes_not_one_per_payment() -> None:
    secrets = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"})
    key = bootstrap.stripe_key(FunctionEnvironment(secrets), "mer_1")
    assert [key() for _ in range(3)] == ["sk_test_deployment"] * 3
    assert secrets.reads == [f"{DEPLOYMENT_NAME}/mer_1", DEPLOYMENT_ARN]


def test_a_key_set_later_is_taken_up_once_the_absence_is_five_minutes_old() -> None:
    secrets, now = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"}), [0.0]
    deployment = Secret(secrets, DEPLOYMENT_ARN, clock=lambda: now[0])
    key = Secret(secrets, f"{DEPLOYMENT_NAME}/mer_1", clock=lambda: now[0], otherwise=deployment)
    assert key() == "sk_test_deployment"
    secrets.secrets[f"{DEPLOYMENT_NAME}/mer_1"] = "sk_test_merchant"
    now[0] = bootstrap.SECRET_MAX_AGE_SECONDS - 1
    assert key() == "sk_test_deployment"
    now[0] = bootstrap.SECRET_MAX_AGE_SECONDS
    assert key() == "sk_test_merchant"


@pytest.mark.parametrize("code", ["AccessDeniedException", "InvalidRequestException", "DecryptionFailure"])
def test_only_a_missing_secret_falls_back_to_the_deployments_key(code: str) -> None:
    """Any other refusal (no permission, a secret scheduled for deletion) fails the payment: it is never
    read as "this merchant has no key" and paid on the deployment's account instead."""
    secrets = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"})
    key = bootstrap.stripe_key(FunctionEnvironment(secrets), "mer_1")
    secrets.refuse = code
    with pytest.raises(ClientError, match=code):
        key()


def test_a_missing_secret_with_nothing_to_fall_back_on_raises() -> None:
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        Secret(SecretsManager({}), DEPLOYMENT_ARN)()


def test_without_a_merchant_the_key_is_the_deployments() -> None:
    secrets = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"})
    assert bootstrap.stripe_key(FunctionEnvironment(secrets))() == "sk_test_deployment"
    assert secrets.reads == [DEPLOYMENT_ARN]


@pytest.mark.parametrize(
    ("deployment", "merchant", "name"),
    [
        (DEPLOYMENT_ARN, "mer_1", "payments/stripe-api-key-dev/mer_1"),
        ("payments/stripe-api-key-dev", "mer.2-x", "payments/stripe-api-key-dev/mer.2-x"),
        # A stage ending in six letters is not taken for the ARN's suffix: the ARN always has one.
        (
            "arn:aws:secretsmanager:eu-west-1:1:secret:payments/stripe-api-key-abcdef-Zz9Yy8",
            "m",
            "payments/stripe-api-key-abcdef/m",
        ),
        (DEPLOYMENT_ARN, "mer:colon", None),  # a secret's name allows no ':'
    ],
)
def test_a_merchants_secret_is_named_beside_the_deployments(
    deployment: str, merchant: str, name: str | None
) -> None:
    assert merchant_secret_name(deployment, merchant) == name


def test_a_merchant_whose_id_cannot_name_a_secret_is_paid_with_the_deployments_key() -> None:
    secrets = SecretsManager({DEPLOYMENT_ARN: "sk_test_deployment"})
    assert bootstrap.stripe_key(FunctionEnvironment(secrets), "mer:1")() == "sk_test_deployment"
    assert secrets.reads == [DEPLOYMENT_ARN]


# -- create-intent: the merchant's rules choose -----------------------------------------------------------


PLATFORM = {"authorizer": {"lambda": {"scope": "platform"}}}


def _post(deps: create_intent.Dependencies) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    requests = http.IdempotentRequests(
        table_name="idempotency-test", client=Mock(spec=[]), expires_after_seconds=86_400
    )
    handler = create_intent.handler.with_dependencies(http.Routed(deps, requests))

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        event = {
            "requestContext": PLATFORM,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(body),
        }
        response = handler(event, None)
        return response["statusCode"], json.loads(response["body"])

    return post


def _body(merchant_id: str, amount: int = 2_500, currency: str = "USD") -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": currency,
        "customerId": "cus_1",
        "merchantId": merchant_id,
        "paymentMethod": "pm_card_visa",
    }


def test_a_new_payment_goes_where_its_merchants_rules_say_else_to_the_default() -> None:
    rules = FakeRules(
        {
            "mer_a": [ProcessorRule(Processor.SANDBOX, ("USD",), 0, 10_000)],
            "mer_empty": [],
        }
    )
    post = _post(
        create_intent.Dependencies(
            intents=FakeIntentRepository(),
            time_to_live=timedelta(hours=1),
            processor=Processor.STRIPE,
            clock=FakeClock(),
            rules=rules,
        )
    )
    chosen = {
        name: post(body)[1]["processor"]
        for name, body in {
            "A's USD within range": _body("mer_a"),
            "A's USD over the range": _body("mer_a", amount=10_001),
            "A's EUR": _body("mer_a", currency="EUR"),
            "B, without rules": _body("mer_b"),
            "a merchant whose rules are empty": _body("mer_empty"),
        }.items()
    }
    assert chosen == {
        "A's USD within range": "sandbox",
        "A's USD over the range": "stripe",
        "A's EUR": "stripe",
        "B, without rules": "stripe",
        "a merchant whose rules are empty": "stripe",
    }
    assert rules.reads == ["mer_a", "mer_a", "mer_a", "mer_b", "mer_empty"]  # one read per payment


def test_a_request_refused_at_parse_reads_no_rules() -> None:
    rules = FakeRules()
    post = _post(
        create_intent.Dependencies(
            intents=FakeIntentRepository(), time_to_live=timedelta(hours=1), clock=FakeClock(), rules=rules
        )
    )
    status, _ = post({**_body("mer_a"), "currency": "usd"})
    assert status == 400
    assert rules.reads == []


class NoClients(Environment):
    def client(self, service: str) -> Any:
        return Mock(spec=[])  # wiring makes no call


def test_create_intent_is_wired_with_the_merchants_rules_table() -> None:
    env = NoClients({**FUNCTION_ENV, "MERCHANT_PROCESSORS_TABLE": "payment-merchant-processors-dev"})
    assert create_intent.wire(env).rules is not None
    with pytest.raises(bootstrap.SettingsError, match="MERCHANT_PROCESSORS_TABLE"):
        create_intent.wire(NoClients(FUNCTION_ENV))


# -- the CLI refuses bad input before any AWS call ---------------------------------------------------------


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(service: str) -> Any:
        raise AssertionError(f"bad input reached AWS ({service})")

    monkeypatch.setattr("payments.processor_commands._client", refuse)


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["set", "--merchant", "mer_1", "--rule", "adyen"], "rule 'adyen': unknown processor 'adyen'"),
        (["set", "--merchant", "mer_1", "--rule", "stripe:USD:9:1"], "min must be <= max"),
        (["set", "--merchant", "mer_1", "--rule", "stripe:USD:1.5"], "whole number of minor units"),
        (["set", "--merchant", "mer_1", "--rule", "sandbox", "--rule", "stripe::0:1"], "needs currencies"),
        (["set", "--merchant", "mer#1", "--rule", "sandbox"], "--merchant must be 1 to 128 letters"),
        (["show", "--merchant", ""], "--merchant must be 1 to 128 letters"),
        (["clear", "--merchant", "a b"], "--merchant must be 1 to 128 letters"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["processors", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"payments processors {argv[0]}: ")
    assert message in err


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    "value",
    [
        "pk_test_publishable",
        "whsec_abc",
        "sk_test_",
        "sk_prod_abc",
        "sk_test_abc def",
        "",
        "sk_test_a\nsk_test_b",
    ],
)
def test_set_key_refuses_a_value_not_shaped_like_a_stripe_key_and_never_repeats_it(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert set_key("mer_1", processor="stripe", stage="dev", source=io.StringIO(value)) == 2
    # The same line whatever the value: nothing of it is repeated.
    assert capsys.readouterr().err == (
        "payments processors set-key: stdin is not a Stripe secret or restricted key"
        " (sk_test_..., sk_live_..., rk_...)\n"
    )


@pytest.mark.usefixtures("no_aws")
def test_set_key_refuses_a_merchant_id_a_secret_cannot_be_named_by(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert set_key("mer:1", processor="stripe", stage="dev", source=io.StringIO("sk_test_abc")) == 2
    assert "cannot name a secret" in capsys.readouterr().err


def test_set_needs_a_rule_and_set_key_takes_stripe_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["processors", "set", "--merchant", "mer_1"])
    assert exited.value.code == 2
    assert "--rule" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["processors", "set-key", "--merchant", "mer_1", "--processor", "sandbox"])
    assert exited.value.code == 2
