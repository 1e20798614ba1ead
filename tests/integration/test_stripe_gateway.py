"""StripeGateway against localstripe (a Stripe emulator, run as a process on loopback), every movement read
back at the emulator with the official SDK (a client of its own) to prove it happened there exactly once.

Where localstripe 1.15.10 differs from Stripe's documented behaviour, the test says so and covers it:

- no replay by Idempotency-Key: a repeated key does the work again. Covered by `ReplayingProxy`
  (tests/integration/stripe_support.py), which replays as Stripe documents; retried authorizations,
  captures and refunds go through it, and the gap itself is shown without it.
- no search endpoint (`/v1/payment_intents/search` is a 404): the gateway lists and filters instead, the
  path these tests take; the search path is unit-tested on recorded answers.
- a manual-capture confirmation is not declined for `4000000000000002` / `pm_card_visa_chargeDeclined`;
  it is for `pm_card_chargeCustomerFail` (4000000000000341), as a 402 naming the charge, not the
  PaymentIntent, with no `decline_code`. Stripe's decline shapes are unit-tested on recorded answers.
- a partial capture books the uncaptured rest as a refund on the charge, and `amount_received` is absent:
  the gateway reads what was captured from the charge then.
- refusals carry no error `code` (a capture over the authorized amount, a void of a void: 400 "Bad
  request"), so they come out as InvalidRequest where Stripe's codes make them InvalidState (unit-tested);
  a refund over what was captured is accepted (the domain refuses it before any gateway call).
- 3-D Secure comes as a `use_stripe_sdk` action (no URL), completed by localstripe's own
  `POST /v1/payment_intents/{id}/_authenticate`; `return_url` is refused as an unknown parameter.
  `payment_method_options[card][request_three_d_secure]=any` (sent when our fraud screen asked for the
  step-up) is taken and ignored: whether localstripe challenges is the card's alone.
- no disputes.

Transport failures are shown on plain loopback sockets, through the SDK's own requests client: only a
call whose every attempt failed to connect is ProcessorUnreachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import stripe
import urllib3

from payments.adapters.gateway_client import UnexpectedGatewayAnswer
from payments.adapters.stripe_gateway import StripeGateway
from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.money import Money
from payments.service.ports import (
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayCapture,
    GatewayDeclined,
)
from tests.integration.stripe_support import SECRET_KEY, LocalStripeProcess, ReplayingProxy, closed_port
from tests.integration.test_gateway_client import TcpServer, full_backlog

pytestmark = pytest.mark.enable_socket

THREE_D_SECURE_CARD = "4000002760003184"  # "3DS required" at Stripe; localstripe asks for authentication


@pytest.fixture(scope="module")
def localstripe() -> Iterator[LocalStripeProcess]:
    process = LocalStripeProcess().start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def proxy(localstripe: LocalStripeProcess) -> Iterator[ReplayingProxy]:
    replaying = ReplayingProxy(localstripe.url).start()
    try:
        yield replaying
    finally:
        replaying.stop()


@pytest.fixture(scope="module")
def reader(localstripe: LocalStripeProcess) -> stripe.StripeClient:
    """The official SDK, straight at localstripe: how the tests see what happened there."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe.url}, max_network_retries=0)


def gateway_at(
    url: str,
    *,
    max_retries: int = 0,
    timeout_seconds: float = 5.0,
    http_client: stripe.HTTPClient | None = None,
) -> StripeGateway:
    return StripeGateway(
        api_key=lambda: SECRET_KEY,
        api_base=url,
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        http_client=http_client,
    )


class NoBackoff(stripe.RequestsClient):
    """The SDK's own requests client, without its half-second waits between retries (for speed)."""

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0


def retrying_at(url: str, *, max_retries: int) -> StripeGateway:
    """A gateway whose SDK retries at once, each attempt bounded by 0.2 s."""
    return gateway_at(url, max_retries=max_retries, timeout_seconds=0.2, http_client=NoBackoff(timeout=0.2))


@pytest.fixture
def gateway(localstripe: LocalStripeProcess) -> StripeGateway:
    return gateway_at(localstripe.url)


@pytest.fixture
def replayed(proxy: ReplayingProxy) -> StripeGateway:
    """The gateway through the replaying layer: Stripe's idempotency, on localstripe."""
    return gateway_at(proxy.url, max_retries=1)


@pytest.fixture
def reference() -> str:
    return f"pi_{uuid.uuid4().hex[:20]}"  # our payment intent id, unique per test


def usd(amount: int) -> Money:
    return Money.of(amount, "USD")


def authorized(
    gateway: StripeGateway, reference: str, amount: int = 1000, method: str = "pm_card_visa"
) -> str:
    result = gateway.authorize(
        idempotency_key=f"{reference}:authorize",
        amount=usd(amount),
        payment_method=method,
        reference=reference,
    )
    assert isinstance(result, GatewayApproved), result
    return result.reference


def intent_at(reader: stripe.StripeClient, payment_intent_id: str) -> dict[str, Any]:
    return reader.v1.payment_intents.retrieve(payment_intent_id).to_dict()


def intents_for(reader: stripe.StripeClient, reference: str) -> list[dict[str, Any]]:
    every = [intent.to_dict() for intent in reader.v1.payment_intents.list({"limit": 100}).auto_paging_iter()]
    return [intent for intent in every if intent["metadata"].get("reference") == reference]


def refunds_of(reader: stripe.StripeClient, payment_intent_id: str) -> list[dict[str, Any]]:
    return [refund.to_dict() for refund in reader.v1.refunds.list({"payment_intent": payment_intent_id}).data]


def authenticate(
    localstripe: LocalStripeProcess, reader: stripe.StripeClient, pi_id: str, *, success: bool
) -> None:
    """The customer's side of the challenge, as localstripe takes it (its own route, not Stripe's API)."""
    secret = intent_at(reader, pi_id)["client_secret"]
    response = urllib3.request(
        "POST",
        f"{localstripe.url}/v1/payment_intents/{pi_id}/_authenticate",
        body=urlencode({"client_secret": secret, "success": "true" if success else "false"}),
        headers={
            "Authorization": f"Bearer {SECRET_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        retries=False,
    )
    assert response.status == 200, response.data


def three_d_secure_card(reader: stripe.StripeClient) -> str:
    # Raw card numbers: localstripe takes them; Stripe only from accounts cleared to send them.
    params: Any = {
        "type": "card",
        "card": {"number": THREE_D_SECURE_CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    }
    method = reader.v1.payment_methods.create(params)
    return method.id


# --- authorize, capture, void, refund ---------------------------------------------------------------


def test_an_authorization_is_a_hold_at_stripe(
    gateway: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    pi_id = authorized(gateway, reference)

    intent = intent_at(reader, pi_id)
    assert intent["status"] == "requires_capture"
    assert (intent["amount"], intent["currency"], intent["capture_method"]) == (1000, "usd", "manual")
    assert intent["metadata"] == {"reference": reference}
    assert intent["latest_charge"]["captured"] is False
    assert [found["id"] for found in intents_for(reader, reference)] == [pi_id]
    assert gateway.open_authorizations(reference=reference) == [pi_id]
    assert gateway.captured(authorization_id=pi_id) is None


def test_a_full_capture(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> None:
    pi_id = authorized(gateway, reference)

    result = gateway.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1000))

    intent = intent_at(reader, pi_id)
    assert result == GatewayApproved(intent["latest_charge"]["id"])
    assert intent["status"] == "succeeded"
    assert intent["latest_charge"]["captured"] is True
    assert intent["latest_charge"]["refunds"]["data"] == []
    assert "amount_received" not in intent  # localstripe: absent (Stripe: 1000)
    assert gateway.captured(authorization_id=pi_id) == GatewayCapture(result.reference, 1000)
    assert gateway.open_authorizations(reference=reference) == []


def test_a_partial_capture(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> None:
    pi_id = authorized(gateway, reference)

    result = gateway.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(600))

    intent = intent_at(reader, pi_id)
    charge = intent["latest_charge"]
    assert result == GatewayApproved(charge["id"])
    assert (intent["status"], charge["captured"]) == ("succeeded", True)
    # localstripe books the 400 left uncaptured as a refund on the charge (Stripe releases it and shows
    # amount_received=600, no refund); that refund names no PaymentIntent, which is how it is told apart.
    assert [(refund["amount"], refund["payment_intent"]) for refund in charge["refunds"]["data"]] == [
        (400, None)
    ]
    assert gateway.captured(authorization_id=pi_id) == GatewayCapture(charge["id"], 600)


def test_a_capture_over_the_hold_is_refused(
    gateway: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    pi_id = authorized(gateway, reference)
    # localstripe: 400 "Bad request" without a code (Stripe: amount_too_large -> InvalidState).
    with pytest.raises(InvalidRequest):
        gateway.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1500))
    assert intent_at(reader, pi_id)["status"] == "requires_capture"


def test_a_void(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> None:
    pi_id = authorized(gateway, reference)

    assert gateway.void(idempotency_key=f"{reference}:void", authorization_id=pi_id) == GatewayApproved(pi_id)

    assert intent_at(reader, pi_id)["status"] == "canceled"
    assert gateway.open_authorizations(reference=reference) == []
    assert gateway.captured(authorization_id=pi_id) is None
    # Voiding it again: localstripe says 400 "Bad request" with no code (Stripe:
    # payment_intent_unexpected_state -> InvalidState).
    with pytest.raises(InvalidRequest):
        gateway.void(idempotency_key=f"{reference}:void:again", authorization_id=pi_id)


def test_two_partial_refunds(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> None:
    pi_id = authorized(gateway, reference)
    gateway.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1000))

    first = gateway.refund(idempotency_key=f"{reference}:refund:1", authorization_id=pi_id, amount=usd(300))
    second = gateway.refund(idempotency_key=f"{reference}:refund:2", authorization_id=pi_id, amount=usd(200))

    refunds = refunds_of(reader, pi_id)
    assert first.reference != second.reference
    assert sorted((refund["id"], refund["amount"]) for refund in refunds) == sorted(
        [(first.reference, 300), (second.reference, 200)]
    )
    assert {(refund["status"], refund["payment_intent"], refund["currency"]) for refund in refunds} == {
        ("succeeded", pi_id, "usd")
    }
    assert intent_at(reader, pi_id)["latest_charge"]["amount_refunded"] == 500
    assert gateway.captured(authorization_id=pi_id) == GatewayCapture(
        intent_at(reader, pi_id)["latest_charge"]["id"], 1000
    )


def test_localstripe_takes_a_refund_over_what_was_captured(
    gateway: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    # Stripe refuses it (amount_too_large -> InvalidState, unit-tested); the domain never asks
    # (PaymentIntent.refundable), so nothing relies on the processor for this rule.
    pi_id = authorized(gateway, reference)
    gateway.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1000))
    gateway.refund(idempotency_key=f"{reference}:refund:1", authorization_id=pi_id, amount=usd(5000))
    assert [refund["amount"] for refund in refunds_of(reader, pi_id)] == [5000]


# --- declines and refusals --------------------------------------------------------------------------


def test_a_declined_card(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> None:
    result = gateway.authorize(
        idempotency_key=f"{reference}:authorize",
        amount=usd(1000),
        payment_method="pm_card_chargeCustomerFail",
        reference=reference,
    )

    # localstripe's 402 names the charge and gives no decline_code (Stripe names the PaymentIntent).
    assert isinstance(result, GatewayDeclined)
    assert (result.reference[:3], result.decline_code) == ("ch_", "card_declined")
    [intent] = intents_for(reader, reference)
    assert intent["status"] == "requires_payment_method"
    assert intent["latest_charge"]["id"] == result.reference
    assert gateway.open_authorizations(reference=reference) == []


def test_localstripe_approves_the_card_stripe_declines(gateway: StripeGateway, reference: str) -> None:
    # 4000000000000002 is declined at Stripe; localstripe declines it only when attached to a customer.
    # The decline mapping is proven on Stripe's recorded answers in the unit tests.
    assert authorized(gateway, reference, method="pm_card_visa_chargeDeclined").startswith("pi_")


def test_an_unknown_payment_method_is_a_bad_request(
    gateway: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    with pytest.raises(InvalidRequest):
        gateway.authorize(
            idempotency_key=f"{reference}:authorize",
            amount=usd(1000),
            payment_method="pm_nope",
            reference=reference,
        )
    assert intents_for(reader, reference) == []


# --- transport failures: which prove Stripe never received the request -----------------------------


def test_a_refused_connection_is_processor_unreachable(reference: str) -> None:
    with closed_port() as port:
        gateway = gateway_at(f"http://127.0.0.1:{port}")  # the SDK's default client
        with pytest.raises(ProcessorUnreachable, match="ConnectionError") as raised:
            authorized(gateway, reference)
    assert raised.value.upstream == "gateway"


def test_refused_on_every_retry_is_processor_unreachable(reference: str) -> None:
    with closed_port() as port:
        gateway = retrying_at(f"http://127.0.0.1:{port}", max_retries=2)
        with pytest.raises(ProcessorUnreachable, match=r"3 attempt\(s\)"):
            authorized(gateway, reference)


def test_a_connection_never_made_is_processor_unreachable(reference: str) -> None:
    with full_backlog() as port:
        gateway = retrying_at(f"http://127.0.0.1:{port}", max_retries=1)
        with pytest.raises(ProcessorUnreachable, match="ConnectTimeout"):
            authorized(gateway, reference)


@pytest.mark.parametrize("after", ["stall", "reset"])
def test_a_connection_that_took_the_request_is_unavailable_not_unreachable(
    after: Literal["stall", "reset"], reference: str
) -> None:
    with TcpServer(after) as server:
        gateway = retrying_at(server.url, max_retries=1)
        with pytest.raises(UpstreamUnavailable) as raised:
            authorized(gateway, reference)
        assert not isinstance(raised.value, ProcessorUnreachable)
        assert server.requests == 2  # the SDK's retry arrived too


def test_refusals_after_a_request_that_arrived_are_not_unreachable(reference: str) -> None:
    # Given a Stripe that takes the first request, never answers it, and then refuses connections
    with TcpServer("stall, then refuse") as server:
        gateway = retrying_at(server.url, max_retries=2)
        # When the first attempt times out and the SDK's retries are refused
        with pytest.raises(UpstreamUnavailable) as raised:
            authorized(gateway, reference)
        # Then the first may have made the hold: the payment must not go to another processor
        assert not isinstance(raised.value, ProcessorUnreachable)
        assert server.requests == 1


def test_localstripe_has_no_disputes(reader: stripe.StripeClient) -> None:
    # No route at all: aiohttp's plain-text 404, which the SDK reads as an APIError. Disputes reach us as
    # signed webhooks, which localstripe never sends for disputes either.
    with pytest.raises(stripe.APIError) as raised:
        reader.v1.disputes.list()
    assert raised.value.http_status == 404


# --- 3-D Secure -------------------------------------------------------------------------------------


def challenged(gateway: StripeGateway, reader: stripe.StripeClient, reference: str) -> tuple[str, str]:
    method = three_d_secure_card(reader)
    result = gateway.authorize(
        idempotency_key=f"{reference}:authorize", amount=usd(1000), payment_method=method, reference=reference
    )
    assert isinstance(result, GatewayAuthenticationRequired), result
    assert result.next_action_url is None  # localstripe: a `use_stripe_sdk` action, no URL
    assert intent_at(reader, result.reference)["status"] == "requires_action"
    return result.reference, method


class Recording(stripe.RequestsClient):
    """The SDK's own requests client, noting what each request asked: how a test sees the reads and
    searches the gateway made (the replaying layer counts POSTs only)."""

    def __init__(self) -> None:
        super().__init__(timeout=5.0)
        self.sent: list[tuple[str, str, dict[str, str]]] = []  # method, path, form (body or query)

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        parts = urlsplit(url)
        form = post_data if method == "post" else parts.query
        self.sent.append((method, parts.path, dict(parse_qsl(form or "", keep_blank_values=True))))
        return super().request(method, url, headers, post_data)

    def paths(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.sent]


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def recorded(localstripe: LocalStripeProcess, recording: Recording) -> StripeGateway:
    return gateway_at(localstripe.url, http_client=recording)


def after_challenge(gateway: StripeGateway, reference: str, method: str, authentication: str | None) -> Any:
    return gateway.authorize(
        idempotency_key=f"{reference}:authorize:3ds",
        amount=usd(1000),
        payment_method=method,
        reference=reference,
        three_d_secure_passed=True,
        authentication=authentication,
    )


def test_a_passed_challenge_is_approved_from_the_payment_intents_state(
    recorded: StripeGateway,
    recording: Recording,
    reader: stripe.StripeClient,
    localstripe: LocalStripeProcess,
    reference: str,
) -> None:
    pi_id, method = challenged(recorded, reader, reference)

    # The caller's word alone changes nothing: the PaymentIntent still waits.
    assert after_challenge(recorded, reference, method, pi_id) == GatewayAuthenticationRequired(pi_id)

    authenticate(localstripe, reader, pi_id, success=True)

    assert after_challenge(recorded, reference, method, pi_id) == GatewayApproved(pi_id)
    # Each answer after the challenge was one read of the PaymentIntent named: no search, no list
    assert recording.paths() == [
        ("post", "/v1/payment_intents"),
        ("get", f"/v1/payment_intents/{pi_id}"),
        ("get", f"/v1/payment_intents/{pi_id}"),
    ]
    assert [intent["id"] for intent in intents_for(reader, reference)] == [pi_id]  # no new attempt made
    assert intent_at(reader, pi_id)["status"] == "requires_capture"
    assert recorded.open_authorizations(reference=reference) == [pi_id]


def test_a_failed_challenge_is_a_decline(
    gateway: StripeGateway, reader: stripe.StripeClient, localstripe: LocalStripeProcess, reference: str
) -> None:
    pi_id, method = challenged(gateway, reader, reference)
    authenticate(localstripe, reader, pi_id, success=False)

    assert after_challenge(gateway, reference, method, pi_id) == GatewayDeclined(
        pi_id, "payment_intent_authentication_failure"
    )


def test_an_authentication_of_another_payment_is_refused(
    gateway: StripeGateway, reader: stripe.StripeClient, localstripe: LocalStripeProcess, reference: str
) -> None:
    pi_id, method = challenged(gateway, reader, reference)
    authenticate(localstripe, reader, pi_id, success=True)
    # Given another payment names this payment's PaymentIntent, now holding money
    with pytest.raises(UnexpectedGatewayAnswer, match="not for pi_another"):
        after_challenge(gateway, "pi_another", method, pi_id)


def test_a_step_up_stripe_never_asked_for_makes_the_payment_intent_asking_for_3ds(
    recorded: StripeGateway, recording: Recording, reader: stripe.StripeClient, reference: str
) -> None:
    # Given our fraud screen stepped the payment up, before Stripe ever saw it: no authentication to name
    result = after_challenge(recorded, reference, "pm_card_visa", None)

    # Then the PaymentIntent is made, with the after-challenge key, asking Stripe to run 3-D Secure
    [(method, path, form)] = recording.sent
    assert (method, path) == ("post", "/v1/payment_intents")
    assert form["payment_method_options[card][request_three_d_secure]"] == "any"
    [made] = intents_for(reader, reference)
    assert result == GatewayApproved(made["id"])
    assert (made["status"], made["amount"], made["capture_method"]) == ("requires_capture", 1000, "manual")


def test_localstripe_takes_request_three_d_secure_and_leaves_the_challenge_to_the_card(
    recorded: StripeGateway,
    recording: Recording,
    reader: stripe.StripeClient,
    localstripe: LocalStripeProcess,
    reference: str,
) -> None:
    # The gap: localstripe accepts `payment_method_options` but keeps none of it (the PaymentIntent
    # shows no `payment_method_options`), so whether it challenges is the card's alone: pm_card_visa
    # is approved above, where Stripe runs 3-D Secure wherever the card supports it. A card that
    # requires authentication is challenged as Stripe would, and the rest is the usual flow.
    method = three_d_secure_card(reader)
    challenge = after_challenge(recorded, reference, method, None)
    assert isinstance(challenge, GatewayAuthenticationRequired), challenge
    assert "payment_method_options" not in intent_at(reader, challenge.reference)
    authenticate(localstripe, reader, challenge.reference, success=True)

    assert after_challenge(recorded, reference, method, challenge.reference) == GatewayApproved(
        challenge.reference
    )
    assert recording.paths() == [
        ("post", "/v1/payment_intents"),
        ("get", f"/v1/payment_intents/{challenge.reference}"),
    ]


# --- idempotency -------------------------------------------------------------------------------------


def test_localstripe_alone_does_a_repeated_key_twice(
    gateway: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    # The gap: two holds for one key. Stripe answers the repeat with the first PaymentIntent.
    first, second = authorized(gateway, reference), authorized(gateway, reference)
    assert first != second
    assert len(intents_for(reader, reference)) == 2


def test_a_repeated_authorization_holds_once(
    replayed: StripeGateway, proxy: ReplayingProxy, reader: stripe.StripeClient, reference: str
) -> None:
    before = proxy.posts_to("/v1/payment_intents")

    first, second = authorized(replayed, reference), authorized(replayed, reference)

    assert first == second
    assert proxy.posts_to("/v1/payment_intents") == before + 1
    assert [intent["id"] for intent in intents_for(reader, reference)] == [first]


def test_an_authorization_whose_answer_was_lost_holds_once(
    replayed: StripeGateway, proxy: ReplayingProxy, reader: stripe.StripeClient, reference: str
) -> None:
    before, replays = proxy.posts_to("/v1/payment_intents"), proxy.replayed
    proxy.lose_answers(1)  # localstripe makes the hold; the answer never arrives; the SDK retries

    pi_id = authorized(replayed, reference)

    assert proxy.posts_to("/v1/payment_intents") == before + 1
    assert proxy.replayed == replays + 1  # the SDK's retry, answered with the first answer
    assert [intent["id"] for intent in intents_for(reader, reference)] == [pi_id]


def test_a_repeated_capture_captures_once(
    replayed: StripeGateway, proxy: ReplayingProxy, reader: stripe.StripeClient, reference: str
) -> None:
    pi_id = authorized(replayed, reference)
    path = f"/v1/payment_intents/{pi_id}/capture"

    replays = proxy.replayed
    proxy.lose_answers(1)
    first = replayed.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(600))
    second = replayed.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(600))

    assert first == second
    assert proxy.posts_to(path) == 1
    assert proxy.replayed == replays + 2  # the SDK's retry of the lost answer, then our own retry
    charge = intent_at(reader, pi_id)["latest_charge"]
    assert (charge["captured"], [refund["amount"] for refund in charge["refunds"]["data"]]) == (True, [400])


def test_a_repeated_refund_refunds_once(
    replayed: StripeGateway, proxy: ReplayingProxy, reader: stripe.StripeClient, reference: str
) -> None:
    pi_id = authorized(replayed, reference)
    replayed.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1000))
    before, replays = proxy.posts_to("/v1/refunds"), proxy.replayed

    proxy.lose_answers(1)
    first = replayed.refund(idempotency_key=f"{reference}:refund:1", authorization_id=pi_id, amount=usd(300))
    again = replayed.refund(idempotency_key=f"{reference}:refund:1", authorization_id=pi_id, amount=usd(300))
    other = replayed.refund(idempotency_key=f"{reference}:refund:2", authorization_id=pi_id, amount=usd(200))

    assert first == again != other
    assert proxy.posts_to("/v1/refunds") == before + 2
    assert proxy.replayed == replays + 2
    assert sorted(refund["amount"] for refund in refunds_of(reader, pi_id)) == [200, 300]


def test_a_key_reused_for_another_amount_is_refused(
    replayed: StripeGateway, reader: stripe.StripeClient, reference: str
) -> None:
    pi_id = authorized(replayed, reference)
    replayed.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(1000))

    with pytest.raises(ConcurrentUpdate):
        replayed.capture(idempotency_key=f"{reference}:capture", authorization_id=pi_id, amount=usd(600))
    assert replayed.captured(authorization_id=pi_id) == GatewayCapture(
        intent_at(reader, pi_id)["latest_charge"]["id"], 1000
    )
