"""Stripe's idempotency at the local stack's Stripe: `LocalStripe.url` (what `payments local up --processor
stripe` configures as `StripeApiBase` and prints as `Stripe:`) answers a repeated Idempotency-Key as
Stripe documents, where localstripe itself does the work again. Proven through the official SDK, as the
stack talks to it; the rest of Stripe's promise (a repeat while the first runs, keys kept 24 hours and
no more than `max_keys`) on `ReplayingProxy` alone, in front of a stub that can hold an answer back.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
import urllib3

from payments.local.localstripe import SECRET_KEY, LocalStripe
from payments.local.stripe_replay import KEEP_SECONDS, ReplayingProxy

pytestmark = pytest.mark.enable_socket


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    with LocalStripe() as started:
        yield started


@pytest.fixture
def reference() -> str:
    return f"ref_{uuid.uuid4().hex}"  # in each PaymentIntent's metadata: what this test made


def client(url: str, api_key: str = SECRET_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": url}, max_network_retries=0)


def hold(url: str, reference: str, key: str, *, amount: int = 1000, api_key: str = SECRET_KEY) -> str:
    """A manual-capture PaymentIntent made with Idempotency-Key `key`; its id."""
    intent = client(url, api_key).v1.payment_intents.create(
        {
            "amount": amount,
            "currency": "usd",
            "capture_method": "manual",
            "metadata": {"reference": reference},
        },
        {"idempotency_key": key},
    )
    return intent.id


def intents_for(local_stripe: LocalStripe, reference: str) -> list[str]:
    listed = client(local_stripe.url).v1.payment_intents.list({"limit": 100}).auto_paging_iter()
    return [intent.id for intent in listed if intent.metadata.to_dict().get("reference") == reference]


def post(url: str, form: dict[str, str], key: str, api_key: str = SECRET_KEY) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        "POST",
        url,
        body=urlencode(form),
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": key,
        },
        retries=False,
        timeout=10,
    )


# -- LocalStripe.url: localstripe behind Stripe's idempotency ---------------------------------------


def test_the_same_key_twice_makes_one_payment_intent(local_stripe: LocalStripe, reference: str) -> None:
    key = f"{reference}:authorize"

    first, again = hold(local_stripe.url, reference, key), hold(local_stripe.url, reference, key)

    assert first == again
    assert intents_for(local_stripe, reference) == [first]


def test_a_repeat_gets_the_first_answer_back_marked_replayed(
    local_stripe: LocalStripe, reference: str
) -> None:
    form = {"amount": "1500", "currency": "usd", "metadata[reference]": reference}
    url = f"{local_stripe.url}/v1/payment_intents"

    first, again = post(url, form, reference), post(url, form, reference)

    assert (first.status, again.status, again.data) == (200, 200, first.data)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == reference
    assert intents_for(local_stripe, reference) == [first.json()["id"]]


def test_the_same_key_with_other_parameters_is_an_idempotency_error(
    local_stripe: LocalStripe, reference: str
) -> None:
    key = f"{reference}:authorize"
    first = hold(local_stripe.url, reference, key, amount=1000)

    with pytest.raises(stripe.IdempotencyError) as refused:
        hold(local_stripe.url, reference, key, amount=2000)

    assert refused.value.http_status == 400
    assert refused.value.json_body is not None
    assert refused.value.json_body["error"]["type"] == "idempotency_error"
    assert intents_for(local_stripe, reference) == [first]


def test_api_keys_do_not_share_idempotency_keys(local_stripe: LocalStripe, reference: str) -> None:
    # Stripe keeps keys per account: one merchant's key is not another's, however they are spelled.
    key = f"{reference}:authorize"

    one = hold(local_stripe.url, reference, key, api_key="sk_test_merchant_one")
    other = hold(local_stripe.url, reference, key, api_key="sk_test_merchant_two")

    assert one != other
    assert sorted(intents_for(local_stripe, reference)) == sorted([one, other])


def test_localstripe_itself_does_a_repeated_key_twice(local_stripe: LocalStripe, reference: str) -> None:
    # The gap the layer fills: the emulator behind it makes two PaymentIntents for one key.
    key = f"{reference}:authorize"

    first, again = (
        hold(local_stripe.emulator_url, reference, key),
        hold(local_stripe.emulator_url, reference, key),
    )

    assert first != again
    assert sorted(intents_for(local_stripe, reference)) == sorted([first, again])


# -- ReplayingProxy alone, in front of a stub ---------------------------------------------------------


class Stub:
    """An upstream that numbers the POSTs it answers; `hold()` keeps the next answers back until
    `release()`."""

    def __init__(self) -> None:
        self.posts = 0
        self.arrived = threading.Event()
        self._released = threading.Event()
        self._released.set()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.posts += 1
                number = stub.posts
                stub.arrived.set()
                stub._released.wait(timeout=10)
                body = f'{{"number": {number}}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def hold(self) -> None:
        self.arrived.clear()
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub() -> Iterator[Stub]:
    upstream = Stub()
    try:
        yield upstream
    finally:
        upstream.stop()


def numbered(proxy: ReplayingProxy, key: str) -> tuple[int, Any]:
    answer = post(f"{proxy.url}/v1/payment_intents", {"amount": "100"}, key)
    return answer.status, answer.json()


def test_a_repeat_while_the_first_runs_is_a_conflict_and_then_a_replay(stub: Stub) -> None:
    with ReplayingProxy(stub.url).start() as proxy:
        stub.hold()
        answers: list[tuple[int, Any]] = []
        first = threading.Thread(target=lambda: answers.append(numbered(proxy, "k")))
        first.start()
        assert stub.arrived.wait(timeout=10)

        status, body = numbered(proxy, "k")
        stub.release()
        first.join(timeout=10)

        assert (status, body["error"]["code"]) == (409, "idempotency_key_in_use")
        assert answers == [(200, {"number": 1})]
        assert numbered(proxy, "k") == (200, {"number": 1})
        assert (stub.posts, proxy.posts_to("/v1/payment_intents"), proxy.replayed) == (1, 1, 1)


def test_a_key_is_kept_for_24_hours(stub: Stub) -> None:
    now = [0.0]
    with ReplayingProxy(stub.url, clock=lambda: now[0]).start() as proxy:
        assert numbered(proxy, "k") == (200, {"number": 1})
        now[0] += KEEP_SECONDS - 1
        assert numbered(proxy, "k") == (200, {"number": 1})
        now[0] += 1
        assert numbered(proxy, "k") == (200, {"number": 2})  # pruned: a new request, as at Stripe


def test_no_more_than_max_keys_are_kept_the_oldest_going_first(stub: Stub) -> None:
    with ReplayingProxy(stub.url, max_keys=2).start() as proxy:
        for key in ("a", "b", "c"):
            numbered(proxy, key)

        assert numbered(proxy, "c") == (200, {"number": 3})
        assert numbered(proxy, "a") == (200, {"number": 4})  # forgotten: done again
