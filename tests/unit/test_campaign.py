"""The fault campaign's checks find what they look for, and its workload is the seed's."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bench.campaign import Told, payment_violations, plan_payment, stripe_authorization


def authorization(**fields: Any) -> dict[str, Any]:
    view = {"id": "auth_1", "status": "approved", "voided": False, "captureId": None}
    return view | {"capturedAmount": 0, "refundedAmount": 0} | fields


def legs(*moves: tuple[str, str, int]) -> list[dict[str, Any]]:
    """Entries moving `amount` from the first account (debited) to the second (credited)."""
    return [
        {
            "legs": [
                {"account": debit, "direction": "debit", "amount": amount},
                {"account": credit, "direction": "credit", "amount": amount},
            ]
        }
        for debit, credit, amount in moves
    ]


HOLD = ("authorizations_pending", "customer_authorizations", 1000)
RELEASE = ("customer_authorizations", "authorizations_pending", 1000)


def captured_and_refunded() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], Told]:
    intent = {"status": "PARTIALLY_REFUNDED", "amountCaptured": 1000, "amountRefunded": 300}
    held = [authorization(captureId="cap_1", capturedAmount=1000, refundedAmount=300)]
    entries = legs(
        HOLD,
        RELEASE,
        ("gateway_clearing", "merchant_payable", 1000),
        ("merchant_payable", "gateway_clearing", 300),
    )
    return intent, held, entries, Told("pi_1", captured=1000, refunded=300)


def test_a_payment_whose_books_agree_has_no_violation() -> None:
    assert payment_violations("p", *captured_and_refunded()) == []
    voided = {"status": "VOIDED", "amountCaptured": 0, "amountRefunded": 0}
    assert (
        payment_violations("p", voided, [authorization(voided=True)], legs(HOLD, RELEASE), Told("pi_2")) == []
    )


def test_a_payment_left_authorized_or_pending_is_not_terminal() -> None:
    for status in ("PENDING", "AUTHORIZED"):
        intent = {"status": status, "amountCaptured": 0, "amountRefunded": 0}
        assert payment_violations("p", intent, [], [], Told("pi_1")) == ["p: not in a terminal status"]


def test_a_declined_payment_with_a_hold_left_at_the_gateway() -> None:
    intent = {"status": "DECLINED", "amountCaptured": 0, "amountRefunded": 0}
    found = payment_violations("p", intent, [authorization()], [], Told("pi_1"))
    assert found == ["p: authorization(s) ['auth_1'] still hold money at the gateway"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"refundedAmount": 600},
            "the gateway moved 1000 captured / 600 refunded, the payment records 1000 / 300",
        ),
        ({"capturedAmount": 2000}, "the gateway moved 2000 captured / 300 refunded"),
    ],
)
def test_money_moved_twice_at_the_gateway(change: dict[str, Any], expected: str) -> None:
    intent, held, entries, told = captured_and_refunded()
    held[0] |= change
    assert any(expected in violation for violation in payment_violations("p", intent, held, entries, told))


def test_two_captures_at_the_gateway() -> None:
    intent, held, entries, told = captured_and_refunded()
    held.append(authorization(id="auth_2", captureId="cap_2"))
    assert "p: captured twice at the gateway" in payment_violations("p", intent, held, entries, told)


def test_a_ledger_entry_posted_twice() -> None:
    intent, held, entries, told = captured_and_refunded()
    entries.append(entries[-1])  # the refund, again
    found = payment_violations("p", intent, held, entries, told)
    assert found == [
        "p: its ledger nets to {'gateway_clearing': 400, 'merchant_payable': -400}, expected "
        "{'gateway_clearing': 700, 'merchant_payable': -700}"
    ]


def test_a_hold_never_released() -> None:
    intent, held, entries, told = captured_and_refunded()
    del entries[1]
    assert len(payment_violations("p", intent, held, entries, told)) == 1


def test_what_the_client_was_told_must_be_in_the_books() -> None:
    intent, held, entries, told = captured_and_refunded()
    told.refunded = 500
    assert payment_violations("p", intent, held, entries, told) == [
        "p: the client was told 500 refunded, it has 300"
    ]
    told.refunded, told.captured = 300, 900
    assert payment_violations("p", intent, held, entries, told) == [
        "p: the client was told 900 captured, the payment has 1000"
    ]


def test_the_workload_is_the_seeds_and_mixes_every_path() -> None:
    plans = [plan_payment(7, number) for number in range(1000)]
    assert plans == [plan_payment(7, number) for number in range(1000)]
    assert plans != [plan_payment(8, number) for number in range(1000)]
    assert Counter(plan.checkout for plan in plans)[False] > 150
    assert {plan.then for plan in plans} == {"capture", "capture_part", "void"}
    assert len({plan.card for plan in plans}) == 8
    assert sum(plan.bulk_refund for plan in plans) > 100
    assert any(plan.automatic_capture for plan in plans)
    assert all(
        plan.checkout for plan in plans if plan.card in ("pm_card_3ds_required", "pm_card_risk_elevated")
    )
    assert all(type(plan.amount) is int for plan in plans)


# -- Stripe read back as the sandbox describes an authorization ---------------------------------------


def payment_intent(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pi_s1", "status": status, "amount": 1000, "metadata": {"reference": "pi_1"}} | fields


def charge(amount: int = 1000, *refunds: dict[str, Any]) -> dict[str, Any]:
    return {"id": "ch_1", "amount": amount, "refunds": {"data": list(refunds)}}


def test_a_hold_at_stripe_is_an_open_approved_authorization() -> None:
    held = stripe_authorization(payment_intent("requires_capture", latest_charge=charge()), 0)
    assert (held["status"], held["voided"], held["captureId"]) == ("approved", False, None)


def test_a_cancelled_hold_is_voided_and_a_cancel_before_any_charge_held_nothing() -> None:
    voided = stripe_authorization(payment_intent("canceled", latest_charge=charge()), 0)
    assert (voided["status"], voided["voided"]) == ("approved", True)
    never_held = stripe_authorization(payment_intent("canceled", latest_charge=None), 0)
    assert never_held["status"] == "canceled"


def test_a_partial_capture_counts_without_the_rest_localstripe_books_as_a_refund() -> None:
    rest = {"id": "re_rest", "amount": 400, "payment_intent": None}
    captured = stripe_authorization(payment_intent("succeeded", latest_charge=charge(1000, rest)), 250)
    assert (captured["captureId"], captured["capturedAmount"], captured["refundedAmount"]) == (
        "ch_1",
        600,
        250,
    )
    # Where Stripe tells the amount received, that is it.
    told = stripe_authorization(payment_intent("succeeded", amount_received=700, latest_charge=charge()), 0)
    assert told["capturedAmount"] == 700


def test_two_approved_authorizations_of_one_payment_at_two_processors_are_both_seen() -> None:
    intent = {"status": "VOIDED", "amountCaptured": 0, "amountRefunded": 0}
    at_stripe = stripe_authorization(payment_intent("requires_capture", latest_charge=charge()), 0)
    found = payment_violations("p", intent, [authorization(voided=True), at_stripe], [], Told())
    assert any("still hold money" in violation for violation in found)
