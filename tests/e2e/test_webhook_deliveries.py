"""Merchant webhooks delivered end to end: payments moved through the API, and a receiver of the test's
own on 127.0.0.1 that answers each path as told (200, failing a few times, 410, a redirect, hanging
past the timeout, a 10 MB page). Every delivery it gets is verified with the official Standard
Webhooks library, against the secret the endpoint was created with.

A stack of its own, with the retry schedule shortened to 1,1,1 (four attempts over about three
seconds) and the receivers' timeout to 2 s, so failures run their whole course within the test."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from standardwebhooks.webhooks import Webhook

from bench.launcher import launch
from tests.e2e.conftest import ROOT, Api, RunningStack

RETRY_SCHEDULE = "1,1,1"  # four attempts
TIMEOUT_SECONDS = 2
HANG_SECONDS = 5
HUGE = 10 * 1024 * 1024
T = TypeVar("T")


# -- the receiver -------------------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """What each path answers, in turn (the last answer repeats); every request it got."""

    plans: dict[str, list[Any]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def path(self, *answers: Any) -> str:
        """A new path answering `answers` in turn: a status, "hang", "huge", or ("redirect", path)."""
        name = f"/hook-{uuid.uuid4().hex[:10]}"
        self.plans[name] = list(answers)
        return name

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.path == path]

    def answer(self, path: str) -> Any:
        with self.lock:
            plan = self.plans.get(path, [404])
            return plan.pop(0) if len(plan) > 1 else plan[0]


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            del args

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            with receiver.lock:
                receiver.hits.append(
                    Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                )
            answer = receiver.answer(self.path)
            try:
                self._reply(answer)
            except OSError:  # the sender gave up on us (a timeout, or a page it would not read)
                return

        def _reply(self, answer: Any) -> None:
            if answer == "hang":
                time.sleep(HANG_SECONDS)
                answer = 200
            if answer == "huge":
                self.send_response(200)
                self.send_header("content-length", str(HUGE))
                self.end_headers()
                for _ in range(HUGE // 65536):
                    self.wfile.write(b"x" * 65536)
                return
            status = answer[0] if isinstance(answer, tuple) else answer
            self.send_response(302 if status == "redirect" else int(status))
            if isinstance(answer, tuple):
                self.send_header("location", answer[1])
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


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
def webhook_stack() -> Iterator[RunningStack]:
    launched = launch(
        cwd=ROOT,
        parameters={"WebhookRetrySchedule": RETRY_SCHEDULE, "WebhookTimeoutSeconds": str(TIMEOUT_SECONDS)},
    )
    try:
        yield RunningStack(Api(launched.api), launched.aws_endpoint, launched.gateway, launched.output)
    finally:
        launched.stop()


# -- helpers --------------------------------------------------------------------------------------------


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
def merchant(webhook_stack: RunningStack) -> Merchant:
    merchant_id = f"mer_wh_{uuid.uuid4().hex[:8]}"
    return Merchant(merchant_id, webhook_stack.merchant_api(merchant_id))


def endpoint(merchant: Merchant, receiver: Receiver, path: str, events: list[str] | None = None) -> Endpoint:
    body: dict[str, Any] = {"url": receiver.url(path)}
    if events is not None:
        body["events"] = events
    made = merchant.api.request("POST", "/v1/webhook-endpoints", body)
    assert made.status == 201, made.body
    return Endpoint(made.body["webhookEndpointId"], made.body["secret"], path)


def authorized(merchant: Merchant, amount: int = 2_500) -> str:
    return merchant.api.authorized(amount, merchantId=merchant.merchant_id)


def wait_for(check: Callable[[], T], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


def deliveries(merchant: Merchant, hook: Endpoint, query: str = "") -> dict[str, Any]:
    listed = merchant.api.request(
        "GET", f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}/deliveries{query}"
    )
    assert listed.status == 200, listed.body
    body: dict[str, Any] = listed.body
    return body


def settled(merchant: Merchant, hook: Endpoint, count: int) -> list[dict[str, Any]]:
    """The endpoint's log once it holds `count` deliveries, none still pending."""

    def check() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = deliveries(merchant, hook)["data"]
        done = len(data) == count and all(d["status"] != "pending" for d in data)
        return data if done else []

    return wait_for(check, f"{count} settled deliveries to {hook.path}")


def verified(hook: Endpoint, hit: Hit) -> dict[str, Any]:
    """The delivery, verified by the official library (signature and timestamp), as its payload."""
    payload: dict[str, Any] = Webhook(hook.secret).verify(hit.body, hit.headers)
    return payload


def event_ids(api: Api, payment_intent_id: str) -> dict[str, str]:
    """The payment's events by webhook type: `payment.<eventType in lower case>` -> its event id."""
    events = api.request("GET", f"/v1/events?paymentIntentId={payment_intent_id}").body["data"]
    return {f"payment.{event['eventType'].lower()}": event["eventId"] for event in events}


# -- the tests ------------------------------------------------------------------------------------------


def test_every_payment_event_is_delivered_signed_and_logged_newest_first(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, receiver.path(200))
    intent_id = authorized(merchant, 2_500)
    captured = merchant.api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 2_000})
    assert captured.status == 200, captured.body
    refunded = merchant.api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 500})
    assert refunded.status == 201, refunded.body

    hits = wait_for(
        lambda: receiver.at(hook.path) if len(receiver.at(hook.path)) >= 3 else [], "3 deliveries"
    )
    time.sleep(1)
    assert len(receiver.at(hook.path)) == 3  # each event once
    payloads = {payload["type"]: payload for payload in (verified(hook, hit) for hit in hits)}
    assert set(payloads) == {"payment.authorized", "payment.captured", "payment.refunded"}
    expected = {
        "payment.authorized": (2_500, "AUTHORIZED"),
        "payment.captured": (2_000, "CAPTURED"),
        "payment.refunded": (500, "PARTIALLY_REFUNDED"),
    }
    for event_type, (amount, status) in expected.items():
        data = payloads[event_type]["data"]
        assert (data["paymentIntentId"], data["amount"], data["currency"], data["status"]) == (
            intent_id,
            amount,
            "USD",
            status,
        ), event_type
        assert data["merchantId"] == merchant.merchant_id
    ids = event_ids(merchant.api, intent_id)
    assert {verified(hook, hit)["type"]: hit.headers["webhook-id"] for hit in hits} == ids

    log = settled(merchant, hook, 3)
    assert [d["type"] for d in log] == ["payment.refunded", "payment.captured", "payment.authorized"]
    assert [(d["status"], d["attempts"], d["lastStatusCode"]) for d in log] == [("succeeded", 1, 200)] * 3
    assert [d["eventId"] for d in log] == [ids[d["type"]] for d in log]
    first = deliveries(merchant, hook, "?limit=2")
    assert [d["type"] for d in first["data"]] == ["payment.refunded", "payment.captured"]
    rest = deliveries(merchant, hook, f"?limit=2&nextToken={first['nextToken']}")
    assert [d["type"] for d in rest["data"]] == ["payment.authorized"]
    assert rest["nextToken"] is None


def test_an_endpoint_gets_only_the_types_it_asked_for(merchant: Merchant, receiver: Receiver) -> None:
    captures = endpoint(merchant, receiver, receiver.path(200), events=["payment.captured"])
    everything = endpoint(merchant, receiver, receiver.path(200))
    intent_id = merchant.api.captured(1_000, merchantId=merchant.merchant_id)

    wait_for(lambda: len(receiver.at(everything.path)) >= 2, "the authorization and the capture")
    time.sleep(1)
    (hit,) = receiver.at(captures.path)
    payload = verified(captures, hit)
    assert (payload["type"], payload["data"]["paymentIntentId"]) == ("payment.captured", intent_id)


def test_a_failing_endpoint_gets_the_same_delivery_until_it_answers(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, receiver.path(500, 503, 200), events=["payment.authorized"])
    intent_id = authorized(merchant)

    hits = wait_for(lambda: receiver.at(hook.path) if len(receiver.at(hook.path)) >= 3 else [], "3 attempts")
    payloads = [verified(hook, hit) for hit in hits]
    assert {hit.headers["webhook-id"] for hit in hits} == {
        event_ids(merchant.api, intent_id)["payment.authorized"]
    }
    assert all(payload == payloads[0] for payload in payloads)  # the same event, signed afresh each time
    assert all(later.at - earlier.at >= 0.5 for earlier, later in itertools.pairwise(hits))
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("succeeded", 3, 200)
    time.sleep(2)
    assert len(receiver.at(hook.path)) == 3


def test_410_disables_the_endpoint_and_nothing_more_is_sent(merchant: Merchant, receiver: Receiver) -> None:
    hook = endpoint(merchant, receiver, receiver.path(410))
    authorized(merchant)

    wait_for(lambda: receiver.at(hook.path), "the first delivery")
    shown = wait_for(
        lambda: (
            got.body
            if (
                got := merchant.api.request("GET", f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}")
            ).body.get("enabled")
            is False
            else None
        ),
        "the endpoint disabled",
    )
    assert shown["disabledReason"] == "gone"
    authorized(merchant)  # another event of the merchant
    time.sleep(4)
    (hit,) = receiver.at(hook.path)
    verified(hook, hit)
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("failed", 1, 410)


def test_a_redirect_is_not_followed_and_the_delivery_fails_after_the_schedule(
    merchant: Merchant, receiver: Receiver
) -> None:
    elsewhere = receiver.path(200)
    hook = endpoint(merchant, receiver, receiver.path(("redirect", elsewhere)), events=["payment.authorized"])
    authorized(merchant)

    (logged,) = settled(merchant, hook, 1)

    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("failed", 4, 302)
    assert len(receiver.at(hook.path)) == 4
    assert receiver.at(elsewhere) == []


def test_a_receiver_that_hangs_is_given_up_on_at_the_timeout_and_tried_again(
    merchant: Merchant, receiver: Receiver
) -> None:
    hook = endpoint(merchant, receiver, receiver.path("hang", 200), events=["payment.authorized"])
    authorized(merchant)

    (logged,) = settled(merchant, hook, 1)

    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("succeeded", 2, 200)
    first, second = receiver.at(hook.path)
    assert second.at - first.at < HANG_SECONDS  # the second did not wait for the first to be answered
    assert verified(hook, first) == verified(hook, second)


def test_a_huge_answer_is_not_read_whole(merchant: Merchant, receiver: Receiver) -> None:
    hook = endpoint(merchant, receiver, receiver.path("huge"), events=["payment.authorized"])
    authorized(merchant)
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("succeeded", 1, 200)
    assert logged["latencyMs"] < TIMEOUT_SECONDS * 1000


def test_a_test_event_goes_to_that_endpoint_alone_and_only_for_its_merchant(
    merchant: Merchant, receiver: Receiver, webhook_stack: RunningStack
) -> None:
    hook = endpoint(merchant, receiver, receiver.path(200), events=["payment.refunded"])
    other = endpoint(merchant, receiver, receiver.path(200))
    stranger = webhook_stack.merchant_api(f"mer_wh_{uuid.uuid4().hex[:8]}")

    sent = merchant.api.request("POST", f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}/test")

    assert sent.status == 202, sent.body
    event_id = sent.body["eventId"]
    assert event_id.startswith("evt_test_")
    (hit,) = wait_for(lambda: receiver.at(hook.path), "the test event")
    payload = verified(hook, hit)
    assert hit.headers["webhook-id"] == event_id
    assert (payload["type"], payload["data"]["test"]) == ("payment.refunded", True)
    (logged,) = settled(merchant, hook, 1)
    assert (logged["eventId"], logged["status"]) == (event_id, "succeeded")
    assert receiver.at(other.path) == []
    for method, suffix in (("POST", "test"), ("GET", "deliveries")):
        refused = stranger.request(method, f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}/{suffix}")
        assert (refused.status, refused.body["error"]["code"]) == (404, "not_found"), suffix
    time.sleep(1)
    assert len(receiver.at(hook.path)) == 1


def test_a_failed_delivery_is_recovered_once_the_receiver_is_fixed(
    merchant: Merchant, receiver: Receiver, webhook_stack: RunningStack
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    broken = receiver.path(500)  # until told otherwise
    hook = endpoint(merchant, receiver, broken, events=["payment.authorized"])
    intent_id = authorized(merchant)
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("failed", 4, 500)
    recover = f"/v1/webhook-endpoints/{hook.webhook_endpoint_id}/recover"
    stranger = webhook_stack.merchant_api(f"mer_wh_{uuid.uuid4().hex[:8]}")
    refused = stranger.request("POST", recover, {"since": since})
    assert (refused.status, refused.body["error"]["code"]) == (404, "not_found")
    future = merchant.api.request("POST", recover, {"since": "2999-01-01T00:00:00Z"})
    assert (future.status, future.body["error"]["code"]) == (400, "invalid_request")

    with receiver.lock:
        receiver.plans[broken] = [200]  # the receiver is fixed
    recovered = merchant.api.request("POST", recover, {"since": since})

    assert (recovered.status, recovered.body) == (202, {"recovered": 1, "remaining": 0})
    hits = wait_for(
        lambda: receiver.at(hook.path) if len(receiver.at(hook.path)) == 5 else [], "the recovery"
    )
    assert {verified(hook, hit)["data"]["paymentIntentId"] for hit in hits} == {intent_id}
    assert {hit.headers["webhook-id"] for hit in hits} == {
        event_ids(merchant.api, intent_id)["payment.authorized"]
    }
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"], logged["lastStatusCode"]) == ("succeeded", 1, 200)
    again = merchant.api.request("POST", recover, {"since": since})
    assert (again.status, again.body) == (202, {"recovered": 0, "remaining": 0})  # nothing failed is left
    time.sleep(1)
    assert len(receiver.at(hook.path)) == 5


def test_a_delivered_event_resent_arrives_again_with_the_same_webhook_id_once_per_key(
    merchant: Merchant, receiver: Receiver, webhook_stack: RunningStack
) -> None:
    hook = endpoint(merchant, receiver, receiver.path(200), events=["payment.authorized"])
    intent_id = authorized(merchant)
    (delivered,) = settled(merchant, hook, 1)
    event_id = delivered["eventId"]
    listed = wait_for(lambda: event_ids(merchant.api, intent_id).get("payment.authorized"), "the event")
    assert listed == event_id
    later = endpoint(merchant, receiver, receiver.path(200))  # added after the event: it gets it too
    resend = f"/v1/events/{event_id}/resend"
    stranger = webhook_stack.merchant_api(f"mer_wh_{uuid.uuid4().hex[:8]}")
    refused = stranger.request("POST", resend)
    assert (refused.status, refused.body["error"]["code"]) == (404, "not_found")

    key = uuid.uuid4().hex
    resent = merchant.api.request("POST", resend, key=key)
    replayed = merchant.api.request("POST", resend, key=key)

    assert resent.status == 202, resent.body
    assert resent.body == {
        "eventId": event_id,
        "webhookEndpointIds": [hook.webhook_endpoint_id, later.webhook_endpoint_id],
    }
    assert (replayed.status, replayed.body) == (202, resent.body)
    assert {k.lower(): v for k, v in replayed.headers.items()}.get("idempotent-replayed") == "true"
    first, second = wait_for(
        lambda: receiver.at(hook.path) if len(receiver.at(hook.path)) == 2 else [], "the resend"
    )
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    assert verified(hook, first) == verified(hook, second)
    (elsewhere,) = wait_for(lambda: receiver.at(later.path), "the resend to the endpoint added since")
    assert verified(later, elsewhere)["data"]["paymentIntentId"] == intent_id
    (logged,) = settled(merchant, hook, 1)
    assert (logged["status"], logged["attempts"]) == ("succeeded", 1)
    time.sleep(2)
    assert len(receiver.at(hook.path)) == 2  # the replayed key sent nothing again
    assert len(receiver.at(later.path)) == 1


def test_no_delivery_carries_the_secret_or_reaches_the_logs(webhook_stack: RunningStack) -> None:
    """Runs last in this module: every secret created above, looked for in what the stack printed."""
    assert "whsec_" not in "".join(webhook_stack.output)
