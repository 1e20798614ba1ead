"""The checkout's pure pieces: amount tiers, tracking ids, and how a failed state reads to clients."""

from __future__ import annotations

import json

import pytest

from payments.domain.checkout import AmountTier, amount_tier, tracking_id_for
from payments.domain.money import Money
from payments.service.checkout import failure_from


@pytest.mark.parametrize(
    ("amount", "currency", "tier"),
    [
        (9_999, "USD", AmountTier.LOW),
        (10_000, "USD", AmountTier.MEDIUM),
        (99_999, "USD", AmountTier.MEDIUM),
        (100_000, "USD", AmountTier.HIGH),
        (99, "JPY", AmountTier.LOW),
        (100, "JPY", AmountTier.MEDIUM),
        (99_999, "KWD", AmountTier.LOW),
        (100_000, "KWD", AmountTier.MEDIUM),
        (1_000_000, "KWD", AmountTier.HIGH),
    ],
)
def test_amount_tiers_follow_the_currency_exponent(amount: int, currency: str, tier: AmountTier) -> None:
    assert amount_tier(Money.of(amount, currency)) is tier


def test_the_tracking_id_is_derived_from_the_intent() -> None:
    assert tracking_id_for("pi_01ABC") == "chk_01ABC"
    assert tracking_id_for("pi_01ABC") == tracking_id_for("pi_01ABC")
    assert tracking_id_for("pi_01ABC") != tracking_id_for("pi_01ABD")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("CardDeclined", "card_declined"),
        ("UpstreamUnavailable", "upstream_unavailable"),
        ("AuthenticationFailed", "authentication_failed"),
        ("States.Timeout", "authentication_timed_out"),
        ("InjectedFault", "checkout_failed"),
        ("States.TaskFailed", "checkout_failed"),
    ],
)
def test_failed_states_map_to_client_codes(error: str, code: str) -> None:
    cause = json.dumps({"errorMessage": "what happened", "errorType": error})
    assert failure_from({"Error": error, "Cause": cause}) == (code, "what happened")


def test_a_cause_that_is_not_a_lambda_error_is_kept_as_the_message() -> None:
    assert failure_from({"Error": "AuthenticationFailed", "Cause": "the customer failed"}) == (
        "authentication_failed",
        "the customer failed",
    )
    assert failure_from({}) == ("checkout_failed", "States.TaskFailed")
    assert failure_from({"Error": "CardDeclined", "Cause": "[1, 2]"}) == ("card_declined", "[1, 2]")
