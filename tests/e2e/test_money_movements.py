"""Capture, void and refunds end to end, over HTTP, against `payments local up`."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.conftest import Api, RunningStack


def refund(api: Api, intent_id: str, amount: int | None = None, *, key: str | None = None) -> Any:
    body: dict[str, Any] = {"paymentIntentId": intent_id}
    if amount is not None:
        body["amount"] = amount
    return api.request("POST", "/v1/refunds", body, key=key)


def test_full_capture(api: Api) -> None:
    intent_id = api.authorized()
    reply = api.request("POST", f"/v1/payment-intents/{intent_id}/capture")
    assert reply.status == 200
    assert (reply.body["status"], reply.body["amountCaptured"]) == ("CAPTURED", 10_000)


def test_partial_capture_releases_the_rest(api: Api, stack: RunningStack) -> None:
    intent_id = api.authorized()
    reply = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 4_000})
    assert (reply.status, reply.body["amountCaptured"]) == (200, 4_000)
    # The gateway captured 4,000 of the 10,000 authorized; the rest can never be captured now.
    again = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 6_000})
    assert (again.status, again.body["error"]["code"]) == (409, "invalid_state")


@pytest.mark.parametrize("amount", [0, 10_001, 25.5, "100"])
def test_capture_outside_the_authorization_is_400(api: Api, amount: object) -> None:
    intent_id = api.authorized()
    reply = api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": amount})
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_request")
    assert api.get_intent(intent_id).body["status"] == "AUTHORIZED"


def test_capture_needs_an_authorization(api: Api) -> None:
    pending = api.create_intent().body["paymentIntentId"]
    assert api.request("POST", f"/v1/payment-intents/{pending}/capture").status == 409
    assert api.request("POST", "/v1/payment-intents/pi_00000000000000000000000000/capture").status == 404


def test_void_releases_an_authorization_once(api: Api, stack: RunningStack) -> None:
    intent_id = api.authorized()
    before = stack.gateway_stats()["voids"]
    reply = api.request("POST", f"/v1/payment-intents/{intent_id}/void")
    assert (reply.status, reply.body["status"]) == (200, "VOIDED")
    assert stack.gateway_stats()["voids"] == before + 1
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/void").status == 409
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture").status == 409


def test_a_captured_payment_cannot_be_voided(api: Api) -> None:
    intent_id = api.captured()
    reply = api.request("POST", f"/v1/payment-intents/{intent_id}/void")
    assert (reply.status, reply.body["error"]["code"]) == (409, "invalid_state")


def test_several_partial_refunds_then_refunded(api: Api) -> None:
    intent_id = api.captured()
    first = refund(api, intent_id, 2_500)
    assert first.status == 201
    assert (first.body["amount"], first.body["status"]) == (2_500, "SUCCEEDED")
    assert api.get_intent(intent_id).body["status"] == "PARTIALLY_REFUNDED"
    second = refund(api, intent_id, 2_500)
    rest = refund(api, intent_id)  # all that is left
    assert (second.status, rest.status, rest.body["amount"]) == (201, 201, 5_000)
    intent = api.get_intent(intent_id).body
    assert (intent["status"], intent["amountRefunded"]) == ("REFUNDED", 10_000)
    fetched = api.request("GET", f"/v1/refunds/{first.body['refundId']}")
    assert (fetched.status, fetched.body) == (200, first.body)


def test_a_payments_refunds_are_listed_oldest_first_for_its_merchant_only(
    api: Api, stack: RunningStack
) -> None:
    intent_id = api.captured()
    assert api.request("GET", f"/v1/payment-intents/{intent_id}/refunds").body == {"data": []}
    made = [refund(api, intent_id, amount).body for amount in (1_000, 2_000)]
    listed = api.request("GET", f"/v1/payment-intents/{intent_id}/refunds")
    assert (listed.status, listed.body) == (200, {"data": made})
    stranger = stack.merchant_api("mer_refunds_stranger").request(
        "GET", f"/v1/payment-intents/{intent_id}/refunds"
    )
    assert (stranger.status, stranger.body["error"]["message"]) == (404, f"no payment intent {intent_id}")


def test_the_refunded_total_never_exceeds_the_captured_total(api: Api, stack: RunningStack) -> None:
    intent_id = api.captured()
    assert refund(api, intent_id, 9_000).status == 201
    before = stack.gateway_stats()["refunds"]
    over = refund(api, intent_id, 1_001)
    assert (over.status, over.body["error"]["code"]) == (400, "invalid_request")
    assert stack.gateway_stats()["refunds"] == before


def test_refund_needs_a_capture_and_a_known_payment(api: Api) -> None:
    assert refund(api, api.authorized()).status == 409
    assert refund(api, "pi_00000000000000000000000000").status == 404
    assert api.request("GET", "/v1/refunds/re_nothing").status == 404
    bad = api.request("POST", "/v1/refunds", {"paymentIntentId": "pi_x", "amount": -1})
    assert bad.status == 400


def test_a_replayed_refund_is_the_same_refund(api: Api, stack: RunningStack) -> None:
    intent_id = api.captured()
    key = str(uuid.uuid4())
    first = refund(api, intent_id, 1_000, key=key)
    replay = refund(api, intent_id, 1_000, key=key)
    assert (replay.status, replay.body) == (first.status, first.body)
    assert api.get_intent(intent_id).body["amountRefunded"] == 1_000


def test_concurrent_refunds_never_refund_more_than_was_captured(api: Api, stack: RunningStack) -> None:
    # Given 10,000 captured and ten different refund requests of 3,000 at once
    intent_id = api.captured()
    before = stack.gateway_stats()["refunds"]

    def attempt(_: int) -> Any:
        for _try in range(20):  # a client retries what the API calls retryable
            reply = refund(api, intent_id, 3_000, key=str(uuid.uuid4()))
            if reply.status != 409 or reply.body["error"]["code"] not in {
                "concurrent_update",
                "idempotency_in_progress",
            }:
                return reply
        return reply

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(attempt, range(10)))

    # Then exactly three succeed, each a different refund, and the books and the gateway agree
    succeeded = [reply for reply in replies if reply.status == 201]
    assert len(succeeded) == 3
    assert len({reply.body["refundId"] for reply in succeeded}) == 3
    assert all(reply.status == 400 for reply in replies if reply.status != 201)
    intent = api.get_intent(intent_id).body
    assert (intent["amountRefunded"], intent["status"]) == (9_000, "PARTIALLY_REFUNDED")
    assert stack.gateway_stats()["refunds"] - before == 3


def test_a_refund_keeps_its_reason(api: Api) -> None:
    intent_id = api.captured()
    reply = api.request(
        "POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 100, "reason": "damaged box"}
    )
    assert (reply.status, reply.body["reason"]) == (201, "damaged box")
    assert api.request("GET", f"/v1/refunds/{reply.body['refundId']}").body["reason"] == "damaged box"
    without = refund(api, intent_id, 100)
    assert "reason" not in without.body
