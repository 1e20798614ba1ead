"""Merchants apart, over HTTP: a merchant key reaches only its own merchant's data.

Every route is tried with a second merchant's key against what the first merchant made: each answers
exactly as for something that does not exist (404, the same words), and nothing of the first
merchant's changes. Idempotency keys are each merchant's own. A hypothesis test then drives random
sequences of both merchants' requests and checks the same after every step.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Api, Reply, RunningStack
from tests.e2e.test_checkout_flow import wait_for

UNKNOWN_INTENT = "pi_01JHMR6K20V5R1X5AM5BNPXYCM"


@dataclass
class Merchant:
    merchant_id: str
    api: Api


@pytest.fixture(scope="module")
def merchants(stack: RunningStack) -> tuple[Merchant, Merchant]:
    suffix = uuid.uuid4().hex[:8]
    first, second = f"mer_iso_a_{suffix}", f"mer_iso_b_{suffix}"
    return Merchant(first, stack.merchant_api(first)), Merchant(second, stack.merchant_api(second))


def create(merchant: Merchant, *, key: str | None = None, **fields: Any) -> Reply:
    body = {
        "amount": 2_500,
        "currency": "USD",
        "customerId": f"cus_{uuid.uuid4().hex[:10]}",
        "paymentMethod": "pm_card_visa",
        **fields,
    }
    return merchant.api.request("POST", "/v1/payment-intents", body, key=key)


def made(merchant: Merchant, **fields: Any) -> dict[str, Any]:
    reply = create(merchant, **fields)
    assert reply.status == 201, reply.body
    assert reply.body["merchantId"] == merchant.merchant_id
    return dict(reply.body)


def post(merchant: Merchant, path: str, body: Any = None) -> Reply:
    return merchant.api.request("POST", path, body, key=str(uuid.uuid4()))


def not_found(reply: Reply, message: str) -> None:
    assert (reply.status, reply.body) == (404, {"error": {"code": "not_found", "message": message}})


def intent_of(owner: Merchant, payment_intent_id: str) -> dict[str, Any]:
    reply = owner.api.get_intent(payment_intent_id)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def test_a_merchant_key_creates_for_its_own_merchant_only(merchants: tuple[Merchant, Merchant]) -> None:
    first, second = merchants
    assert made(first)["merchantId"] == first.merchant_id  # merchantId may be left out
    assert made(first, merchantId=first.merchant_id)["merchantId"] == first.merchant_id
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    refused = create(first, merchantId=second.merchant_id, customerId=customer)
    assert (refused.status, refused.body["error"]["code"]) == (400, "invalid_request")
    listed = second.api.list_intents(customer)
    assert (listed.status, listed.body["data"]) == (200, [])


def test_another_merchants_payment_is_not_found_and_unchanged_on_every_route(
    merchants: tuple[Merchant, Merchant],
) -> None:
    first, second = merchants
    # Given the first merchant's payments: pending, authorized, and captured with a refund
    pending = made(first)["paymentIntentId"]
    authorized = made(first)["paymentIntentId"]
    assert post(first, f"/v1/payment-intents/{authorized}/authorize").status == 200
    captured = made(first, amount=10_000)["paymentIntentId"]
    assert post(first, f"/v1/payment-intents/{captured}/authorize").status == 200
    assert post(first, f"/v1/payment-intents/{captured}/capture").status == 200
    refund = post(first, "/v1/refunds", {"paymentIntentId": captured, "amount": 1_000})
    assert refund.status == 201, refund.body
    before = {pid: intent_of(first, pid) for pid in (pending, authorized, captured)}

    # When the second merchant tries each of them, the answer is the unknown payment's, word for word
    for pid in (pending, authorized, captured):
        not_found(second.api.get_intent(pid), f"no payment intent {pid}")
        not_found(second.api.request("GET", f"/v1/payment-intents/{pid}/ledger"), f"no payment intent {pid}")
        not_found(second.api.request("GET", f"/v1/events?paymentIntentId={pid}"), f"no payment intent {pid}")
    not_found(second.api.get_intent(UNKNOWN_INTENT), f"no payment intent {UNKNOWN_INTENT}")
    not_found(post(second, f"/v1/payment-intents/{pending}/authorize"), f"no payment intent {pending}")
    not_found(post(second, f"/v1/payment-intents/{authorized}/capture"), f"no payment intent {authorized}")
    not_found(post(second, f"/v1/payment-intents/{authorized}/void"), f"no payment intent {authorized}")
    not_found(
        post(second, "/v1/refunds", {"paymentIntentId": captured, "amount": 500}),
        f"no payment intent {captured}",
    )
    refund_id = refund.body["refundId"]
    not_found(second.api.request("GET", f"/v1/refunds/{refund_id}"), f"no transaction {refund_id}")
    not_found(post(second, "/v1/checkouts", {"paymentIntentId": pending}), f"no payment intent {pending}")
    customer = before[captured]["customerId"]
    listed = second.api.list_intents(customer)
    assert (listed.status, listed.body["data"]) == (200, [])
    asked = second.api.list_intents(customer, f"?merchantId={first.merchant_id}")
    assert (asked.status, asked.body["error"]["code"]) == (400, "invalid_request")

    # Then nothing of the first merchant's changed, and its own key still works on all of it
    assert {pid: intent_of(first, pid) for pid in before} == before
    assert [i["paymentIntentId"] for i in first.api.list_intents(customer).body["data"]] == [captured]
    assert first.api.request("GET", f"/v1/refunds/{refund_id}").status == 200
    assert post(first, f"/v1/payment-intents/{authorized}/void").body["status"] == "VOIDED"


def test_another_merchants_checkout_is_not_found_and_its_challenge_waits(
    merchants: tuple[Merchant, Merchant],
) -> None:
    first, second = merchants
    intent = made(first, paymentMethod="pm_card_3ds_required", amount=4_000)
    started = post(first, "/v1/checkouts", {"paymentIntentId": intent["paymentIntentId"]})
    assert started.status == 202, started.body
    tracking_id = started.body["trackingId"]
    assert wait_for(first.api, tracking_id, {"ACTION_REQUIRED"})["status"] == "ACTION_REQUIRED"

    not_found(second.api.request("GET", f"/v1/checkouts/{tracking_id}"), f"no checkout {tracking_id}")
    refused = post(second, f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "failed"})
    not_found(refused, f"no checkout {tracking_id}")

    assert wait_for(first.api, tracking_id, {"ACTION_REQUIRED"})["paymentStatus"] == "PENDING"
    assert post(first, f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"}).status == 202
    view = wait_for(first.api, tracking_id, {"SUCCEEDED", "FAILED"})
    assert (view["status"], view["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED")


def test_the_platforms_books_need_a_platform_key(merchants: tuple[Merchant, Merchant], api: Api) -> None:
    first, _ = merchants
    for path in ("/v1/ledger/balances", "/v1/settlements/reports"):
        reply = first.api.request("GET", path)
        assert (reply.status, reply.body["error"]["code"]) == (404, "not_found"), path
        assert api.request("GET", path).status == 200, path  # the local stack's key is a platform key


def test_a_platform_key_acts_for_the_merchant_it_names(
    merchants: tuple[Merchant, Merchant], api: Api
) -> None:
    first, second = merchants
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    on_behalf = api.create_intent(merchantId=first.merchant_id, customerId=customer)
    assert (on_behalf.status, on_behalf.body["merchantId"]) == (201, first.merchant_id)
    unnamed = api.request(
        "POST",
        "/v1/payment-intents",
        {"amount": 100, "currency": "USD", "customerId": customer, "paymentMethod": "pm_card_visa"},
    )
    assert (unnamed.status, unnamed.body["error"]["code"]) == (400, "invalid_request")
    pid = on_behalf.body["paymentIntentId"]
    assert intent_of(first, pid)["paymentIntentId"] == pid  # the merchant sees what was made for it
    not_found(second.api.get_intent(pid), f"no payment intent {pid}")
    mine = api.list_intents(customer, f"?merchantId={first.merchant_id}").body["data"]
    assert [intent["paymentIntentId"] for intent in mine] == [pid]
    assert api.list_intents(customer, f"?merchantId={second.merchant_id}").body["data"] == []


def test_idempotency_keys_are_each_merchants_own(merchants: tuple[Merchant, Merchant]) -> None:
    first, second = merchants
    key = f"order-{uuid.uuid4().hex[:8]}"
    body = {"customerId": f"cus_{uuid.uuid4().hex[:10]}", "amount": 1_234}
    theirs = create(first, key=key, **body)
    assert theirs.status == 201
    # The same key and body from another merchant is a new request: not a replay of the first answer
    mine = create(second, key=key, **body)
    assert (mine.status, mine.body["merchantId"]) == (201, second.merchant_id)
    assert mine.body["paymentIntentId"] != theirs.body["paymentIntentId"]
    assert "idempotent-replayed" not in {name.lower() for name in mine.headers}
    # ... nor a conflict, with another body; and each merchant's own replay still works
    other = create(second, key=f"{key}-2", amount=99)
    assert other.status == 201
    assert create(first, key=f"{key}-2", amount=7).status == 201
    again = create(first, key=key, **body)
    assert (again.status, again.body) == (201, theirs.body)
    assert again.headers.get("idempotent-replayed") == "true"


# -- random sequences of two merchants' requests ----------------------------------------------------


@dataclass
class World:
    """What each merchant made, as its owner last saw it."""

    owner: dict[str, int] = field(default_factory=dict)  # payment id -> index of its merchant
    keys_used: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)  # (merchant, key) -> body


# Synchronous operations only, so the owner's payment changes only when a step changes it.
OPERATIONS = ("create", "get", "authorize", "capture", "void", "refund", "ledger", "events")
KEYS = ("k1", "k2", "k3")


def snapshot(merchant: Merchant, payment_intent_id: str) -> dict[str, Any]:
    """The payment as its owner reads it (its ledger and events follow asynchronously from earlier
    steps, so they are compared where nothing is in flight: the deterministic tests above)."""
    return intent_of(merchant, payment_intent_id)


def act(merchant: Merchant, operation: str, pid: str | None, amount: int) -> Reply:
    key = str(uuid.uuid4())  # the shared keys are the creates': see below
    if operation == "get":
        return merchant.api.get_intent(str(pid))
    if operation == "ledger":
        return merchant.api.request("GET", f"/v1/payment-intents/{pid}/ledger")
    if operation == "events":
        return merchant.api.request("GET", f"/v1/events?paymentIntentId={pid}")
    if operation == "refund":
        return merchant.api.request(
            "POST", "/v1/refunds", {"paymentIntentId": pid, "amount": amount}, key=key
        )
    return merchant.api.request("POST", f"/v1/payment-intents/{pid}/{operation}", key=key)


steps = st.lists(
    st.tuples(
        st.integers(0, 1),  # who acts
        st.sampled_from(OPERATIONS),
        st.integers(0, 50),  # which payment (of all made so far)
        st.integers(1, 3_000),  # an amount
        st.sampled_from(KEYS),  # a create's idempotency key, from a pool both merchants draw from
    ),
    min_size=4,
    max_size=12,
)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_random_requests_of_two_merchants_never_touch_or_reveal_each_others(
    merchants: tuple[Merchant, Merchant], steps: list[tuple[int, str, int, int, str]]
) -> None:
    world = World()
    run = uuid.uuid4().hex[:6]  # idempotency keys and customer of this example only
    for actor, operation, target, amount, key_name in steps:
        me = merchants[actor]
        key = f"{run}-{key_name}"
        if operation == "create" or not world.owner:
            body = {
                "amount": amount,
                "currency": "USD",
                "customerId": f"cus_{run}",
                "paymentMethod": "pm_card_visa",
            }
            reply = me.api.request("POST", "/v1/payment-intents", body, key=key)
            earlier = world.keys_used.get((actor, key))
            if earlier is None:  # the other merchant's use of the key is no replay and no conflict
                assert (reply.status, reply.body["merchantId"]) == (201, me.merchant_id), reply.body
                world.keys_used[(actor, key)] = body
                world.owner[reply.body["paymentIntentId"]] = actor
            elif earlier == body:
                assert reply.status == 201
                assert reply.headers.get("idempotent-replayed") == "true"
            else:
                assert (reply.status, reply.body["error"]["code"]) == (409, "idempotency_conflict")
            continue
        ids = sorted(world.owner)
        pid = ids[target % len(ids)]
        owner = merchants[world.owner[pid]]
        before = snapshot(owner, pid)
        reply = act(me, operation, pid, amount)
        if owner is me:
            assert reply.status < 500, (operation, reply.body)
            continue
        # Another merchant's payment: not found, in the unknown payment's words, and nothing changed
        assert (reply.status, reply.body) == (
            404,
            {"error": {"code": "not_found", "message": f"no payment intent {pid}"}},
        ), operation
        time.sleep(0.05)  # anything the refused request had set moving would show by now
        assert snapshot(owner, pid) == before, operation
    # Each merchant lists only its own payments of the shared customer id
    for index, merchant in enumerate(merchants):
        listed = {
            i["paymentIntentId"] for i in merchant.api.list_intents(f"cus_{run}", "?limit=100").body["data"]
        }
        assert listed == {pid for pid, owner in world.owner.items() if owner == index}
