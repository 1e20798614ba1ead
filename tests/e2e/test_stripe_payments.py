"""Payments at Stripe, end to end: `payments local up --processor stripe` with localstripe (a Stripe
emulator nobody here wrote), driven through our API and read back at localstripe with the official
`stripe` SDK, to show each movement happened there exactly once and the books balance.

Where localstripe differs from Stripe (see tests/integration/test_stripe_gateway.py, which covers each
gap): it does not decline a manual-capture confirm for Stripe's declining test cards, and it books the
uncaptured rest of a partial capture as a refund naming no PaymentIntent (Stripe releases it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from bench.launcher import LaunchedStack, launch
from tests.e2e.conftest import ROOT, Api

# localstripe takes any key of this shape; `payments local up --processor stripe` stores this one.
LOCAL_KEY = "sk_test_payments_local"


@pytest.fixture(scope="module")
def stripe_stack() -> Iterator[LaunchedStack]:
    launched = launch(cwd=ROOT, processor="stripe")
    try:
        yield launched
    finally:
        code = launched.stop()
        if code != 0:
            pytest.fail(
                f"payments local up --processor stripe exited with {code}:\n" + "".join(launched.output)
            )


@pytest.fixture(scope="module")
def api(stripe_stack: LaunchedStack) -> Api:
    return Api(stripe_stack.api)


@pytest.fixture(scope="module")
def reader(stripe_stack: LaunchedStack) -> stripe.StripeClient:
    """The official SDK at the stack's Stripe (localstripe, behind Stripe's Idempotency-Key replay): how
    the tests see what happened there."""
    return stripe.StripeClient(LOCAL_KEY, base_addresses={"api": stripe_stack.stripe}, max_network_retries=0)


def at_stripe(reader: stripe.StripeClient, payment_intent_id: str) -> list[dict[str, Any]]:
    """The PaymentIntents Stripe holds for our payment (named in their metadata)."""
    every = [intent.to_dict() for intent in reader.v1.payment_intents.list({"limit": 100}).auto_paging_iter()]
    return [intent for intent in every if intent["metadata"].get("reference") == payment_intent_id]


def refunds_at_stripe(reader: stripe.StripeClient, stripe_id: str) -> list[tuple[str, int]]:
    refunds = reader.v1.refunds.list({"payment_intent": stripe_id}).data
    return sorted((refund.id, refund.amount) for refund in refunds if refund.payment_intent == stripe_id)


def balanced(entries: list[Any]) -> bool:
    for entry in entries:
        sums: dict[tuple[str, str], int] = {}
        for leg in entry["legs"]:
            key = (leg["currency"], leg["direction"])
            sums[key] = sums.get(key, 0) + leg["amount"]
        for currency in {currency for currency, _ in sums}:
            if sums.get((currency, "debit"), 0) != sums.get((currency, "credit"), 0):
                return False
    return True


def test_a_new_payment_goes_to_stripe(api: Api) -> None:
    created = api.create_intent(amount=1_500)
    assert (created.status, created.body["processor"]) == (201, "stripe")


def test_authorized_captured_in_part_and_refunded_twice_each_once_at_stripe(
    api: Api, reader: stripe.StripeClient
) -> None:
    intent_id = api.authorized(10_000)
    (held,) = at_stripe(reader, intent_id)
    assert (held["status"], held["amount"], held["currency"], held["capture_method"]) == (
        "requires_capture",
        10_000,
        "usd",
        "manual",
    )
    captured = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 6_000})
    assert (captured.status, captured.body["amountCaptured"]) == (200, 6_000)
    refunds = [
        api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": amount}).body
        for amount in (1_000, 2_000)
    ]
    (after,) = at_stripe(reader, intent_id)  # still one PaymentIntent: nothing was authorized twice
    assert after["id"] == held["id"]
    assert after["status"] == "succeeded"
    assert after["latest_charge"]["captured"] is True
    assert sorted(amount for _, amount in refunds_at_stripe(reader, held["id"])) == [1_000, 2_000]
    intent = api.get_intent(intent_id).body
    assert (intent["status"], intent["amountCaptured"], intent["amountRefunded"]) == (
        "PARTIALLY_REFUNDED",
        6_000,
        3_000,
    )
    assert [refund["amount"] for refund in refunds] == [1_000, 2_000]
    entries = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "REFUNDED", "REFUNDED"])
    assert balanced(entries)


def test_a_void_cancels_the_payment_intent_at_stripe(api: Api, reader: stripe.StripeClient) -> None:
    intent_id = api.authorized(2_500)
    voided = api.request("POST", f"/v1/payment-intents/{intent_id}/void")
    assert (voided.status, voided.body["status"]) == (200, "VOIDED")
    (at,) = at_stripe(reader, intent_id)
    assert at["status"] == "canceled"
    assert balanced(api.ledger(intent_id, kinds=["AUTHORIZED", "VOIDED"]))


def test_a_replayed_capture_captures_once_at_stripe(api: Api, reader: stripe.StripeClient) -> None:
    intent_id = api.authorized(4_000)
    first = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", key=f"cap-{intent_id}")
    again = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", key=f"cap-{intent_id}")
    assert (first.status, again.status, again.body) == (200, 200, first.body)
    (at,) = at_stripe(reader, intent_id)
    assert (at["status"], at["latest_charge"]["amount"]) == ("succeeded", 4_000)


def test_a_card_stripe_refuses_is_a_decline(api: Api, reader: stripe.StripeClient) -> None:
    # localstripe declines this card even on a manual-capture confirm (its charge fails).
    intent_id = api.create_intent(paymentMethod="pm_card_chargeCustomerFail").body["paymentIntentId"]
    declined = api.authorize(intent_id)
    assert (declined.status, declined.body["error"]["code"]) == (402, "card_declined")
    assert api.get_intent(intent_id).body["status"] == "DECLINED"
    assert all(intent["status"] != "requires_capture" for intent in at_stripe(reader, intent_id))  # no hold
