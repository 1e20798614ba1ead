"""Settings from the environment, the fraud-check use case, its wire format, and PAN detection."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.adapters.fraud_client import (
    assessment_from_payload,
    assessment_to_payload,
    signals_from_payload,
    signals_to_payload,
)
from payments.domain.cards import contains_card_number, luhn_valid
from payments.domain.errors import InvalidRequest
from payments.domain.fraud import Decision, FraudAssessment, FraudRules, FraudSignals
from payments.domain.intents import PaymentIntent
from payments.domain.money import CURRENCIES, Money
from payments.local.cfn_yaml import load_template
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.checkout import validate_for_checkout
from payments.service.fraud import screen
from payments.service.ports import VelocityCounter
from payments.settings import Settings, SettingsError
from tests.unit.fakes import FakeClock, FakeFraud, FakeGateway, FakeIntentRepository

ROOT = Path(__file__).resolve().parents[2]

# -- Settings.from_env ---------------------------------------------------------------------------

REQUIRED = {
    "INTENTS_TABLE": "payments-intents",
    "TRANSACTIONS_TABLE": "payments-transactions",
    "IDEMPOTENCY_TABLE": "payments-idempotency",
}


def env(**extra: str) -> dict[str, str]:
    return {**REQUIRED, **extra}


def test_the_minimal_environment_gives_the_defaults() -> None:
    loaded = Settings.from_env(REQUIRED)

    assert loaded == Settings(
        intents_table="payments-intents",
        transactions_table="payments-transactions",
        idempotency_table="payments-idempotency",
    )
    assert loaded.fraud_function_name == ""
    assert loaded.fraud_velocity_table == ""
    assert loaded.gateway_base_url == ""
    assert loaded.gateway_timeout_seconds == 1.0
    assert loaded.gateway_max_attempts == 3
    assert loaded.intent_ttl_seconds == 86_400
    assert loaded.idempotency_ttl_seconds == 86_400
    assert loaded.fraud_rules == FraudRules()


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_each_required_variable_must_be_set(name: str, value: str | None) -> None:
    variables = {k: v for k, v in REQUIRED.items() if k != name}
    if value is not None:
        variables[name] = value

    with pytest.raises(SettingsError, match=name):
        Settings.from_env(variables)


def test_required_values_are_trimmed() -> None:
    assert Settings.from_env(env(INTENTS_TABLE="  intents \n")).intents_table == "intents"


def test_every_variable_is_read() -> None:
    loaded = Settings.from_env(
        env(
            FRAUD_FUNCTION_NAME="payments-fraud-check",
            FRAUD_VELOCITY_TABLE="payments-velocity",
            GATEWAY_BASE_URL="http://127.0.0.1:8080/_sandbox/gateway///",
            GATEWAY_TIMEOUT_SECONDS="2.5",
            GATEWAY_MAX_ATTEMPTS="5",
            INTENT_TTL_SECONDS="3600",
            IDEMPOTENCY_TTL_SECONDS="172800",
        )
    )

    assert loaded.fraud_function_name == "payments-fraud-check"
    assert loaded.fraud_velocity_table == "payments-velocity"
    assert loaded.gateway_base_url == "http://127.0.0.1:8080/_sandbox/gateway"
    assert loaded.gateway_timeout_seconds == 2.5
    assert loaded.gateway_max_attempts == 5
    assert loaded.intent_ttl_seconds == 3_600
    assert loaded.idempotency_ttl_seconds == 172_800


def test_fraud_rules_are_read_from_fraud_variables() -> None:
    rules = Settings.from_env(
        env(
            FRAUD_STEP_UP_SCORE="35",
            FRAUD_BLOCK_SCORE=" 90 ",
            FRAUD_CUSTOMER_LIMIT="4",
            FRAUD_DEVICE_LIMIT="5",
            FRAUD_IP_LIMIT="6",
            FRAUD_VELOCITY_WINDOW_SECONDS="600",
        )
    ).fraud_rules

    assert (rules.step_up_score, rules.block_score) == (35, 90)
    assert (rules.customer_limit, rules.device_limit, rules.ip_limit) == (4, 5, 6)
    assert rules.velocity_window_seconds == 600
    # what is not configured keeps the domain default
    assert rules.amount_review_usd == FraudRules().amount_review_usd
    assert rules.amount_overrides_major == {}
    assert rules.always_block_methods == FraudRules().always_block_methods


def test_blank_fraud_variables_keep_the_defaults() -> None:
    rules = Settings.from_env(env(FRAUD_STEP_UP_SCORE="", FRAUD_IP_LIMIT="  ")).fraud_rules

    assert rules == FraudRules()


def test_the_blocklist_is_comma_separated_with_blanks_ignored() -> None:
    rules = Settings.from_env(
        env(FRAUD_BLOCKLIST=" customer:mer_1#cus_bad , ,ip:203.0.113.9,,email:fraud@example.com,  ")
    ).fraud_rules

    assert rules.blocklist == frozenset(
        {"customer:mer_1#cus_bad", "ip:203.0.113.9", "email:fraud@example.com"}
    )


def test_a_blocklisted_customer_without_its_merchant_stops_the_function_from_starting() -> None:
    # A bare customer id is a different person at every merchant: refused, never guessed
    with pytest.raises(SettingsError, match=r"FRAUD_BLOCKLIST.*customer:<merchantId>#<customerId>"):
        Settings.from_env(env(FRAUD_BLOCKLIST="ip:203.0.113.9,customer:cus_bad"))


def test_amount_thresholds_are_read_in_usd_with_per_currency_overrides() -> None:
    rules = Settings.from_env(
        env(
            FRAUD_AMOUNT_REVIEW_USD="1000",
            FRAUD_AMOUNT_HIGH_USD=" 5000 ",
            FRAUD_AMOUNT_OVERRIDES=" JPY:300000:1500000 ,, KWD:600:3000,",
        )
    ).fraud_rules

    assert (rules.amount_review_usd, rules.amount_high_usd) == (1_000, 5_000)
    assert rules.amount_overrides_major == {"JPY": (300_000, 1_500_000), "KWD": (600, 3_000)}
    assert rules.amount_thresholds_minor(Money.of(1, "USD")) == (100_000, 500_000)
    assert rules.amount_thresholds_minor(Money.of(1, "KWD")) == (600_000, 3_000_000)
    assert rules.amount_thresholds_minor(Money.of(1, "EUR")) == (90_000, 450_000)


@pytest.mark.parametrize(
    "value", ["JPY", "JPY:1", "JPY:1:2:3", "jpy:1:2", "JPY:1.5:2", "JPY:-1:2", "JPY:3:2", "JPY 1 2"]
)
def test_a_malformed_amount_override_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="FRAUD_AMOUNT_OVERRIDES"):
        Settings.from_env(env(FRAUD_AMOUNT_OVERRIDES=value))


def test_an_amount_override_for_an_unknown_currency_is_refused() -> None:
    with pytest.raises(SettingsError, match="XXX"):
        Settings.from_env(env(FRAUD_AMOUNT_OVERRIDES="XXX:1:2"))


def test_the_template_wires_the_amount_settings_to_parameters_with_the_domain_defaults() -> None:
    # Given the template's fraud-check function
    template = load_template(ROOT / "template.yaml")
    variables = template["Resources"]["FraudCheckFunction"]["Properties"]["Environment"]["Variables"]
    parameters = template["Parameters"]

    # Then each amount setting is a stack parameter whose default is the domain's
    defaults = FraudRules()
    expected = {
        "FRAUD_AMOUNT_REVIEW_USD": defaults.amount_review_usd,
        "FRAUD_AMOUNT_HIGH_USD": defaults.amount_high_usd,
        "FRAUD_AMOUNT_OVERRIDES": "",
    }
    for name, default in expected.items():
        assert set(variables[name]) == {"Ref"}
        assert parameters[variables[name]["Ref"]]["Default"] == default


@pytest.mark.parametrize("value", ["", " ", ",", " , ,, "])
def test_an_empty_blocklist(value: str) -> None:
    assert Settings.from_env(env(FRAUD_BLOCKLIST=value)).fraud_rules.blocklist == frozenset()


@pytest.mark.parametrize(
    "name",
    [
        "FRAUD_STEP_UP_SCORE",
        "FRAUD_BLOCK_SCORE",
        "FRAUD_CUSTOMER_LIMIT",
        "FRAUD_DEVICE_LIMIT",
        "FRAUD_IP_LIMIT",
        "FRAUD_VELOCITY_WINDOW_SECONDS",
        "FRAUD_AMOUNT_REVIEW_USD",
        "FRAUD_AMOUNT_HIGH_USD",
        "GATEWAY_MAX_ATTEMPTS",
        "INTENT_TTL_SECONDS",
        "IDEMPOTENCY_TTL_SECONDS",
    ],
)
@pytest.mark.parametrize("value", ["ten", "3.5", "1e5", "0x10", "12abc"])
def test_malformed_integers_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env(**{name: value}))


@pytest.mark.parametrize("value", ["fast", "1s", "one"])
def test_a_malformed_gateway_timeout_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="GATEWAY_TIMEOUT_SECONDS"):
        Settings.from_env(env(GATEWAY_TIMEOUT_SECONDS=value))


@pytest.mark.parametrize("value", ["0", "3600", "86399", "-1"])
def test_an_idempotency_ttl_under_24_hours_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TTL_SECONDS"):
        Settings.from_env(env(IDEMPOTENCY_TTL_SECONDS=value))


@pytest.mark.parametrize("value", ["86400", "86401", "604800"])
def test_an_idempotency_ttl_of_24_hours_or_more_is_accepted(value: str) -> None:
    assert Settings.from_env(env(IDEMPOTENCY_TTL_SECONDS=value)).idempotency_ttl_seconds == int(value)


def test_settings_errors_are_value_errors() -> None:
    assert issubclass(SettingsError, ValueError)


# -- screen --------------------------------------------------------------------------------------


class InMemoryVelocity(VelocityCounter):
    """Counts every hit per key (one window); remembers what it was asked."""

    def __init__(self, already: dict[str, int] | None = None) -> None:
        self.counts: Counter[str] = Counter(already or {})
        self.calls: list[tuple[list[str], int]] = []

    def hit(self, keys: list[str], *, window_seconds: int) -> dict[str, int]:
        self.calls.append((list(keys), window_seconds))
        for key in keys:
            self.counts[key] += 1
        return {key: self.counts[key] for key in keys}


RULES = FraudRules(customer_limit=2, device_limit=3, ip_limit=4, velocity_window_seconds=900)


def attempt(**overrides: Any) -> FraudSignals:
    fields: dict[str, Any] = {
        "amount": Money.of(1_000, "USD"),
        "merchant_id": "mer_1",
        "customer_id": "cus_1",
        "payment_method": "pm_card_visa",
    }
    fields.update(overrides)
    return FraudSignals(**fields)


def test_the_customer_is_always_counted() -> None:
    velocity = InMemoryVelocity()

    result = screen(attempt(), velocity=velocity, rules=RULES)

    assert velocity.calls == [(["customer#mer_1#cus_1"], 900)]
    assert result == FraudAssessment(decision=Decision.ALLOW, score=0, reasons=())


def test_device_and_ip_are_counted_when_present() -> None:
    velocity = InMemoryVelocity()

    screen(attempt(device_fingerprint="dev_9", ip_address="203.0.113.7"), velocity=velocity, rules=RULES)

    (keys, window), *_ = velocity.calls
    assert sorted(keys) == ["customer#mer_1#cus_1", "device#dev_9", "ip#203.0.113.7"]
    assert window == 900
    assert len(velocity.calls) == 1


@pytest.mark.parametrize(
    ("device", "ip", "expected"),
    [
        ("dev_9", None, ["customer#mer_1#cus_1", "device#dev_9"]),
        (None, "10.0.0.1", ["customer#mer_1#cus_1", "ip#10.0.0.1"]),
        ("", "", ["customer#mer_1#cus_1"]),
    ],
)
def test_only_present_dimensions_are_counted(device: str | None, ip: str | None, expected: list[str]) -> None:
    velocity = InMemoryVelocity()

    screen(attempt(device_fingerprint=device, ip_address=ip), velocity=velocity, rules=RULES)

    assert sorted(velocity.calls[0][0]) == expected


def test_customer_velocity_trips_after_the_limit() -> None:
    # Given a customer limit of 2 attempts per window
    velocity = InMemoryVelocity()

    # When the same customer tries three times
    results = [screen(attempt(), velocity=velocity, rules=RULES) for _ in range(3)]

    # Then only the third is over the limit
    assert [r.reasons for r in results] == [(), (), ("velocity_customer",)]
    assert results[2].score == RULES.customer_points


def test_another_customer_is_counted_apart() -> None:
    velocity = InMemoryVelocity({"customer#mer_1#cus_1": 10})

    result = screen(attempt(customer_id="cus_2"), velocity=velocity, rules=RULES)

    assert result.reasons == ()


def test_device_velocity_uses_the_device_count() -> None:
    # Given a device already seen 3 times (the limit) with other customers
    velocity = InMemoryVelocity({"device#dev_9": 3})

    result = screen(attempt(device_fingerprint="dev_9"), velocity=velocity, rules=RULES)

    assert result.reasons == ("velocity_device",)
    assert result.score == RULES.device_points


def test_ip_velocity_uses_the_ip_count() -> None:
    velocity = InMemoryVelocity({"ip#198.51.100.1": 4})

    result = screen(attempt(ip_address="198.51.100.1"), velocity=velocity, rules=RULES)

    assert result.reasons == ("velocity_ip",)


def test_counts_at_the_limit_do_not_trip() -> None:
    velocity = InMemoryVelocity({"customer#mer_1#cus_1": 1, "device#dev_9": 2, "ip#10.0.0.1": 3})

    result = screen(
        attempt(device_fingerprint="dev_9", ip_address="10.0.0.1"), velocity=velocity, rules=RULES
    )

    assert result.reasons == ()


def test_every_dimension_over_its_limit_adds_up() -> None:
    velocity = InMemoryVelocity({"customer#mer_1#cus_1": 2, "device#dev_9": 3, "ip#10.0.0.1": 4})

    result = screen(
        attempt(device_fingerprint="dev_9", ip_address="10.0.0.1"), velocity=velocity, rules=RULES
    )

    assert result.reasons == ("velocity_customer", "velocity_device", "velocity_ip")
    assert result.score == min(100, RULES.customer_points + RULES.device_points + RULES.ip_points)
    assert result.decision is Decision.BLOCK


def test_a_device_and_an_ip_with_the_same_text_are_different_keys() -> None:
    velocity = InMemoryVelocity({"device#shared": 3})

    result = screen(attempt(ip_address="shared"), velocity=velocity, rules=RULES)

    assert result.reasons == ()
    assert velocity.counts["ip#shared"] == 1


def test_counts_sent_by_the_caller_are_replaced_by_the_counter() -> None:
    # Given signals that claim many attempts, and a counter that has seen none
    velocity = InMemoryVelocity()

    result = screen(
        attempt(customer_attempts=99, device_attempts=99, ip_attempts=99), velocity=velocity, rules=RULES
    )

    # Then the counter's figures are the ones scored
    assert result.reasons == ()


def test_one_merchants_customer_burst_does_not_count_against_another_merchants_namesake() -> None:
    # Given merchant A's cus_1 paying fast enough to trip the customer limit (2)
    velocity = InMemoryVelocity()
    burst = [screen(attempt(merchant_id="mer_a"), velocity=velocity, rules=RULES) for _ in range(3)]
    assert burst[-1].reasons == ("velocity_customer",)

    # When merchant B's cus_1, another person, pays
    other = screen(attempt(merchant_id="mer_b"), velocity=velocity, rules=RULES)

    # Then it is that customer's first attempt, counted under its own merchant
    assert other.reasons == ()
    assert velocity.counts["customer#mer_a#cus_1"] == 3
    assert velocity.counts["customer#mer_b#cus_1"] == 1


def test_attempts_sent_without_an_ip_address_have_no_ip_dimension() -> None:
    # Given many customers paying through one merchant server, no shopper IP sent with any
    velocity = InMemoryVelocity()

    large = Money.of(500_000, "USD")
    results = [
        screen(attempt(customer_id=f"cus_{n}", amount=large), velocity=velocity, rules=RULES)
        for n in range(50)
    ]

    # Then no IP is counted and none adds IP weight: a large payment is only "elevated"
    assert not [key for key in velocity.counts if not key.startswith("customer#")]
    assert {result.reasons for result in results} == {("amount_elevated",)}
    assert {result.decision for result in results} == {Decision.ALLOW}


def test_screen_keeps_the_other_rules() -> None:
    result = screen(attempt(payment_method="pm_card_risk_highest"), velocity=InMemoryVelocity(), rules=RULES)

    assert result.decision is Decision.BLOCK
    assert "risk_test_method_highest" in result.reasons


# -- the fraud-check wire format -----------------------------------------------------------------

optional_ids = st.none() | st.text(min_size=1, max_size=30)


@st.composite
def fraud_signals(draw: st.DrawFn) -> FraudSignals:
    code = draw(st.sampled_from(sorted(CURRENCIES)))
    return FraudSignals(
        amount=Money(draw(st.integers(min_value=1, max_value=99_999_999_999)), CURRENCIES[code]),
        merchant_id=draw(st.text(min_size=1, max_size=30)),
        customer_id=draw(st.text(min_size=1, max_size=30)),
        payment_method=draw(st.text(min_size=1, max_size=30)),
        device_fingerprint=draw(optional_ids),
        ip_address=draw(optional_ids),
        email=draw(optional_ids),
    )


@settings(max_examples=100, deadline=None)
@given(fraud_signals())
def test_signals_survive_the_wire(signals: FraudSignals) -> None:
    payload = json.loads(json.dumps(signals_to_payload(signals)))

    assert signals_from_payload(payload) == signals


def test_the_signals_payload_is_camel_case() -> None:
    payload = signals_to_payload(
        attempt(
            amount=Money.of(1_250, "KWD"), device_fingerprint="dev_1", ip_address="10.0.0.1", email="a@b.co"
        )
    )

    assert payload == {
        "amount": 1_250,
        "currency": "KWD",
        "merchantId": "mer_1",
        "customerId": "cus_1",
        "paymentMethod": "pm_card_visa",
        "deviceFingerprint": "dev_1",
        "ipAddress": "10.0.0.1",
        "email": "a@b.co",
    }


def test_velocity_counts_are_not_sent_and_come_back_as_defaults() -> None:
    payload = signals_to_payload(attempt(customer_attempts=7, device_attempts=8, ip_attempts=9))

    back = signals_from_payload(payload)

    assert (back.customer_attempts, back.device_attempts, back.ip_attempts) == (1, 0, 0)


def test_optional_fields_may_be_left_out() -> None:
    back = signals_from_payload(
        {
            "amount": 500,
            "currency": "JPY",
            "merchantId": "mer_1",
            "customerId": "cus_1",
            "paymentMethod": "pm_card_visa",
        }
    )

    assert back == FraudSignals(
        amount=Money.of(500, "JPY"), merchant_id="mer_1", customer_id="cus_1", payment_method="pm_card_visa"
    )


@pytest.mark.parametrize("missing", ["amount", "currency", "merchantId", "customerId", "paymentMethod"])
def test_a_missing_field_is_an_invalid_request(missing: str) -> None:
    payload = signals_to_payload(attempt())
    del payload[missing]

    with pytest.raises(InvalidRequest, match=missing):
        signals_from_payload(payload)


@pytest.mark.parametrize(
    ("field", "value"), [("amount", 10.0), ("amount", "10"), ("amount", True), ("currency", "usd")]
)
def test_a_malformed_amount_or_currency_is_an_invalid_request(field: str, value: Any) -> None:
    payload = {**signals_to_payload(attempt()), field: value}

    with pytest.raises(InvalidRequest):
        signals_from_payload(payload)


def test_the_checkout_workflow_sends_the_fraud_check_exactly_the_wire_fields() -> None:
    # Given the FraudCheck state of the one workflow definition, and what ValidateIntent answers
    definition = json.loads((ROOT / "statemachines" / "checkout.asl.json").read_text())
    parameters = definition["States"]["FraudCheck"]["Parameters"]
    intents, clock = FakeIntentRepository(), FakeClock()
    intent = PaymentIntent.create(
        amount=Money.of(5_000, "USD"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    intents.add(intent)
    validated = validate_for_checkout(intent.payment_intent_id, intents=intents, clock=clock)

    # Then the state sends the fields the fraud function parses (the merchant among them), each
    # `$.intent.*` one is in ValidateIntent's answer, and the shopper's IP is the checkout request's
    assert {name.removesuffix(".$") for name in parameters} == set(signals_to_payload(attempt()))
    from_intent = {
        path.removeprefix("$.intent.") for path in parameters.values() if path.startswith("$.intent.")
    }
    assert from_intent <= set(validated)
    assert validated["merchantId"] == "mer_1"
    assert parameters["merchantId.$"] == "$.intent.merchantId"
    assert parameters["ipAddress.$"] == "$.ipAddress"  # what StartCheckout was sent, or null


@pytest.mark.parametrize(("sent", "seen"), [(None, None), ("203.0.113.9", "203.0.113.9")])
def test_authorize_screens_the_merchants_customer_and_only_the_ip_the_merchant_sent(
    sent: str | None, seen: str | None
) -> None:
    # Given a payment of merchant mer_7's customer cus_1
    intents, fraud, clock = FakeIntentRepository(), FakeFraud(), FakeClock()
    intent = PaymentIntent.create(
        amount=Money.of(500_000, "USD"),
        customer_id="cus_1",
        merchant_id="mer_7",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    intents.add(intent)

    # When it is authorized with or without the shopper's IP address
    authorize_intent(
        AuthorizeIntent(intent.payment_intent_id, ip_address=sent),
        intents=intents,
        fraud=fraud,
        gateway=FakeGateway(),
        clock=clock,
    )

    # Then the fraud check saw the merchant's customer and that address, or none at all
    [signals] = fraud.seen
    assert (signals.merchant_id, signals.customer_id, signals.customer) == ("mer_7", "cus_1", "mer_7#cus_1")
    assert signals.ip_address == seen
    assert signals_from_payload(json.loads(json.dumps(signals_to_payload(signals)))) == signals


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(Decision),
    st.integers(min_value=0, max_value=100),
    st.lists(st.text(min_size=1, max_size=20), max_size=5).map(tuple),
)
def test_assessments_survive_the_wire(decision: Decision, score: int, reasons: tuple[str, ...]) -> None:
    assessment = FraudAssessment(decision=decision, score=score, reasons=reasons)

    payload = json.loads(json.dumps(assessment_to_payload(assessment)))

    assert assessment_from_payload(payload) == assessment


def test_the_assessment_payload() -> None:
    payload = assessment_to_payload(
        FraudAssessment(decision=Decision.STEP_UP, score=45, reasons=("amount_high",))
    )

    assert payload == {"decision": "step_up", "score": 45, "reasons": ["amount_high"]}


def test_an_assessment_without_reasons() -> None:
    assert assessment_from_payload({"decision": "allow", "score": 0}) == FraudAssessment(
        decision=Decision.ALLOW, score=0, reasons=()
    )


# -- contains_card_number ------------------------------------------------------------------------

TEST_PANS = [
    "4242424242424242",  # Visa
    "4111111111111111",  # Visa
    "4000056655665556",  # Visa debit
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express (15)
    "6011111111111117",  # Discover
    "3056930009020004",  # Diners Club
    "36227206271667",  # Diners Club (14)
    "4222222222222",  # Visa (13)
]


def test_the_test_pans_are_luhn_valid() -> None:
    assert all(luhn_valid(pan) for pan in TEST_PANS)
    assert not luhn_valid("4242424242424241")


@pytest.mark.parametrize("pan", TEST_PANS)
def test_a_bare_test_pan_is_found(pan: str) -> None:
    assert contains_card_number(pan)


def grouped(pan: str, separator: str) -> str:
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


@pytest.mark.parametrize("pan", TEST_PANS)
@pytest.mark.parametrize("separator", [" ", "-"])
def test_a_test_pan_with_separators_is_found(pan: str, separator: str) -> None:
    assert contains_card_number(grouped(pan, separator))


@pytest.mark.parametrize(
    "text",
    [
        "please charge 4242 4242 4242 4242 thanks",
        "card:5555-5555-5555-4444.",
        "amex 3782 822463 10005 exp 12/29",
        "ref4111111111111111end",
    ],
)
def test_a_pan_inside_text_is_found(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242 4242 4242 4242 123",  # the card and its security code
        "4242424242424242 123",
        "4111-1111-1111-1111-0",
        "2 4242 4242 4242 4242",  # a quantity, then the card
        "1 4111111111111111",
    ],
)
def test_a_pan_next_to_another_separated_number_is_found(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "123456789015",  # 12 digits, Luhn-valid
        "1234 5678 9015",
        "ord_123456",
        "Order ord_123456 for 2 mugs",
        "call +1 555-0100 before 2026-12-01",
        "",
        "no digits at all",
    ],
)
def test_short_numbers_and_order_ids_are_not_card_numbers(text: str) -> None:
    assert not contains_card_number(text)


@pytest.mark.parametrize(
    "number",
    [
        "1234567812345678",
        "4242424242424241",  # a test PAN with its check digit off by one
        "4111111111111112",
        "5555555555554443",
        "4242 4242 4242 4241",
    ],
)
def test_a_non_luhn_16_digit_number_is_not_a_card_number(number: str) -> None:
    assert not luhn_valid(number.replace(" ", ""))

    assert not contains_card_number(number)
