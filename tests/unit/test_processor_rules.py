"""A merchant's processor rules: the first rule a payment matches chooses its processor, else the
default; rules that cannot be read exactly are refused with a message that says why."""

from __future__ import annotations

from typing import Any

import pytest

from payments.domain.errors import InvalidRequest
from payments.domain.intents import Processor
from payments.domain.money import Money
from payments.domain.processor_rules import (
    MAX_AMOUNT,
    MAX_RULES,
    ProcessorRule,
    choose,
    parse_rule,
    rule_from,
    rules_from,
)

SANDBOX, STRIPE = Processor.SANDBOX, Processor.STRIPE

# Stripe for USD and EUR from 10.00 to 5,000.00 (minor units, inclusive); the sandbox for any JPY.
RULES = (
    ProcessorRule(STRIPE, ("USD", "EUR"), 1_000, 500_000),
    ProcessorRule(SANDBOX, ("JPY",)),
)


@pytest.mark.parametrize(
    ("rules", "amount", "default", "chosen"),
    [
        pytest.param((), Money.of(100, "USD"), STRIPE, STRIPE, id="no rules: the default"),
        pytest.param((), Money.of(100, "USD"), SANDBOX, SANDBOX, id="no rules: the other default"),
        pytest.param(RULES, Money.of(1_000, "USD"), SANDBOX, STRIPE, id="at min: matches"),
        pytest.param(RULES, Money.of(999, "USD"), SANDBOX, SANDBOX, id="one under min: the default"),
        pytest.param(RULES, Money.of(500_000, "EUR"), SANDBOX, STRIPE, id="at max: matches"),
        pytest.param(RULES, Money.of(500_001, "EUR"), SANDBOX, SANDBOX, id="one over max: the default"),
        pytest.param(RULES, Money.of(5_000, "GBP"), SANDBOX, SANDBOX, id="currency in no rule"),
        pytest.param(RULES, Money.of(5_000, "JPY"), STRIPE, SANDBOX, id="second rule"),
        pytest.param(RULES, Money.of(10**12, "JPY"), STRIPE, SANDBOX, id="no range: any amount"),
        pytest.param(
            (ProcessorRule(SANDBOX), ProcessorRule(STRIPE, ("USD",))),
            Money.of(5_000, "USD"),
            STRIPE,
            SANDBOX,
            id="first match wins over a later one",
        ),
        pytest.param(
            (ProcessorRule(SANDBOX, ("USD",), min_amount=0),),
            Money.of(0, "USD"),
            STRIPE,
            SANDBOX,
            id="zero at min 0",
        ),
        pytest.param(
            (ProcessorRule(SANDBOX, ("USD",), max_amount=100),),
            Money.of(100, "USD"),
            STRIPE,
            SANDBOX,
            id="max only: at max",
        ),
        pytest.param(
            (ProcessorRule(SANDBOX, ("USD",), min_amount=100),),
            Money.of(10**15, "USD"),
            STRIPE,
            SANDBOX,
            id="min only: no upper bound",
        ),
        pytest.param(
            (ProcessorRule(SANDBOX, ("USD",), 100, 100),),
            Money.of(100, "USD"),
            STRIPE,
            SANDBOX,
            id="min equal to max: that amount only",
        ),
        pytest.param(
            (ProcessorRule(SANDBOX, ("USD",), 100, 100),),
            Money.of(101, "USD"),
            STRIPE,
            STRIPE,
            id="min equal to max: another amount",
        ),
    ],
)
def test_the_first_rule_matching_currency_and_amount_chooses(
    rules: tuple[ProcessorRule, ...], amount: Money, default: Processor, chosen: Processor
) -> None:
    assert choose(rules, amount, default) is chosen


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"processor": "adyen"}, "rule 1: unknown processor 'adyen': use one of sandbox, stripe"),
        ({}, "rule 1: unknown processor None"),
        ({"processor": "stripe", "currencies": ["usd"]}, "unknown currency 'usd': use ISO 4217 codes"),
        ({"processor": "stripe", "currencies": ["XXX"]}, "unknown currency 'XXX'"),
        ({"processor": "stripe", "currencies": []}, "currencies must name at least one currency"),
        ({"processor": "stripe", "currencies": "USD"}, "currencies must be a list of ISO 4217 codes"),
        ({"processor": "stripe", "currencies": ["USD", "USD"]}, "currencies name a currency twice: USD,USD"),
        (
            {"processor": "stripe", "currencies": ["USD"], "minAmount": 10, "maxAmount": 9},
            "minAmount 10 is more than maxAmount 9: min must be <= max",
        ),
        ({"processor": "stripe", "currencies": ["USD"], "minAmount": -1}, "minAmount must be between 0"),
        (
            {"processor": "stripe", "currencies": ["USD"], "maxAmount": MAX_AMOUNT + 1},
            "maxAmount must be between 0",
        ),
        (
            {"processor": "stripe", "currencies": ["USD"], "minAmount": 1.5},
            "minAmount must be a whole number of minor units, not 1.5",
        ),
        (
            {"processor": "stripe", "currencies": ["USD"], "maxAmount": True},
            "maxAmount must be a whole number",
        ),
        (
            {"processor": "stripe", "currencies": ["USD"], "maxAmount": "100"},
            "maxAmount must be a whole number",
        ),
        ({"processor": "stripe", "minAmount": 100}, "an amount range needs currencies"),
        ({"processor": "stripe", "currency": "USD"}, "rule 1: unknown field(s) currency"),
        ("stripe", "rule 1: must be an object with a processor"),
    ],
)
def test_a_rule_that_cannot_be_read_exactly_is_refused_with_why(raw: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rule_from(raw)
    assert message in refused.value.message


def test_the_rule_a_refusal_names_is_its_position() -> None:
    with pytest.raises(InvalidRequest, match="rule 2: unknown processor 'paypal'"):
        rules_from([{"processor": "stripe"}, {"processor": "paypal"}])


def test_rules_are_a_list_of_a_bounded_length() -> None:
    with pytest.raises(InvalidRequest, match="rules must be a list"):
        rules_from({"processor": "stripe"})
    with pytest.raises(InvalidRequest, match=f"at most {MAX_RULES} rules"):
        rules_from([{"processor": "sandbox"}] * (MAX_RULES + 1))
    assert rules_from([]) == ()


def test_stored_rules_read_back_as_they_were_written() -> None:
    stored = [rule.as_dict() for rule in RULES] + [{"processor": "stripe"}]
    assert stored == [
        {"processor": "stripe", "currencies": ["USD", "EUR"], "minAmount": 1_000, "maxAmount": 500_000},
        {"processor": "sandbox", "currencies": ["JPY"]},
        {"processor": "stripe"},
    ]
    assert rules_from(stored) == (*RULES, ProcessorRule(STRIPE))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("stripe:USD,EUR:0:500000", ProcessorRule(STRIPE, ("USD", "EUR"), 0, 500_000)),
        ("sandbox", ProcessorRule(SANDBOX)),
        ("sandbox:USD", ProcessorRule(SANDBOX, ("USD",))),
        ("stripe:jpy::100000", ProcessorRule(STRIPE, ("JPY",), None, 100_000)),
        ("stripe:USD:100", ProcessorRule(STRIPE, ("USD",), 100)),
        (" stripe : USD , EUR : 1 : 2 ", ProcessorRule(STRIPE, ("USD", "EUR"), 1, 2)),
    ],
)
def test_an_operators_rule_reads_as_processor_currencies_min_max(text: str, rule: ProcessorRule) -> None:
    assert parse_rule(text) == rule
    assert parse_rule(rule.as_text()) == rule  # as `show` prints it, `set` takes it back


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adyen:USD", "rule 'adyen:USD': unknown processor 'adyen'"),
        (
            "stripe:USD:1.5",
            "rule 'stripe:USD:1.5': minAmount must be a whole number of minor units, got '1.5'",
        ),
        ("stripe:USD:-1", "minAmount must be a whole number of minor units, got '-1'"),
        ("stripe:USD:500:100", "minAmount 500 is more than maxAmount 100"),
        ("stripe::0:100", "an amount range needs currencies"),
        ("stripe:USD,:0:100", "unknown currency ''"),
        ("stripe:USD:0:100:7", "expected processor[:CURRENCIES[:MIN[:MAX]]]"),
        ("", "unknown processor ''"),
        ("stripe:USD:١٢", "minAmount must be a whole number"),  # digits, but not ASCII ones
    ],
)
def test_an_operators_bad_rule_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_rule(text)
    assert message in refused.value.message
    assert "\n" not in refused.value.message
    assert "rule 1:" not in refused.value.message  # the operator's own text names the rule


def test_a_rule_built_in_code_is_checked_too() -> None:
    with pytest.raises(InvalidRequest, match="min must be <= max"):
        ProcessorRule(STRIPE, ("USD",), 2, 1)
    with pytest.raises(InvalidRequest, match="processor must be one of"):
        ProcessorRule("stripe")  # type: ignore[arg-type]
