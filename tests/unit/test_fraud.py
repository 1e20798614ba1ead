"""Fraud scoring: each rule alone, the decision boundaries, the cap, and monotonicity; the amount
thresholds in every currency; customer signals scoped to their merchant."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.fraud import (
    PER_THOUSAND_USD,
    Decision,
    FraudAssessment,
    FraudRules,
    FraudSignals,
    assess,
    blocklist_keys,
    merchant_customer,
)
from payments.domain.money import CURRENCIES, Money

DEFAULTS = FraudRules()
# Explicit figures, so the boundary arithmetic does not depend on the shipped defaults.
FIXED = FraudRules(
    step_up_score=40,
    block_score=80,
    amount_review_usd=2_000,
    amount_high_usd=10_000,
    amount_review_points=25,
    amount_high_points=45,
    customer_limit=10,
    device_limit=10,
    ip_limit=20,
    customer_points=30,
    device_points=30,
    ip_points=20,
)
RANK = {Decision.ALLOW: 0, Decision.STEP_UP: 1, Decision.BLOCK: 2}


def signals(amount: int = 1_000, code: str = "USD", **overrides: object) -> FraudSignals:
    fields: dict[str, object] = {
        "amount": Money.of(amount, code),
        "merchant_id": "mer_1",
        "customer_id": "cus_1",
        "payment_method": "pm_card_visa",
    }
    fields.update(overrides)
    return FraudSignals(**fields)  # type: ignore[arg-type]


# -- a clean attempt -----------------------------------------------------------------------------


def test_a_clean_attempt_is_allowed_with_no_reasons() -> None:
    # Given a small payment by a first-time customer with a plain card
    # When
    result = assess(signals(), DEFAULTS)

    # Then
    assert result == FraudAssessment(decision=Decision.ALLOW, score=0, reasons=())


def test_documented_defaults() -> None:
    assert (DEFAULTS.step_up_score, DEFAULTS.block_score) == (40, 80)
    assert (DEFAULTS.amount_review_usd, DEFAULTS.amount_high_usd) == (2_000, 10_000)
    assert DEFAULTS.amount_overrides_major == {}
    assert DEFAULTS.always_block_methods == {"pm_card_risk_highest"}
    assert DEFAULTS.always_step_up_methods == {"pm_card_risk_elevated"}
    assert DEFAULTS.blocklist == frozenset()


def test_decision_values_are_the_wire_strings() -> None:
    assert [d.value for d in Decision] == ["allow", "step_up", "block"]


# -- risk test methods ---------------------------------------------------------------------------


def test_highest_risk_method_is_blocked() -> None:
    result = assess(signals(payment_method="pm_card_risk_highest"), DEFAULTS)

    assert result.decision is Decision.BLOCK
    assert result.score == 100
    assert result.reasons == ("risk_test_method_highest",)


def test_elevated_risk_method_steps_up() -> None:
    result = assess(signals(payment_method="pm_card_risk_elevated"), DEFAULTS)

    assert result.decision is Decision.STEP_UP
    assert result.score == 40
    assert result.reasons == ("risk_test_method_elevated",)


def test_elevated_risk_method_adds_the_configured_step_up_score() -> None:
    rules = FraudRules(step_up_score=55, block_score=90)
    result = assess(signals(payment_method="pm_card_risk_elevated"), rules)
    assert result.score == 55
    assert result.decision is Decision.STEP_UP


def test_risk_methods_are_configurable() -> None:
    rules = FraudRules(
        always_block_methods=frozenset({"pm_evil"}), always_step_up_methods=frozenset({"pm_odd"})
    )

    assert assess(signals(payment_method="pm_evil"), rules).decision is Decision.BLOCK
    assert assess(signals(payment_method="pm_odd"), rules).decision is Decision.STEP_UP
    assert assess(signals(payment_method="pm_card_risk_highest"), rules).decision is Decision.ALLOW


def test_a_method_in_both_lists_counts_as_highest_only() -> None:
    rules = FraudRules(always_step_up_methods=frozenset({"pm_card_risk_highest"}))
    result = assess(signals(payment_method="pm_card_risk_highest"), rules)
    assert result.reasons == ("risk_test_method_highest",)
    assert result.decision is Decision.BLOCK


@pytest.mark.parametrize(
    "method", ["pm_card_visa", "pm_card_mastercard", "pm_card_declined", "PM_CARD_RISK_HIGHEST"]
)
def test_other_methods_add_nothing(method: str) -> None:
    assert assess(signals(payment_method=method), DEFAULTS).score == 0


# -- blocklist -----------------------------------------------------------------------------------


BLOCKABLE = {
    "customer": {"customer_id": "cus_bad"},
    "device": {"device_fingerprint": "dev_bad"},
    "ip": {"ip_address": "203.0.113.9"},
    "email": {"email": "fraud@example.com"},
}


@pytest.mark.parametrize(
    ("entry", "fields"),
    [
        ("customer:mer_1#cus_bad", BLOCKABLE["customer"]),
        ("device:dev_bad", BLOCKABLE["device"]),
        ("ip:203.0.113.9", BLOCKABLE["ip"]),
        ("email:fraud@example.com", BLOCKABLE["email"]),
    ],
    ids=["customer", "device", "ip", "email"],
)
def test_each_blocklist_kind_blocks(entry: str, fields: dict[str, Any]) -> None:
    # Given a blocklist naming one attribute of the attempt
    rules = FraudRules(blocklist=frozenset({entry}))

    # When
    result = assess(signals(**fields), rules)

    # Then
    assert result.decision is Decision.BLOCK
    assert result.score == 100
    assert result.reasons == ("blocklisted",)


@pytest.mark.parametrize("email", ["Fraud@Example.com", "FRAUD@EXAMPLE.COM", "fraud@EXAMPLE.com"])
def test_blocklisted_email_matches_in_any_case(email: str) -> None:
    rules = FraudRules(blocklist=frozenset({"email:fraud@example.com"}))
    assert assess(signals(email=email), rules).decision is Decision.BLOCK


@pytest.mark.parametrize(
    ("entry", "email"),
    [
        ("email:Fraud@Example.com", "Fraud@Example.com"),
        ("email:Fraud@Example.com", "fraud@example.com"),
        ("email:FRAUD@EXAMPLE.COM", "fraud@example.com"),
    ],
)
def test_blocklisted_email_matches_whatever_the_case_of_the_entry(entry: str, email: str) -> None:
    # Given a blocklist entry written with capitals (as an operator may type it)
    rules = FraudRules(blocklist=frozenset({entry}))

    # When the same address attempts a payment
    result = assess(signals(email=email), rules)

    # Then email matching is case-insensitive on both sides
    assert result.decision is Decision.BLOCK
    assert result.reasons == ("blocklisted",)


def test_blocklist_entries_do_not_cross_kinds() -> None:
    # Given an entry for an ip whose text is the same as the device fingerprint of the attempt
    rules = FraudRules(blocklist=frozenset({"ip:abc", "email:cus_1", "device:cus_1"}))

    result = assess(signals(device_fingerprint="abc", ip_address="10.0.0.1", email="a@b.c"), rules)

    assert result.decision is Decision.ALLOW
    assert "blocklisted" not in result.reasons


def test_an_unrelated_blocklist_does_not_block() -> None:
    rules = FraudRules(blocklist=frozenset({"customer:mer_1#cus_other", "device:dev_other", "ip:1.1.1.1"}))
    result = assess(signals(device_fingerprint="dev_1", ip_address="10.0.0.1", email="a@example.com"), rules)
    assert result.score == 0


def test_several_blocklist_hits_count_once() -> None:
    rules = FraudRules(blocklist=frozenset({"customer:mer_1#cus_1", "device:dev_bad", "ip:10.0.0.1"}))
    result = assess(signals(device_fingerprint="dev_bad", ip_address="10.0.0.1"), rules)
    assert result.reasons == ("blocklisted",)
    assert result.score == 100


def test_blocklist_keys_lists_only_the_known_attributes() -> None:
    assert blocklist_keys(signals()) == ("customer:mer_1#cus_1",)
    assert blocklist_keys(signals(device_fingerprint="", ip_address="", email="")) == (
        "customer:mer_1#cus_1",
    )
    assert blocklist_keys(
        signals(device_fingerprint="dev_9", ip_address="2001:db8::1", email="Ana@Example.COM")
    ) == ("customer:mer_1#cus_1", "device:dev_9", "ip:2001:db8::1", "email:ana@example.com")


def test_a_customer_entry_blocks_that_merchants_customer_only() -> None:
    # Given merchant 2's cus_1 on the blocklist
    rules = FraudRules(blocklist=frozenset({"customer:mer_2#cus_1"}))

    # Then merchant 2's cus_1 is blocked, and merchant 1's cus_1 (another person) is not
    assert assess(signals(merchant_id="mer_2"), rules).reasons == ("blocklisted",)
    assert assess(signals(merchant_id="mer_1"), rules).reasons == ()


@pytest.mark.parametrize("entry", ["customer:cus_1", "customer:#cus_1", "customer:mer_1#", "customer:"])
def test_a_customer_entry_without_its_merchant_is_refused(entry: str) -> None:
    # A bare customer id names a different person at every merchant: it is a configuration error
    with pytest.raises(ValueError, match="customer:<merchantId>#<customerId>"):
        FraudRules(blocklist=frozenset({entry}))


def test_the_merchant_customer_is_merchant_then_customer() -> None:
    assert merchant_customer("mer_1", "cus_1") == "mer_1#cus_1"
    assert signals(merchant_id="mer_9", customer_id="cus_2").customer == "mer_9#cus_2"


# -- amount --------------------------------------------------------------------------------------

# Currencies pegged to another (fixed parities): the table's figures must agree with the peg.
PEGS = [
    ("AED", "USD", "3.6725"),
    ("SAR", "USD", "3.75"),
    ("QAR", "USD", "3.64"),
    ("BHD", "USD", "0.376"),
    ("OMR", "USD", "0.3845"),
    ("JOD", "USD", "0.709"),
    ("HKD", "USD", "7.8"),
    ("BMD", "USD", "1"),
    ("BSD", "USD", "1"),
    ("PAB", "USD", "1"),
    ("BBD", "USD", "2"),
    ("BZD", "USD", "2"),
    ("XCD", "USD", "2.7"),
    ("ANG", "USD", "1.79"),
    ("AWG", "USD", "1.79"),
    ("KYD", "USD", "0.833"),
    ("DJF", "USD", "177.721"),
    ("ERN", "USD", "15"),
    ("XAF", "EUR", "655.957"),
    ("XOF", "EUR", "655.957"),
    ("KMF", "EUR", "491.96775"),
    ("XPF", "EUR", "119.33"),
    ("BAM", "EUR", "1.95583"),
    ("BGN", "EUR", "1.95583"),
    ("CVE", "EUR", "110.265"),
    ("STN", "EUR", "24.5"),
    ("FKP", "GBP", "1"),
    ("GIP", "GBP", "1"),
    ("SHP", "GBP", "1"),
    ("LSL", "ZAR", "1"),
    ("NAD", "ZAR", "1"),
    ("SZL", "ZAR", "1"),
    ("BTN", "INR", "1"),
]


def test_every_currency_has_a_magnitude_and_no_unknown_code_has_one() -> None:
    assert set(PER_THOUSAND_USD) == set(CURRENCIES)
    assert all(units > 0 for units in PER_THOUSAND_USD.values())
    assert PER_THOUSAND_USD["USD"] == 1_000


@pytest.mark.parametrize("code", sorted(CURRENCIES))
def test_every_currency_reviews_about_the_same_spend_as_the_usd_threshold(code: str) -> None:
    # Given the default thresholds in a currency's minor units
    review, high = DEFAULTS.amount_thresholds_minor(Money.of(1, code))
    exponent = CURRENCIES[code].exponent

    # When brought back to US dollars through the magnitude table (exact arithmetic, no floats)
    def in_usd(minor: int) -> Fraction:
        return Fraction(minor, 10**exponent) * 1_000 / PER_THOUSAND_USD[code]

    # Then they are the USD thresholds, within a factor of 3 (whole minor units, rounded up)
    assert 0 < review < high
    assert Fraction(2_000, 3) <= in_usd(review) <= 2_000 * 3
    assert Fraction(10_000, 3) <= in_usd(high) <= 10_000 * 3
    assert in_usd(review) >= DEFAULTS.amount_review_usd  # rounded up, never below


@pytest.mark.parametrize(("code", "anchor", "parity"), PEGS)
def test_pegged_currencies_agree_with_their_anchor(code: str, anchor: str, parity: str) -> None:
    # The table is rounded to two figures: a pegged currency is within 15 % of its anchor times the peg
    expected = PER_THOUSAND_USD[anchor] * Fraction(parity)
    assert Fraction(85, 100) <= PER_THOUSAND_USD[code] / expected <= Fraction(115, 100)


@pytest.mark.parametrize(
    ("code", "review_minor", "high_minor"),
    [
        ("USD", 200_000, 1_000_000),  # 2,000.00 and 10,000.00 USD
        ("JPY", 300_000, 1_500_000),  # exponent 0: yen
        ("EUR", 180_000, 900_000),
        ("KWD", 620_000, 3_100_000),  # exponent 3: 620.000 KWD
        ("CLF", 480_000, 2_400_000),  # exponent 4: 48.0000 CLF
        ("IDR", 3_200_000_000, 16_000_000_000),
    ],
)
def test_default_amount_thresholds_per_currency(code: str, review_minor: int, high_minor: int) -> None:
    # Given the USD thresholds, When read for a currency, Then they are in its minor units at its magnitude
    assert DEFAULTS.amount_thresholds_minor(Money.of(1, code)) == (review_minor, high_minor)


@pytest.mark.parametrize(
    ("code", "review_minor", "high_minor"),
    [("JPY", 300_000, 1_500_000), ("USD", 200_000, 1_000_000), ("KWD", 620_000, 3_100_000)],
)
def test_amount_points_at_each_boundary(code: str, review_minor: int, high_minor: int) -> None:
    def check(amount: int) -> FraudAssessment:
        return assess(signals(amount=amount, code=code), FIXED)

    # Just below review: nothing
    assert check(review_minor - 1).score == 0
    assert check(review_minor - 1).reasons == ()
    # At review and just below high: elevated, still allowed
    for amount in (review_minor, high_minor - 1):
        result = check(amount)
        assert (result.score, result.reasons, result.decision) == (25, ("amount_elevated",), Decision.ALLOW)
    # At high and above: high, a step-up
    for amount in (high_minor, high_minor * 50):
        result = check(amount)
        assert (result.score, result.reasons, result.decision) == (45, ("amount_high",), Decision.STEP_UP)


def test_by_default_an_elevated_amount_alone_is_allowed_and_a_high_one_steps_up() -> None:
    assert assess(signals(amount=200_000), DEFAULTS).decision is Decision.ALLOW
    assert assess(signals(amount=1_000_000), DEFAULTS).decision is Decision.STEP_UP


def test_small_payments_in_small_units_are_not_large_payments() -> None:
    # 2,000 JPY (about 13 USD) and 100,000 JPY (about 650 USD) are under the 2,000 USD review
    assert assess(signals(amount=2_000, code="JPY"), DEFAULTS).reasons == ()
    assert assess(signals(amount=100_000, code="JPY"), DEFAULTS).reasons == ()
    assert assess(signals(amount=2_000_000, code="IDR"), DEFAULTS).reasons == ()  # 20,000.00 IDR
    # 2,000 USD is reviewed, and so is the same spend in yen; 1,500,000 JPY is high
    assert assess(signals(amount=200_000, code="USD"), DEFAULTS).reasons == ("amount_elevated",)
    assert assess(signals(amount=300_000, code="JPY"), DEFAULTS).reasons == ("amount_elevated",)
    assert assess(signals(amount=1_500_000, code="JPY"), DEFAULTS).reasons == ("amount_high",)


def test_large_units_with_three_decimals_are_reviewed_at_the_same_spend() -> None:
    # KWD has exponent 3 and is worth about 3.2 USD: 620.000 KWD is the review, 619.999 is not
    assert assess(signals(amount=619_999, code="KWD"), DEFAULTS).reasons == ()
    assert assess(signals(amount=620_000, code="KWD"), DEFAULTS).reasons == ("amount_elevated",)
    # 2,000 KWD (about 6,400 USD) is well into the review band, short of high (3,100 KWD)
    assert assess(signals(amount=2_000_000, code="KWD"), DEFAULTS).reasons == ("amount_elevated",)
    assert assess(signals(amount=3_100_000, code="KWD"), DEFAULTS).reasons == ("amount_high",)


def test_the_usd_thresholds_move_every_currency() -> None:
    rules = FraudRules(amount_review_usd=500, amount_high_usd=1_000)
    assert rules.amount_thresholds_minor(Money.of(1, "USD")) == (50_000, 100_000)
    assert rules.amount_thresholds_minor(Money.of(1, "JPY")) == (75_000, 150_000)
    assert rules.amount_thresholds_minor(Money.of(1, "KWD")) == (155_000, 310_000)


def test_per_currency_override_replaces_the_defaults_for_that_currency_only() -> None:
    # Given a JPY override in major units
    rules = FraudRules(amount_overrides_major={"JPY": (50_000, 200_000)})

    # Then JPY uses it
    assert rules.amount_thresholds_minor(Money.of(1, "JPY")) == (50_000, 200_000)
    assert assess(signals(amount=49_999, code="JPY"), rules).score == 0
    assert assess(signals(amount=50_000, code="JPY"), rules).reasons == ("amount_elevated",)
    assert assess(signals(amount=199_999, code="JPY"), rules).reasons == ("amount_elevated",)
    assert assess(signals(amount=200_000, code="JPY"), rules).reasons == ("amount_high",)
    # And the other currencies keep the defaults
    assert rules.amount_thresholds_minor(Money.of(1, "USD")) == (200_000, 1_000_000)
    assert assess(signals(amount=200_000, code="USD"), rules).reasons == ("amount_elevated",)


def test_override_is_scaled_by_the_exponent() -> None:
    rules = FraudRules(amount_overrides_major={"KWD": (500, 3_000)})
    assert rules.amount_thresholds_minor(Money.of(1, "KWD")) == (500_000, 3_000_000)
    assert assess(signals(amount=499_999, code="KWD"), rules).score == 0
    assert assess(signals(amount=3_000_000, code="KWD"), rules).reasons == ("amount_high",)


def test_an_override_for_an_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError, match="XXX"):
        FraudRules(amount_overrides_major={"XXX": (1, 2)})


def test_amount_points_are_configurable() -> None:
    rules = FraudRules(amount_review_points=10, amount_high_points=90)
    assert assess(signals(amount=200_000), rules).score == 10
    result = assess(signals(amount=1_000_000), rules)
    assert result.score == 90
    assert result.decision is Decision.BLOCK


# -- velocity ------------------------------------------------------------------------------------


VELOCITY = [
    ("customer_attempts", "customer_limit", "customer_points", "velocity_customer"),
    ("device_attempts", "device_limit", "device_points", "velocity_device"),
    ("ip_attempts", "ip_limit", "ip_points", "velocity_ip"),
]


@pytest.mark.parametrize("rules", [DEFAULTS, FIXED], ids=["defaults", "fixed"])
@pytest.mark.parametrize(("field", "limit_field", "points_field", "reason"), VELOCITY)
def test_each_velocity_dimension_counts_only_over_its_limit(
    rules: FraudRules, field: str, limit_field: str, points_field: str, reason: str
) -> None:
    limit = getattr(rules, limit_field)
    points = getattr(rules, points_field)
    assert points > 0

    # At the limit: nothing added
    at_limit = assess(signals(**{field: limit}), rules)
    assert at_limit.score == 0
    assert at_limit.reasons == ()

    # One over: the dimension's points
    over = assess(signals(**{field: limit + 1}), rules)
    assert over.score == points
    assert over.reasons == (reason,)

    # Far over: the same points, no more
    assert assess(signals(**{field: limit * 100}), rules).score == points


def test_default_velocity_limits() -> None:
    assert (DEFAULTS.customer_limit, DEFAULTS.device_limit, DEFAULTS.ip_limit) == (10, 10, 20)


def test_by_default_a_fast_customer_or_device_steps_up_and_both_block() -> None:
    customer = assess(signals(customer_attempts=11), DEFAULTS)
    device = assess(signals(device_attempts=11), DEFAULTS)
    both = assess(signals(customer_attempts=11, device_attempts=11), DEFAULTS)

    assert customer.decision is Decision.STEP_UP
    assert device.decision is Decision.STEP_UP
    assert both.decision is Decision.BLOCK
    assert both.reasons == ("velocity_customer", "velocity_device")


def test_by_default_a_busy_ip_alone_only_adds_weight() -> None:
    # Given many customers behind one address
    alone = assess(signals(ip_attempts=500), DEFAULTS)

    # Then it is not enough to step up on its own
    assert alone.decision is Decision.ALLOW
    assert alone.reasons == ("velocity_ip",)
    # but it adds to other signals
    assert (
        assess(signals(ip_attempts=500, amount=200_000), DEFAULTS).score
        > assess(signals(amount=200_000), DEFAULTS).score
    )


def test_velocity_limits_are_configurable() -> None:
    rules = FraudRules(customer_limit=2, device_limit=3, ip_limit=4)
    assert assess(signals(customer_attempts=3), rules).reasons == ("velocity_customer",)
    assert assess(signals(device_attempts=4), rules).reasons == ("velocity_device",)
    assert assess(signals(ip_attempts=5), rules).reasons == ("velocity_ip",)
    assert assess(signals(customer_attempts=2, device_attempts=3, ip_attempts=4), rules).score == 0


def test_all_velocity_dimensions_together_can_reach_the_block_score_exactly() -> None:
    # Given 30 + 30 + 20 points, exactly a block score of 80
    result = assess(signals(customer_attempts=11, device_attempts=11, ip_attempts=21), FIXED)

    # Then
    assert result.score == 80
    assert result.decision is Decision.BLOCK
    assert result.reasons == ("velocity_customer", "velocity_device", "velocity_ip")


# -- decision boundaries -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip_points", "score", "decision"),
    [
        (18, 78, Decision.STEP_UP),
        (19, 79, Decision.STEP_UP),
        (20, 80, Decision.BLOCK),
        (21, 81, Decision.BLOCK),
    ],
)
def test_block_boundary(ip_points: int, score: int, decision: Decision) -> None:
    # Given 30 + 30 + ip_points against a block score of 80
    rules = dataclasses.replace(FIXED, ip_points=ip_points)

    result = assess(signals(customer_attempts=11, device_attempts=11, ip_attempts=21), rules)

    assert (result.score, result.decision) == (score, decision)


@pytest.mark.parametrize(
    ("step_up_score", "decision"),
    [(44, Decision.STEP_UP), (45, Decision.STEP_UP), (46, Decision.ALLOW)],
)
def test_step_up_boundary(step_up_score: int, decision: Decision) -> None:
    # Given a high amount worth 45 points
    rules = dataclasses.replace(FIXED, step_up_score=step_up_score)

    result = assess(signals(amount=1_000_000), rules)

    assert result.score == 45
    assert result.decision is decision


@pytest.mark.parametrize(
    ("ip_points", "score", "decision"),
    [(14, 39, Decision.ALLOW), (15, 40, Decision.STEP_UP), (16, 41, Decision.STEP_UP)],
)
def test_step_up_boundary_from_two_signals(ip_points: int, score: int, decision: Decision) -> None:
    # Given 25 (amount elevated) + ip_points against a step-up score of 40
    rules = dataclasses.replace(FIXED, ip_points=ip_points)

    result = assess(signals(amount=200_000, ip_attempts=21), rules)

    assert (result.score, result.decision) == (score, decision)


def test_elevated_method_plus_high_amount_blocks() -> None:
    # 40 + 45 = 85 >= 80
    result = assess(signals(amount=1_000_000, payment_method="pm_card_risk_elevated"), FIXED)
    assert result.score == 85
    assert result.decision is Decision.BLOCK


# -- the cap -------------------------------------------------------------------------------------


def test_score_is_capped_at_100_and_keeps_every_reason() -> None:
    # Given every signal firing at once
    rules = FraudRules(blocklist=frozenset({"customer:mer_1#cus_1"}))
    attempt = signals(
        amount=1_000_000,
        payment_method="pm_card_risk_highest",
        customer_attempts=99,
        device_attempts=99,
        ip_attempts=99,
    )

    # When
    result = assess(attempt, rules)

    # Then
    assert result.score == 100
    assert result.decision is Decision.BLOCK
    assert result.reasons == (
        "risk_test_method_highest",
        "blocklisted",
        "amount_high",
        "velocity_customer",
        "velocity_device",
        "velocity_ip",
    )


def test_cap_applies_to_velocity_and_amount_alone() -> None:
    rules = FraudRules(customer_points=60, device_points=60, ip_points=60, amount_high_points=60)
    result = assess(
        signals(amount=1_000_000, customer_attempts=11, device_attempts=11, ip_attempts=21), rules
    )
    assert result.score == 100


# -- properties ----------------------------------------------------------------------------------


@st.composite
def fraud_rules(draw: st.DrawFn) -> FraudRules:
    step_up = draw(st.integers(min_value=1, max_value=99))
    block = draw(st.integers(min_value=step_up + 1, max_value=100))
    review_usd = draw(st.integers(min_value=0, max_value=100_000))
    high_usd = draw(st.integers(min_value=review_usd, max_value=1_000_000))
    review_points = draw(st.integers(min_value=0, max_value=60))
    high_points = draw(st.integers(min_value=review_points, max_value=120))
    return FraudRules(
        step_up_score=step_up,
        block_score=block,
        amount_review_usd=review_usd,
        amount_high_usd=high_usd,
        amount_review_points=review_points,
        amount_high_points=high_points,
        customer_limit=draw(st.integers(min_value=0, max_value=50)),
        device_limit=draw(st.integers(min_value=0, max_value=50)),
        ip_limit=draw(st.integers(min_value=0, max_value=50)),
        customer_points=draw(st.integers(min_value=0, max_value=100)),
        device_points=draw(st.integers(min_value=0, max_value=100)),
        ip_points=draw(st.integers(min_value=0, max_value=100)),
        blocklist=draw(st.sampled_from([frozenset(), frozenset({"device:dev_bad"})])),
    )


fraud_signals = st.builds(
    FraudSignals,
    amount=st.builds(
        Money.of,
        st.integers(min_value=1, max_value=10**13),
        st.sampled_from(["JPY", "USD", "KWD", "CLF", "EUR"]),
    ),
    merchant_id=st.just("mer_1"),
    customer_id=st.just("cus_1"),
    payment_method=st.sampled_from(["pm_card_visa", "pm_card_risk_elevated", "pm_card_risk_highest"]),
    device_fingerprint=st.sampled_from([None, "dev_ok", "dev_bad"]),
    ip_address=st.sampled_from([None, "10.0.0.1"]),
    email=st.sampled_from([None, "a@example.com"]),
    customer_attempts=st.integers(min_value=0, max_value=80),
    device_attempts=st.integers(min_value=0, max_value=80),
    ip_attempts=st.integers(min_value=0, max_value=80),
)


def raise_one(base: FraudSignals, which: str, by: int) -> FraudSignals:
    if which == "amount":
        return dataclasses.replace(base, amount=Money(base.amount.amount + by, base.amount.currency))
    return dataclasses.replace(base, **{which: getattr(base, which) + by})


@given(
    base=fraud_signals,
    rules=st.one_of(st.just(DEFAULTS), fraud_rules()),
    which=st.sampled_from(["amount", "customer_attempts", "device_attempts", "ip_attempts"]),
    by=st.one_of(st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=10**12)),
)
@settings(max_examples=300)
def test_raising_any_single_signal_never_lowers_the_score(
    base: FraudSignals, rules: FraudRules, which: str, by: int
) -> None:
    # Given an attempt and the same attempt with one signal raised
    raised = raise_one(base, which, by)

    # When both are scored
    before = assess(base, rules)
    after = assess(raised, rules)

    # Then the score and the decision never go down, and no reason is lost
    assert after.score >= before.score
    assert RANK[after.decision] >= RANK[before.decision]
    assert set(before.reasons) - {"amount_elevated"} <= set(after.reasons)


@given(base=fraud_signals, rules=st.one_of(st.just(DEFAULTS), fraud_rules()))
@settings(max_examples=200)
def test_score_is_bounded_and_picks_the_decision(base: FraudSignals, rules: FraudRules) -> None:
    result = assess(base, rules)

    assert 0 <= result.score <= 100
    if result.score >= rules.block_score:
        assert result.decision is Decision.BLOCK
    elif result.score >= rules.step_up_score:
        assert result.decision is Decision.STEP_UP
    else:
        assert result.decision is Decision.ALLOW
    assert len(set(result.reasons)) == len(result.reasons)
    if not result.reasons:
        assert result.score == 0
    assert assess(base, rules) == result
