"""Every dead-letter queue has its redrive, over HTTP and through `payments dlq`, against
`payments local up`: an event a function gave up on goes back to that function, also from a queue
several functions share (the SNS event names its subscription, whose endpoint is the function)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.e2e.conftest import Api, RunningStack

SUBSCRIBERS_DLQ = "payment-events-subscribers-dlq-local"
LEDGER_DLQ = "payments-ledger-dlq-local"


def depth(api: Api, queue: str) -> int:
    [found] = [q for q in api.request("GET", "/_local/queues").body["data"] if q["name"] == queue]
    return int(found["visible"])


def until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_the_queues_page_offers_a_redrive_for_every_dead_letter_queue(api: Api) -> None:
    queues = {q["name"]: q["redrivesTo"] for q in api.request("GET", "/_local/queues").body["data"]}

    assert queues["refund-jobs-dlq-local.fifo"] == ["refund-jobs-local.fifo"]
    assert queues[LEDGER_DLQ] == ["payments-ledger-local"]
    assert "payments-refund-receipts-local" in queues[SUBSCRIBERS_DLQ]
    assert "payments-settlement-enricher-local" in queues["payments-file-events-dlq-local"]
    assert queues["refund-jobs-local.fifo"] == []  # a queue that is no dead-letter queue has none


def test_an_event_the_ledger_gave_up_on_is_posted_once_redriven_from_the_cli(
    api: Api, stack: RunningStack
) -> None:
    # Given an AUTHORIZED event the ledger failed on every attempt, kept in its dead-letter queue
    api.quiet()
    before = depth(api, LEDGER_DLQ)
    assert api.request("POST", "/_local/faults", {"function": "LedgerFunction", "count": 3}).status == 200
    try:
        intent_id = api.authorized(1_400)
        until(lambda: depth(api, LEDGER_DLQ) > before, "the event never reached the ledger's DLQ")
    finally:
        api.request("DELETE", "/_local/faults")
    assert api.ledger(intent_id) == []

    # When the operator redrives the queue
    shown = stack.cli("dlq", "show")
    assert f"{LEDGER_DLQ}: " in shown.stdout, shown.stderr
    redriven = stack.cli("dlq", "redrive", "--queue", LEDGER_DLQ)

    # Then the event goes back to the ledger, which posts it (once)
    assert redriven.returncode == 0, redriven.stderr
    assert f"message(s) from {LEDGER_DLQ} back to payments-ledger-local" in redriven.stdout
    assert [entry["kind"] for entry in api.ledger(intent_id, kinds=["AUTHORIZED"])] == ["AUTHORIZED"]


def test_a_refund_receipt_kept_in_the_shared_subscribers_queue_goes_back_to_its_function(api: Api) -> None:
    # Given a refund whose receipt failed on every attempt, in the queue five subscribers share
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    intent_id = api.captured(2_000, receiptEmail=address)
    api.quiet()
    before = depth(api, SUBSCRIBERS_DLQ)
    assert (
        api.request("POST", "/_local/faults", {"function": "RefundReceiptsFunction", "count": 3}).status
        == 200
    )
    try:
        assert api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 500}).status == 201
        until(lambda: depth(api, SUBSCRIBERS_DLQ) > before, "the receipt never reached the DLQ")
    finally:
        api.request("DELETE", "/_local/faults")

    # When it is redriven, as the console's button does
    reply = api.request("POST", "/_local/queues/redrive", {"queue": SUBSCRIBERS_DLQ})

    # Then the refund receipt function (and no other subscriber) runs it again: the receipt goes out
    assert reply.status == 200, reply.body
    assert "payments-refund-receipts-local" in reply.body["movedTo"]
    assert reply.body["left"] == 0

    def refund_receipt_sent() -> bool:
        emails = api.request("GET", "/_local/emails").body["data"]
        return any(mail["to"] == [address] for mail in emails)  # the refund's: no other mail went there

    until(refund_receipt_sent, "the redriven refund receipt was never sent")
    assert depth(api, SUBSCRIBERS_DLQ) == 0
