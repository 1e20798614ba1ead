"""Payments at Stripe, end to end: `payments local up --processor stripe` with localstripe (a Stripe
emulator nobody here wrote), driven through our API and read back at localstripe with the official
`stripe` SDK, to show each movement happened there exactly once and the books balance.

Where localstripe differs from Stripe (see tests/integration/test_stripe_gateway.py, which covers each
gap): it does not decline a manual-capture confirm for Stripe's declining test cards, and it books the
uncaptured rest of a partial capture as a refund naming no PaymentIntent (Stripe releases it). Its
3-D Secure challenge is for Stripe.js (no redirect URL), completed through its own `_authenticate`
route, and it ignores `request_three_d_secure`: a payment our fraud screen stepped up is challenged by
localstripe again only when its card requires authentication.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
import urllib3

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


# --- 3-D Secure through the checkout ------------------------------------------------------------------

THREE_D_SECURE_CARD = "4000002760003184"  # "3DS required" at Stripe; localstripe asks for authentication
FRAUD_STEP_UP_AMOUNT = 1_000_000  # 10,000 USD: the fraud screen's high amount (45 points) steps it up


def start_checkout(api: Api, **fields: Any) -> tuple[str, str]:
    intent_id = str(api.create_intent(**fields).body["paymentIntentId"])
    reply = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent_id})
    assert reply.status == 202, reply.body
    return str(reply.body["trackingId"]), intent_id


def wait_for(api: Api, tracking_id: str, statuses: set[str], timeout: float = 40) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = dict(api.request("GET", f"/v1/checkouts/{tracking_id}").body)
        if view["status"] in statuses:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"checkout {tracking_id} never reached {statuses}: {view}")
        time.sleep(0.1)


def three_d_secure_card(reader: stripe.StripeClient) -> str:
    """A payment method at localstripe for the card that requires authentication (raw card numbers:
    localstripe takes them, as Stripe.js would have made the pm_... for the merchant)."""
    params: Any = {
        "type": "card",
        "card": {"number": THREE_D_SECURE_CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    }
    return str(reader.v1.payment_methods.create(params).id)


def authenticate_at_stripe(stack: LaunchedStack, reader: stripe.StripeClient, stripe_id: str) -> None:
    """The customer completes Stripe's challenge, as localstripe takes it (its own route, not Stripe's)."""
    secret = reader.v1.payment_intents.retrieve(stripe_id).client_secret
    response = urllib3.request(
        "POST",
        f"{stack.stripe}/v1/payment_intents/{stripe_id}/_authenticate",
        body=urlencode({"client_secret": secret, "success": "true"}),
        headers={
            "Authorization": f"Bearer {LOCAL_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        retries=False,
    )
    assert response.status == 200, response.data


def pass_challenge(api: Api, tracking_id: str) -> None:
    reply = api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert reply.status == 202, reply.body


def test_a_card_stripe_challenges_is_authorized_once_the_customer_passed(
    api: Api, reader: stripe.StripeClient, stripe_stack: LaunchedStack
) -> None:
    tracking_id, intent_id = start_checkout(api, paymentMethod=three_d_secure_card(reader))
    view = wait_for(api, tracking_id, {"ACTION_REQUIRED", "SUCCEEDED", "FAILED"})
    # localstripe's challenge is for Stripe.js (no URL); with a return URL Stripe gives a redirectUrl
    assert (view["status"], view["nextAction"]) == ("ACTION_REQUIRED", {"type": "three_d_secure"})
    (waiting,) = at_stripe(reader, intent_id)
    assert waiting["status"] == "requires_action"

    authenticate_at_stripe(stripe_stack, reader, waiting["id"])
    pass_challenge(api, tracking_id)

    view = wait_for(api, tracking_id, {"SUCCEEDED", "FAILED"})
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED"), view
    (held,) = at_stripe(reader, intent_id)  # the very PaymentIntent that asked: no second attempt
    assert (held["id"], held["status"]) == (waiting["id"], "requires_capture")


def test_a_payment_our_fraud_screen_steps_up_is_authorized_at_stripe_after_the_challenge(
    api: Api, reader: stripe.StripeClient
) -> None:
    tracking_id, intent_id = start_checkout(api, amount=FRAUD_STEP_UP_AMOUNT)
    view = wait_for(api, tracking_id, {"ACTION_REQUIRED", "SUCCEEDED", "FAILED"})
    assert (view["status"], view["nextAction"]) == ("ACTION_REQUIRED", {"type": "three_d_secure"})
    assert at_stripe(reader, intent_id) == []  # our screen asked: Stripe has not seen the payment

    pass_challenge(api, tracking_id)

    view = wait_for(api, tracking_id, {"SUCCEEDED", "FAILED"})
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED"), view
    (held,) = at_stripe(reader, intent_id)
    assert (held["status"], held["amount"]) == ("requires_capture", FRAUD_STEP_UP_AMOUNT)


def test_a_fraud_step_up_stripe_challenges_in_turn_takes_both_challenges(
    api: Api, reader: stripe.StripeClient, stripe_stack: LaunchedStack
) -> None:
    tracking_id, intent_id = start_checkout(
        api, amount=FRAUD_STEP_UP_AMOUNT, paymentMethod=three_d_secure_card(reader)
    )
    wait_for(api, tracking_id, {"ACTION_REQUIRED", "SUCCEEDED", "FAILED"})
    pass_challenge(api, tracking_id)  # ours

    # Then Stripe, asked for 3-D Secure, challenges the customer in turn
    view = wait_for(api, tracking_id, {"ACTION_REQUIRED", "SUCCEEDED", "FAILED"})
    assert view["status"] == "ACTION_REQUIRED", view
    (waiting,) = at_stripe(reader, intent_id)
    assert waiting["status"] == "requires_action"
    authenticate_at_stripe(stripe_stack, reader, waiting["id"])
    pass_challenge(api, tracking_id)  # Stripe's

    view = wait_for(api, tracking_id, {"SUCCEEDED", "FAILED"})
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED"), view
    (held,) = at_stripe(reader, intent_id)
    assert (held["id"], held["status"]) == (waiting["id"], "requires_capture")
