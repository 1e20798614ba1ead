"""Checkouts' and refund batches' outcomes delivered as merchant webhooks end to end: checkouts started
over HTTP and run by the workflow as deployed, a refund file uploaded and run by the worker, and a
receiver of the test's own on 127.0.0.1 (the one of test_webhook_deliveries.py). Every delivery is
verified with the official Standard Webhooks library against the endpoint's secret, and its
`webhook-id` is the id made from the outcome (the same however often it is announced).

A stack of its own, with the retry schedule shortened to 1,1,1 as the deliveries' tests have it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from bench.launcher import launch
from tests.e2e.conftest import ROOT, Api, RunningStack
from tests.e2e.test_webhook_deliveries import Hit, Receiver, handler_for, wait_for

CHECKOUT_TYPES = ["checkout.succeeded", "checkout.failed", "checkout.action_required"]
UNKNOWN = "pi_00000000000000000000000000"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(found))
    server.daemon_threads = True
    found.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def outcomes_stack() -> Iterator[RunningStack]:
    launched = launch(cwd=ROOT, parameters={"WebhookRetrySchedule": "1,1,1"})
    try:
        yield RunningStack(Api(launched.api), launched.aws_endpoint, launched.gateway, launched.output)
    finally:
        launched.stop()


@dataclass
class Merchant:
    merchant_id: str
    api: Api


@dataclass
class Endpoint:
    webhook_endpoint_id: str
    secret: str
    path: str


@pytest.fixture
def merchant(outcomes_stack: RunningStack) -> Merchant:
    merchant_id = f"mer_out_{uuid.uuid4().hex[:8]}"
    return Merchant(merchant_id, outcomes_stack.merchant_api(merchant_id))


def endpoint(merchant: Merchant, receiver: Receiver, events: list[str]) -> Endpoint:
    path = receiver.path(200)
    made = merchant.api.request(
        "POST", "/v1/webhook-endpoints", {"url": receiver.url(path), "events": events}
    )
    assert made.status == 201, made.body
    return Endpoint(made.body["webhookEndpointId"], made.body["secret"], path)


def received(receiver: Receiver, hook: Endpoint, count: int) -> list[tuple[Hit, dict[str, Any]]]:
    """The endpoint's first `count` deliveries, each verified by the official library; then, a moment
    later, checked to be all it got (each event once)."""
    hits = wait_for(
        lambda: receiver.at(hook.path)[:count] if len(receiver.at(hook.path)) >= count else [],
        f"{count} deliveries to {hook.path}",
        timeout=60,
    )
    time.sleep(1.5)
    assert len(receiver.at(hook.path)) == count, [hit.headers["webhook-id"] for hit in receiver.at(hook.path)]
    return [(hit, Webhook(hook.secret).verify(hit.body, hit.headers)) for hit in hits]


def start_checkout(merchant: Merchant, method: str) -> tuple[str, str]:
    intent = merchant.api.create_intent(paymentMethod=method, merchantId=merchant.merchant_id)
    assert intent.status == 201, intent.body
    intent_id = str(intent.body["paymentIntentId"])
    started = merchant.api.request("POST", "/v1/checkouts", {"paymentIntentId": intent_id})
    assert started.status == 202, started.body
    return str(started.body["trackingId"]), intent_id


def checkout_view(merchant: Merchant, tracking_id: str, statuses: set[str]) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        view: dict[str, Any] = merchant.api.request("GET", f"/v1/checkouts/{tracking_id}").body
        return view if view["status"] in statuses else None

    return wait_for(check, f"checkout {tracking_id} in {statuses}", timeout=60)


def test_a_checkout_that_succeeds_sends_checkout_succeeded(merchant: Merchant, receiver: Receiver) -> None:
    hook = endpoint(merchant, receiver, CHECKOUT_TYPES)
    tracking_id, intent_id = start_checkout(merchant, "pm_card_visa")
    assert checkout_view(merchant, tracking_id, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"

    ((hit, payload),) = received(receiver, hook, 1)

    assert hit.headers["webhook-id"] == f"evt_{tracking_id}_succeeded"
    assert payload["type"] == "checkout.succeeded"
    data = payload["data"]
    assert {key: data[key] for key in ("eventId", "merchantId", "trackingId", "paymentIntentId")} == {
        "eventId": f"evt_{tracking_id}_succeeded",
        "merchantId": merchant.merchant_id,
        "trackingId": tracking_id,
        "paymentIntentId": intent_id,
    }
    assert (data["status"], data["paymentStatus"]) == ("SUCCEEDED", "AUTHORIZED")
    assert data["version"] >= 2  # the payment's, after its authorization
    assert "error" not in data
    assert "redirectUrl" not in data
    log = merchant.api.request("GET", f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}/deliveries").body
    assert [(d["eventId"], d["type"]) for d in log["data"]] == [
        (f"evt_{tracking_id}_succeeded", payload["type"])
    ]


def test_a_declined_checkout_sends_checkout_failed_with_its_code(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, CHECKOUT_TYPES)
    tracking_id, intent_id = start_checkout(merchant, "pm_card_declined")
    view = checkout_view(merchant, tracking_id, {"SUCCEEDED", "FAILED"})
    assert (view["status"], view["error"]["code"]) == ("FAILED", "card_declined")

    ((hit, payload),) = received(receiver, hook, 1)

    assert hit.headers["webhook-id"] == f"evt_{tracking_id}_failed"
    assert payload["type"] == "checkout.failed"
    data = payload["data"]
    assert (data["trackingId"], data["paymentIntentId"], data["merchantId"]) == (
        tracking_id,
        intent_id,
        merchant.merchant_id,
    )
    assert (data["status"], data["paymentStatus"], data["error"]) == (
        "FAILED",
        "DECLINED",
        {"code": "card_declined"},
    )


def test_a_3ds_checkout_sends_action_required_then_succeeded_once_the_challenge_passes(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, CHECKOUT_TYPES)
    tracking_id, intent_id = start_checkout(merchant, "pm_card_3ds_required")
    assert checkout_view(merchant, tracking_id, {"ACTION_REQUIRED"})["paymentStatus"] == "PENDING"

    ((waiting_hit, waiting),) = received(receiver, hook, 1)
    assert waiting_hit.headers["webhook-id"] == f"evt_{tracking_id}_action_required_1"
    assert waiting["type"] == "checkout.action_required"
    assert (waiting["data"]["trackingId"], waiting["data"]["paymentIntentId"]) == (tracking_id, intent_id)
    assert (waiting["data"]["status"], waiting["data"]["paymentStatus"]) == ("ACTION_REQUIRED", "PENDING")

    answered = merchant.api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "passed"})
    assert answered.status == 202, answered.body
    assert checkout_view(merchant, tracking_id, {"SUCCEEDED", "FAILED"})["status"] == "SUCCEEDED"

    (_, (done_hit, done)) = received(receiver, hook, 2)
    assert done_hit.headers["webhook-id"] == f"evt_{tracking_id}_succeeded"
    assert (done["type"], done["data"]["status"], done["data"]["paymentStatus"]) == (
        "checkout.succeeded",
        "SUCCEEDED",
        "AUTHORIZED",
    )
    assert done["data"]["version"] > waiting["data"]["version"]


def test_a_refund_batch_sends_refund_batch_completed_with_its_counts(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, ["refund_batch.completed"])
    first = merchant.api.captured(5_000, merchantId=merchant.merchant_id)
    second = merchant.api.captured(3_000, merchantId=merchant.merchant_id)
    rows = [
        f"{merchant.merchant_id},{first},2500,damaged",  # refunded
        f"{merchant.merchant_id},{second},,",  # refunded, all of it
        f"{merchant.merchant_id},{UNKNOWN},100,",  # no such payment: FAILED when run
        f"{merchant.merchant_id},pi_nope,100,",  # refused at import
    ]
    text = "merchantId,paymentIntentId,amount,reason\n" + "".join(f"{row}\n" for row in rows)
    uploaded = merchant.api.request("POST", "/v1/refund-batches", raw=text.encode(), content_type="text/csv")
    assert uploaded.status == 202, uploaded.body
    batch_id = uploaded.body["batchId"]

    ((hit, payload),) = received(receiver, hook, 1)

    assert hit.headers["webhook-id"] == f"evt_{batch_id}_completed"
    assert payload["type"] == "refund_batch.completed"
    assert payload["data"] == {
        "eventId": f"evt_{batch_id}_completed",
        "merchantId": merchant.merchant_id,
        "batchId": batch_id,
        "total": 4,
        "succeeded": 2,
        "failed": 2,
        "deadLettered": 0,
    }
    shown = merchant.api.request("GET", f"/v1/refund-batches/{batch_id}").body
    assert (shown["pending"], shown["succeeded"], shown["failed"]) == (0, 2, 2)


def test_every_outcome_was_announced_at_the_first_try(outcomes_stack: RunningStack) -> None:
    """Runs last in this module: the announcer read both streams, and no record of them failed."""
    sources = outcomes_stack.api.request("GET", "/_local/event-sources").body["data"]
    mine = [s for s in sources if s["function"].startswith("payments-webhook-outcomes-")]
    assert len(mine) == 2  # the checkouts' stream and the refund batches'
    assert all(s["delivered"] > 0 for s in mine), mine
    assert [(s["retries"], s["dropped"], s["lastError"]) for s in mine] == [(0, 0, None)] * 2
