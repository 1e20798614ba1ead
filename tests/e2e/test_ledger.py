"""The ledger end to end: every movement reaches the books through the stream and the topic, over
HTTP against `payments local up`, and the books balance in every currency."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import Api, RunningStack, net
from tests.e2e.test_webhooks import dispute, send


def balances(api: Api) -> dict[tuple[str, str], int]:
    reply = api.request("GET", "/v1/ledger/balances")
    assert reply.status == 200, reply.body
    return {(row["account"], row["currency"]): row["balance"] for row in reply.body["data"]}


def test_a_partial_capture_then_refund_posts_each_movement_once(api: Api) -> None:
    intent_id = api.authorized(10_000)
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 6_000}).status == 200
    assert api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 1_500}).status == 201
    entries = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "REFUNDED"])
    # Each entry balances on its own, and is named by the event that caused it
    for entry in entries:
        debits = sum(leg["amount"] for leg in entry["legs"] if leg["direction"] == "debit")
        assert debits == sum(leg["amount"] for leg in entry["legs"] if leg["direction"] == "credit")
    assert [entry["kind"] for entry in entries] == ["AUTHORIZED", "CAPTURED", "REFUNDED"]
    assert entries[2]["entryId"].startswith("re_")
    # The capture released the whole hold (the 40.00 not captured too); the merchant is owed 45.00
    assert net(entries) == {("gateway_clearing", "USD"): 4_500, ("merchant_payable", "USD"): -4_500}


def test_a_void_releases_the_hold(api: Api) -> None:
    intent_id = api.authorized(7_700, currency="EUR")
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/void").status == 200
    assert net(api.ledger(intent_id, kinds=["AUTHORIZED", "VOIDED"])) == {}


def test_a_lost_dispute_takes_the_funds_from_the_merchant(api: Api) -> None:
    intent_id = api.authorized(3_000)
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture").status == 200
    assert send(api, dispute("dispute.created", intent_id))[0] == 200
    opened = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "DISPUTED"])
    assert net(opened) == {("disputes_pending", "USD"): 3_000, ("merchant_payable", "USD"): -3_000}
    assert send(api, dispute("dispute.closed", intent_id, "lost"))[0] == 200
    closed = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "DISPUTED", "DISPUTE_LOST"])
    assert net(closed) == {}


def test_a_won_dispute_gives_the_funds_back(api: Api) -> None:
    intent_id = api.authorized(3_000)
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture").status == 200
    assert send(api, dispute("dispute.created", intent_id))[0] == 200
    assert send(api, dispute("dispute.closed", intent_id, "won"))[0] == 200
    entries = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "DISPUTED", "DISPUTE_WON"])
    assert net(entries) == {("gateway_clearing", "USD"): 3_000, ("merchant_payable", "USD"): -3_000}


def test_the_balances_sum_to_zero_in_every_currency_and_follow_the_entries(api: Api) -> None:
    # A currency no other test uses, so its balances are this payment's books alone
    intent_id = api.authorized(1_500, currency="ISK")
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 1_000}).status == 200
    entries = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED"])
    books = balances(api)
    assert {key: value for key, value in books.items() if key[1] == "ISK" and value} == net(entries)
    per_currency: dict[str, int] = {}
    for (_, currency), balance in books.items():
        per_currency[currency] = per_currency.get(currency, 0) + balance
    assert "ISK" in per_currency
    assert set(per_currency.values()) == {0}, per_currency


def test_the_ledger_of_an_unknown_payment_is_404(api: Api) -> None:
    reply = api.request("GET", "/v1/payment-intents/pi_00000000000000000000000000/ledger")
    assert (reply.status, reply.body["error"]["code"]) == (404, "not_found")


def test_a_decline_posts_nothing(api: Api) -> None:
    intent_id = str(api.create_intent(paymentMethod="pm_card_declined").body["paymentIntentId"])
    assert api.authorize(intent_id).status == 402
    api.wait_for_event(intent_id, "DECLINED")
    api.quiet()  # delivered to the ledger, which posts nothing for it
    assert api.ledger(intent_id) == []


def dead_letters(stack: RunningStack) -> list[dict[str, Any]]:
    sqs = stack.aws("sqs")
    url = sqs.get_queue_url(QueueName="payments-ledger-dlq-local")["QueueUrl"]
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return list(messages)


def test_a_failed_delivery_is_retried_and_posts_once(api: Api, stack: RunningStack) -> None:
    # Given the ledger function fails twice (Lambda retries an asynchronous event twice), and no
    # earlier request's event is still in flight to take those failures
    api.quiet()
    assert api.request("POST", "/_local/faults", {"function": "LedgerFunction", "count": 2}).status == 200
    try:
        intent_id = api.authorized(1_200)
        entries = api.ledger(intent_id, kinds=["AUTHORIZED"])
        assert api.request("GET", "/_local/faults").body["faults"] == {}  # both failures were ours
    finally:
        api.request("DELETE", "/_local/faults")
    assert net(entries) == {
        ("authorizations_pending", "USD"): 1_200,
        ("customer_authorizations", "USD"): -1_200,
    }


def test_an_event_the_ledger_cannot_take_is_kept_in_its_dead_letter_queue(
    api: Api, stack: RunningStack
) -> None:
    dead_letters(stack)  # start from an empty queue
    # Given the ledger function fails on every attempt (and nothing earlier is in flight)
    api.quiet()
    assert api.request("POST", "/_local/faults", {"function": "LedgerFunction", "count": 3}).status == 200
    try:
        intent_id = api.authorized(1_300)
        deadline = time.monotonic() + 20
        kept: list[dict[str, Any]] = []
        while not kept and time.monotonic() < deadline:
            kept = dead_letters(stack)
            time.sleep(0.1)
    finally:
        api.request("DELETE", "/_local/faults")
    # Then the event is in the dead-letter queue, whole, with why it failed, and not on the books
    [message] = kept
    event = json.loads(json.loads(message["Body"])["Records"][0]["Sns"]["Message"])
    assert (event["eventType"], event["paymentIntentId"]) == ("AUTHORIZED", intent_id)
    assert "fault injected" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert api.ledger(intent_id) == []
