"""The caller is not the customer: `/v1` is called by the merchant's servers, so one server taking many
large payments for many shoppers is not one customer paying fast (no step-up for it), while one
customer paying too fast still is stepped up, and only at its own merchant.

Each test uses a merchant and customers of its own (uuids), so reruns against the same fraud-velocity
table start from nothing.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from payments.domain.fraud import FraudRules
from tests.e2e.conftest import Api, Reply, RunningStack

# 5,000.00 USD: in the default review band (2,000 to 10,000 USD), 25 points, under the step-up score
# (40) on its own; with any velocity signal over its limit (an IP: 25, a customer: 40) it steps up.
LARGE_USD = 500_000
PAYMENTS = 250  # far over the IP limit (20 an hour) that the caller's address used to be counted against
WORKERS = 4
CUSTOMER_LIMIT = FraudRules().customer_limit  # the stack runs the default rules
WINDOW_SECONDS = FraudRules().velocity_window_seconds
VELOCITY_TABLE = "fraud-velocity-local"


def _new(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _pay(api: Api, merchant: str, customer: str) -> tuple[str, Reply]:
    """A large payment created and authorized synchronously, with no shopper IP address or device."""
    created = api.create_intent(merchantId=merchant, customerId=customer, amount=LARGE_USD, currency="USD")
    assert created.status == 201, created.body
    intent_id = str(created.body["paymentIntentId"])
    return intent_id, api.authorize(intent_id)


def _outcome(reply: Reply) -> str:
    if reply.status == 200:
        return str(reply.body["status"])
    return f"{reply.status} {reply.body['error']['code']}"


def test_hundreds_of_large_payments_from_one_merchant_server_are_not_stepped_up(api: Api) -> None:
    # Given one merchant whose one server pays for many distinct customers, none sent with an ipAddress
    merchant = _new("mer")
    customers = [_new("cus") for _ in range(PAYMENTS)]

    # When each pays a large amount through the synchronous authorize path
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        replies = list(pool.map(lambda customer: _pay(api, merchant, customer)[1], customers))

    # Then none is stepped up (the caller's address is nobody's): every one is AUTHORIZED
    assert Counter(_outcome(reply) for reply in replies) == {"AUTHORIZED": PAYMENTS}


def test_one_customer_paying_too_fast_is_stepped_up_at_its_own_merchant_only(api: Api) -> None:
    for _ in range(3):  # velocity windows are fixed: a burst that straddles a window's end is redone
        # Given a customer of one merchant, and another merchant's customer of the same id
        merchant, namesakes_merchant, customer = _new("mer"), _new("mer"), _new("cus")
        window = int(time.time()) // WINDOW_SECONDS

        # When the customer pays a large amount once more than the limit allows, then the namesake pays
        burst = [_pay(api, merchant, customer) for _ in range(CUSTOMER_LIMIT + 1)]
        namesake = _pay(api, namesakes_merchant, customer)[1]
        if int(time.time()) // WINDOW_SECONDS == window:
            break

    # Then the attempts within the limit are authorized and the one over it needs 3-D Secure
    outcomes = [_outcome(reply) for _, reply in burst]
    assert outcomes == ["AUTHORIZED"] * CUSTOMER_LIMIT + ["402 authentication_required"]
    stepped_up, _ = burst[-1]
    assert api.get_intent(stepped_up).body["status"] == "PENDING"
    # And the other merchant's customer of the same id is another person: not stepped up
    assert _outcome(namesake) == "AUTHORIZED"


def test_a_checkout_is_screened_as_its_merchants_customer(api: Api, stack: RunningStack) -> None:
    # Given a large payment of a merchant's customer, checked out with no shopper IP address
    merchant, customer = _new("mer"), _new("cus")
    created = api.create_intent(merchantId=merchant, customerId=customer, amount=LARGE_USD, currency="USD")
    started = api.request("POST", "/v1/checkouts", {"paymentIntentId": created.body["paymentIntentId"]})
    assert started.status == 202, started.body

    # When the workflow runs (its FraudCheck state builds the fraud request itself)
    deadline, view = time.monotonic() + 40, started.body
    while view["status"] not in {"SUCCEEDED", "FAILED"} and time.monotonic() < deadline:
        time.sleep(0.1)
        view = api.request("GET", f"/v1/checkouts/{started.body['trackingId']}").body

    # Then it succeeds, and the attempt was counted under the merchant's customer
    assert (view["status"], view["paymentStatus"], view.get("error")) == ("SUCCEEDED", "AUTHORIZED", None)
    counted = stack.aws("dynamodb").scan(
        TableName=VELOCITY_TABLE,
        FilterExpression="begins_with(counterKey, :customer)",
        ExpressionAttributeValues={":customer": {"S": f"customer#{merchant}#{customer}#"}},
    )["Items"]
    assert [item["attempts"]["N"] for item in counted] == ["1"]
