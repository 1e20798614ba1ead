"""StripeGateway on recorded Stripe answers, with no sockets: the real SDK builds each request and parses
each answer, through an HTTP client that records what it is asked and answers from a script.

The answers are shaped as Stripe's API reference shows its objects and errors (PaymentIntent, Refund,
`{"error": {...}}` bodies). Declines are covered here: localstripe never declines a manual-capture
confirmation of the cards Stripe documents as declining (see tests/integration/test_stripe_gateway.py).
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import stripe
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from payments.adapters.gateway_client import UnexpectedGatewayAnswer
from payments.adapters.stripe_gateway import StripeGateway
from payments.domain.errors import (
    CardDeclined,
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.intents import Processor
from payments.domain.money import Money
from payments.service.ports import (
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayCapture,
    GatewayDeclined,
)

API = "https://api.stripe.test"
REFERENCE = "pi_ours_01"  # our payment intent id
STRIPE_PI = "pi_3PqRsTLkdIwHu7ix0aBcDeFg"
CHARGE = "ch_3PqRsTLkdIwHu7ix0hIjKlMn"


# --- recorded objects -------------------------------------------------------------------------------


def payment_intent(status: str, **fields: Any) -> dict[str, Any]:
    """A PaymentIntent as GET/POST /v1/payment_intents answers it."""
    return {
        "id": STRIPE_PI,
        "object": "payment_intent",
        "amount": 1000,
        "amount_capturable": 1000 if status == "requires_capture" else 0,
        "amount_received": 0,
        "capture_method": "manual",
        "client_secret": f"{STRIPE_PI}_secret_Zt3mQ",
        "confirmation_method": "automatic",
        "created": 1_760_000_000,
        "currency": "usd",
        "customer": None,
        "last_payment_error": None,
        "latest_charge": CHARGE if status in {"requires_capture", "succeeded"} else None,
        "livemode": False,
        "metadata": {"reference": REFERENCE},
        "next_action": None,
        "payment_method": "pm_1PqRsTLkdIwHu7ixVisa",
        "payment_method_types": ["card"],
        "status": status,
        **fields,
    }


REDIRECT = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=" + STRIPE_PI


def challenge_by_redirect() -> dict[str, Any]:
    return payment_intent(
        "requires_action",
        next_action={
            "type": "redirect_to_url",
            "redirect_to_url": {"return_url": "https://shop.test/back", "url": REDIRECT},
        },
    )


def challenge_by_sdk() -> dict[str, Any]:
    return payment_intent(
        "requires_action",
        next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
    )


def failed_payment(decline_code: str | None, code: str = "card_declined") -> dict[str, Any]:
    return payment_intent(
        "requires_payment_method",
        last_payment_error={
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": "Your card was declined.",
            "charge": CHARGE,
        },
    )


def card_error(decline_code: str | None, **fields: Any) -> dict[str, Any]:
    """A 402 body as Stripe sends it for a declined confirmation, the PaymentIntent it left inside."""
    return {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": "Your card has insufficient funds.",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "charge": CHARGE,
            "payment_intent": failed_payment(decline_code),
            **fields,
        }
    }


def invalid_request(code: str | None, message: str, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return {"error": error}


def refund(status: str = "succeeded", amount: int = 250) -> dict[str, Any]:
    return {
        "id": "re_3PqRsTLkdIwHu7ix0Refund1",
        "object": "refund",
        "amount": amount,
        "charge": CHARGE,
        "created": 1_760_000_100,
        "currency": "usd",
        "metadata": {},
        "payment_intent": STRIPE_PI,
        "reason": None,
        "status": status,
    }


def search_result(*intents: dict[str, Any], next_page: str | None = None) -> dict[str, Any]:
    return {
        "object": "search_result",
        "url": "/v1/payment_intents/search",
        "has_more": next_page is not None,
        "next_page": next_page,
        "data": list(intents),
    }


def listed(*intents: dict[str, Any], has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "url": "/v1/payment_intents", "has_more": has_more, "data": list(intents)}


def other_intent(
    pi_id: str, status: str, reference: str = REFERENCE, created: int = 1_760_000_000
) -> dict[str, Any]:
    return payment_intent(status, id=pi_id, metadata={"reference": reference}, created=created)


# --- the recording HTTP client ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def form(self) -> dict[str, str]:
        """The form-encoded body (POST) or query (GET), one value per key."""
        text = self.body if self.method == "post" else urlsplit(self.url).query
        return {key: values[0] for key, values in parse_qs(text or "", keep_blank_values=True).items()}


Answer = tuple[int, Any] | Exception


class RecordedStripe(stripe.HTTPClient):
    """Answers each request with the next scripted answer: (status, JSON body, or raw bytes), or raises
    the exception given (as the SDK's own clients raise APIConnectionError)."""

    name = "recorded"

    def __init__(self) -> None:
        super().__init__()
        self.answers: deque[Answer] = deque()
        self.sent: list[Sent] = []

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, **_: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        self.sent.append(Sent(method, url, dict(headers or {}), post_data))
        if not self.answers:
            raise AssertionError(f"no answer scripted for {method.upper()} {url}")
        answer = self.answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        raw = body.decode() if isinstance(body, bytes) else json.dumps(body)
        return raw, status, {"Request-Id": f"req_{len(self.sent)}", "Content-Type": "application/json"}

    def close(self) -> None:
        pass

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0  # the SDK's backoff between its own retries, not waited here


@pytest.fixture
def http() -> RecordedStripe:
    return RecordedStripe()


class Keys:
    """The secret as the adapter reads it: counted, and rotatable."""

    def __init__(self) -> None:
        self.current = "sk_test_first"
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return self.current


@pytest.fixture
def keys() -> Keys:
    return Keys()


def make(
    http: RecordedStripe, keys: Callable[[], str], *, max_retries: int = 0, return_url: str | None = None
) -> StripeGateway:
    return StripeGateway(
        api_key=keys,
        api_base=API,
        timeout_seconds=2.0,
        max_retries=max_retries,
        return_url=return_url,
        http_client=http,
    )


@pytest.fixture
def gateway(http: RecordedStripe, keys: Keys) -> StripeGateway:
    return make(http, keys)


def usd(amount: int) -> Money:
    return Money.of(amount, "USD")


def authorize(
    gateway: StripeGateway,
    *,
    key: str = f"{REFERENCE}:authorize",
    passed: bool = False,
    authentication: str | None = None,
) -> Any:
    return gateway.authorize(
        idempotency_key=key,
        amount=usd(1000),
        payment_method="pm_card_visa",
        reference=REFERENCE,
        three_d_secure_passed=passed,
        authentication=authentication,
    )


# --- authorize --------------------------------------------------------------------------------------


def test_an_approved_hold_is_the_payment_intent_confirmed_for_manual_capture(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((200, payment_intent("requires_capture")))

    assert authorize(gateway) == GatewayApproved(STRIPE_PI)

    [sent] = http.sent
    assert (sent.method, sent.url) == ("post", f"{API}/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == f"{REFERENCE}:authorize"
    assert sent.headers["Authorization"] == "Bearer sk_test_first"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.form == {
        "amount": "1000",  # minor units, an integer: never "10.0" nor "1000.0"
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "confirm": "true",
        "metadata[reference]": REFERENCE,
    }


def test_the_gateway_is_stripes(gateway: StripeGateway) -> None:
    assert gateway.processor is Processor.STRIPE


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (Money.of(1000, "USD"), "1000"),
        (Money.of(500, "JPY"), "500"),  # zero-decimal at Stripe as in ISO 4217
        (Money.of(5120, "KWD"), "5120"),  # three decimals at both
        (Money.of(5, "ISK"), "500"),  # ISO: no minor unit; Stripe: hundredths
        (Money.of(1000, "MGA"), "10"),  # ISO: two decimals; Stripe: whole ariary
    ],
)
def test_amounts_are_sent_as_integers_in_stripes_unit(
    gateway: StripeGateway, http: RecordedStripe, amount: Money, sent: str
) -> None:
    answer = payment_intent("requires_capture", amount=int(sent), currency=amount.currency.code.lower())
    http.script((200, answer))

    result = gateway.authorize(
        idempotency_key="k", amount=amount, payment_method="pm_card_visa", reference=REFERENCE
    )

    assert result == GatewayApproved(STRIPE_PI)
    assert http.sent[0].form["amount"] == sent
    assert http.sent[0].form["currency"] == amount.currency.code.lower()


def test_an_amount_stripe_cannot_express_is_refused_before_any_request(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    with pytest.raises(InvalidRequest, match="whole units"):
        gateway.authorize(
            idempotency_key="k", amount=Money.of(1050, "MGA"), payment_method="pm_x", reference=REFERENCE
        )
    assert http.sent == []


def test_the_secret_is_read_on_each_request(gateway: StripeGateway, http: RecordedStripe, keys: Keys) -> None:
    http.script((200, payment_intent("requires_capture")), (200, payment_intent("requires_capture")))
    authorize(gateway)
    keys.current = "sk_test_rotated"
    authorize(gateway, key="again")

    assert [sent.headers["Authorization"] for sent in http.sent] == [
        "Bearer sk_test_first",
        "Bearer sk_test_rotated",
    ]


def test_building_the_gateway_reads_no_secret(keys: Keys, http: RecordedStripe) -> None:
    make(http, keys)
    assert keys.reads == 0


def test_a_challenge_carries_the_url_the_customer_follows(http: RecordedStripe, keys: Keys) -> None:
    gateway = make(http, keys, return_url="https://shop.test/back")
    http.script((200, challenge_by_redirect()))

    result = authorize(gateway)

    assert result == GatewayAuthenticationRequired(STRIPE_PI, next_action_url=REDIRECT)
    assert http.sent[0].form["return_url"] == "https://shop.test/back"


def test_a_challenge_for_stripe_js_has_no_url(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, challenge_by_sdk()))

    assert authorize(gateway) == GatewayAuthenticationRequired(STRIPE_PI, next_action_url=None)
    assert "return_url" not in http.sent[0].form


def test_a_payment_intent_left_without_a_payment_method_is_a_decline(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((200, failed_payment("insufficient_funds")))
    assert authorize(gateway) == GatewayDeclined(STRIPE_PI, "insufficient_funds")


def test_a_decline_without_a_decline_code_gives_the_error_code(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((200, failed_payment(None, code="expired_card")))
    assert authorize(gateway) == GatewayDeclined(STRIPE_PI, "expired_card")


def test_a_card_error_is_a_decline_of_the_payment_intent_it_names(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((402, card_error("insufficient_funds")))
    assert authorize(gateway) == GatewayDeclined(STRIPE_PI, "insufficient_funds")


def test_a_card_error_naming_only_the_charge_is_a_decline_of_that_charge(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    # localstripe's shape: no decline_code, no payment_intent, the charge's id.
    body = {"error": {"type": "invalid_request_error", "code": "card_declined", "charge": CHARGE}}
    http.script((402, body))
    assert authorize(gateway) == GatewayDeclined(CHARGE, "card_declined")


def test_a_card_error_naming_nothing_raises(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((402, {"error": {"type": "card_error", "code": "card_declined"}}))
    with pytest.raises(UnexpectedGatewayAnswer, match="without naming"):
        authorize(gateway)


@pytest.mark.parametrize("where", ["decline_code", "code"])
def test_authentication_required_is_a_challenge_not_a_decline(
    gateway: StripeGateway, http: RecordedStripe, where: str
) -> None:
    body = card_error("authentication_required" if where == "decline_code" else None)
    if where == "code":
        body["error"]["code"] = "authentication_required"
    http.script((402, body))
    assert authorize(gateway) == GatewayAuthenticationRequired(STRIPE_PI)


def test_a_failed_payment_asking_for_authentication_is_a_challenge(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((200, failed_payment("authentication_required")))
    assert authorize(gateway) == GatewayAuthenticationRequired(STRIPE_PI)


@pytest.mark.parametrize(
    "status", ["succeeded", "processing", "requires_confirmation", "canceled", "on_hold"]
)
def test_an_authorization_in_any_other_state_raises(
    gateway: StripeGateway, http: RecordedStripe, status: str
) -> None:
    http.script((200, payment_intent(status)))
    with pytest.raises(UnexpectedGatewayAnswer, match=repr(status)):
        authorize(gateway)


def test_a_hold_of_another_amount_raises(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, payment_intent("requires_capture", amount=999)))
    with pytest.raises(UnexpectedGatewayAnswer, match="not the"):
        authorize(gateway)


@pytest.mark.parametrize(
    "answer",
    [(200, {"object": "payment_intent", "status": "requires_capture"}), (200, b"<html>ok</html>")],
    ids=["no id", "not json"],
)
def test_an_answer_of_unknown_shape_raises(
    gateway: StripeGateway, http: RecordedStripe, answer: Answer
) -> None:
    http.script(answer)
    with pytest.raises(UnexpectedGatewayAnswer):
        authorize(gateway)


# --- after a 3-D Secure challenge -----------------------------------------------------------------


def test_after_a_challenge_the_answer_is_the_payment_intents_current_state(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    # Given the PaymentIntent that asked for the challenge is authorized now
    http.script((200, payment_intent("requires_capture")))

    # When the payment is authorized after the challenge, naming that PaymentIntent
    result = authorize(gateway, key=f"{REFERENCE}:authorize:3ds", passed=True, authentication=STRIPE_PI)

    # Then it is approved from one read of it: no search (its index lags), no list, nothing created
    assert result == GatewayApproved(STRIPE_PI)
    [read] = http.sent
    assert (read.method, read.path) == ("get", f"/v1/payment_intents/{STRIPE_PI}")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (challenge_by_sdk(), GatewayAuthenticationRequired(STRIPE_PI)),
        (challenge_by_redirect(), GatewayAuthenticationRequired(STRIPE_PI, next_action_url=REDIRECT)),
        (
            payment_intent(
                "requires_payment_method",
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_intent_authentication_failure",
                },
            ),
            GatewayDeclined(STRIPE_PI, "payment_intent_authentication_failure"),
        ),
        (
            payment_intent("canceled", cancellation_reason="abandoned"),
            GatewayDeclined(STRIPE_PI, "abandoned"),
        ),
    ],
    ids=["still waiting", "still waiting, by redirect", "failed", "canceled"],
)
def test_a_challenge_not_passed_at_stripe_is_not_an_approval(
    gateway: StripeGateway, http: RecordedStripe, now: dict[str, Any], expected: object
) -> None:
    http.script((200, now))
    assert authorize(gateway, passed=True, authentication=STRIPE_PI) == expected
    assert [(sent.method, sent.path) for sent in http.sent] == [("get", f"/v1/payment_intents/{STRIPE_PI}")]


@pytest.mark.parametrize(
    "metadata", [{"reference": "pi_someone_else"}, {}], ids=["another payment's", "another system's"]
)
def test_an_authentication_made_for_another_payment_is_refused(
    gateway: StripeGateway, http: RecordedStripe, metadata: dict[str, str]
) -> None:
    # Given the named PaymentIntent holds money, but not for this payment
    http.script((200, payment_intent("requires_capture", metadata=metadata)))
    # Then its hold is never taken for this payment's
    with pytest.raises(UnexpectedGatewayAnswer, match="not for pi_ours_01"):
        authorize(gateway, passed=True, authentication=STRIPE_PI)
    assert len(http.sent) == 1


def test_a_challenge_stripe_never_asked_for_makes_the_payment_intent_asking_for_3ds(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    # Given our fraud screen asked for the step-up: Stripe has not seen the payment
    http.script((200, payment_intent("requires_capture")))

    # When it is authorized after the challenge, naming no authentication of Stripe's
    result = authorize(gateway, key=f"{REFERENCE}:authorize:3ds", passed=True, authentication=None)

    # Then the PaymentIntent is made as any authorization's, asking Stripe to run 3-D Secure itself
    assert result == GatewayApproved(STRIPE_PI)
    [sent] = http.sent
    assert (sent.method, sent.path) == ("post", "/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == f"{REFERENCE}:authorize:3ds"
    assert sent.form == {
        "amount": "1000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "capture_method": "manual",
        "confirm": "true",
        "metadata[reference]": REFERENCE,
        "payment_method_options[card][request_three_d_secure]": "any",
    }


def test_stripes_own_challenge_after_ours_carries_its_url(http: RecordedStripe, keys: Keys) -> None:
    gateway = make(http, keys, return_url="https://shop.test/back")
    http.script((200, challenge_by_redirect()))

    result = authorize(gateway, key=f"{REFERENCE}:authorize:3ds", passed=True)

    # The customer is challenged by Stripe in turn; its PaymentIntent is the authentication to name next
    assert result == GatewayAuthenticationRequired(STRIPE_PI, next_action_url=REDIRECT)
    assert http.sent[0].form["payment_method_options[card][request_three_d_secure]"] == "any"
    assert http.sent[0].form["return_url"] == "https://shop.test/back"


def test_without_search_every_payment_intent_is_listed_page_by_page(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    not_found = invalid_request(None, "Not Found")  # localstripe: no search endpoint
    http.script(
        (404, not_found),
        (200, listed(other_intent("pi_a", "requires_capture", reference="pi_other"), has_more=True)),
        (200, listed(other_intent("pi_b", "requires_capture"))),
    )

    assert gateway.open_authorizations(reference=REFERENCE) == ["pi_b"]

    _, first, second = http.sent
    assert (first.path, first.form) == ("/v1/payment_intents", {"limit": "100"})
    assert second.form == {"limit": "100", "starting_after": "pi_a"}


def test_search_results_are_followed_page_by_page(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script(
        (200, search_result(other_intent("pi_a", "canceled"), next_page="page_2")),
        (200, search_result(other_intent("pi_b", "succeeded"))),
    )
    assert gateway.open_authorizations(reference=REFERENCE) == []
    assert http.sent[1].form["page"] == "page_2"


def test_open_authorizations_are_the_holds_still_open_now(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script(
        (
            200,
            search_result(
                other_intent("pi_held", "requires_capture"),
                other_intent("pi_voided", "canceled"),
                other_intent("pi_stale", "requires_capture"),
            ),
        ),
        (200, other_intent("pi_held", "requires_capture")),
        (200, other_intent("pi_stale", "succeeded")),  # captured since the index saw it
    )

    assert gateway.open_authorizations(reference=REFERENCE) == ["pi_held"]
    assert [sent.path for sent in http.sent[1:]] == [
        "/v1/payment_intents/pi_held",
        "/v1/payment_intents/pi_stale",
    ]


# --- capture, void, refund ------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1000, 600])
def test_a_capture_full_or_partial_names_the_captured_charge(
    gateway: StripeGateway, http: RecordedStripe, amount: int
) -> None:
    http.script((200, payment_intent("succeeded", amount_received=amount)))

    result = gateway.capture(
        idempotency_key=f"{REFERENCE}:capture", authorization_id=STRIPE_PI, amount=usd(amount)
    )

    assert result == GatewayApproved(CHARGE)
    [sent] = http.sent
    assert (sent.method, sent.path) == ("post", f"/v1/payment_intents/{STRIPE_PI}/capture")
    assert sent.form == {"amount_to_capture": str(amount)}
    assert sent.headers["Idempotency-Key"] == f"{REFERENCE}:capture"


def test_a_capture_answered_with_the_charge_object_names_it(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    # localstripe's shape: `latest_charge` is the charge itself, not its id.
    http.script((200, payment_intent("succeeded", latest_charge={"id": CHARGE, "object": "charge"})))
    assert gateway.capture(
        idempotency_key="k", authorization_id=STRIPE_PI, amount=usd(1000)
    ) == GatewayApproved(CHARGE)


@pytest.mark.parametrize(
    "answer",
    [payment_intent("requires_capture"), payment_intent("succeeded", latest_charge=None)],
    ids=["not captured", "no charge"],
)
def test_a_capture_answered_otherwise_raises(
    gateway: StripeGateway, http: RecordedStripe, answer: dict[str, Any]
) -> None:
    http.script((200, answer))
    with pytest.raises(UnexpectedGatewayAnswer):
        gateway.capture(idempotency_key="k", authorization_id=STRIPE_PI, amount=usd(1000))


def test_a_void_cancels_the_payment_intent(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, payment_intent("canceled", cancellation_reason=None)))

    assert gateway.void(idempotency_key=f"{REFERENCE}:void", authorization_id=STRIPE_PI) == GatewayApproved(
        STRIPE_PI
    )
    [sent] = http.sent
    assert (sent.method, sent.path, sent.form) == ("post", f"/v1/payment_intents/{STRIPE_PI}/cancel", {})
    assert sent.headers["Idempotency-Key"] == f"{REFERENCE}:void"


def test_a_void_answered_otherwise_raises(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, payment_intent("requires_capture")))
    with pytest.raises(UnexpectedGatewayAnswer, match="requires_capture"):
        gateway.void(idempotency_key="k", authorization_id=STRIPE_PI)


@pytest.mark.parametrize("status", ["succeeded", "pending"])
def test_a_refund_is_a_refund_of_the_payment_intent(
    gateway: StripeGateway, http: RecordedStripe, status: str
) -> None:
    http.script((200, refund(status)))

    result = gateway.refund(
        idempotency_key=f"{REFERENCE}:refund:2", authorization_id=STRIPE_PI, amount=usd(250)
    )

    assert result == GatewayApproved("re_3PqRsTLkdIwHu7ix0Refund1")
    [sent] = http.sent
    assert (sent.method, sent.path) == ("post", "/v1/refunds")
    assert sent.form == {"payment_intent": STRIPE_PI, "amount": "250"}
    assert sent.headers["Idempotency-Key"] == f"{REFERENCE}:refund:2"


@pytest.mark.parametrize("status", ["failed", "canceled", "requires_action"])
def test_a_refund_answered_otherwise_raises(
    gateway: StripeGateway, http: RecordedStripe, status: str
) -> None:
    http.script((200, refund(status)))
    with pytest.raises(UnexpectedGatewayAnswer, match=status):
        gateway.refund(idempotency_key="k", authorization_id=STRIPE_PI, amount=usd(250))


# --- what was captured ----------------------------------------------------------------------------


def test_captured_reads_the_amount_received(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, payment_intent("succeeded", amount_received=600)))
    assert gateway.captured(authorization_id=STRIPE_PI) == GatewayCapture(CHARGE, 600)
    assert (http.sent[0].method, http.sent[0].path) == ("get", f"/v1/payment_intents/{STRIPE_PI}")


def test_captured_in_stripes_unit_is_told_in_ours(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((200, payment_intent("succeeded", currency="isk", amount=700, amount_received=700)))
    assert gateway.captured(authorization_id=STRIPE_PI) == GatewayCapture(CHARGE, 7)


def test_captured_without_amount_received_reads_the_charge(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    # localstripe's shape: no amount_received; the charge embedded, the uncaptured rest of a partial
    # capture booked as a refund on the charge (no payment_intent), later refunds through the intent.
    charge = {
        "id": CHARGE,
        "object": "charge",
        "amount": 1000,
        "captured": True,
        "refunds": {
            "object": "list",
            "data": [
                {"id": "re_rest", "amount": 400, "payment_intent": None},
                {"id": "re_later", "amount": 100, "payment_intent": STRIPE_PI},
            ],
        },
    }
    intent = payment_intent("succeeded", latest_charge=charge)
    del intent["amount_received"]
    http.script((200, intent))

    assert gateway.captured(authorization_id=STRIPE_PI) == GatewayCapture(CHARGE, 600)


@pytest.mark.parametrize(
    "status", ["requires_capture", "canceled", "requires_action", "requires_payment_method"]
)
def test_nothing_captured(gateway: StripeGateway, http: RecordedStripe, status: str) -> None:
    http.script((200, payment_intent(status)))
    assert gateway.captured(authorization_id=STRIPE_PI) is None


@pytest.mark.parametrize(
    "intent",
    [payment_intent("processing"), payment_intent("succeeded", amount_received=0)],
    ids=["unknown state", "nothing received"],
)
def test_a_capture_described_otherwise_raises(
    gateway: StripeGateway, http: RecordedStripe, intent: dict[str, Any]
) -> None:
    http.script((200, intent))
    with pytest.raises(UnexpectedGatewayAnswer):
        gateway.captured(authorization_id=STRIPE_PI)


# --- refusals and failures ------------------------------------------------------------------------


def capture(gateway: StripeGateway, amount: int = 1000) -> GatewayApproved:
    return gateway.capture(idempotency_key="k-capture", authorization_id=STRIPE_PI, amount=usd(amount))


@pytest.mark.parametrize(
    "failure",
    [
        stripe.APIConnectionError("Read timed out.", should_retry=True),  # type: ignore[no-untyped-call]
        (500, {"error": {"type": "api_error", "message": "Something went wrong on Stripe's end."}}),
        (503, b"Service Unavailable"),
        (429, {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}}),
    ],
    ids=["connection", "500", "503 not json", "429"],
)
def test_no_answer_is_upstream_unavailable(
    gateway: StripeGateway, http: RecordedStripe, failure: Answer
) -> None:
    http.script(failure)
    with pytest.raises(UpstreamUnavailable) as raised:
        capture(gateway)
    assert raised.value.upstream == "gateway"
    assert not isinstance(raised.value, UnexpectedGatewayAnswer)  # retryable, not a fault
    assert not isinstance(raised.value, ProcessorUnreachable)


def test_the_sdk_retries_with_the_same_idempotency_key(http: RecordedStripe, keys: Keys) -> None:
    gateway = make(http, keys, max_retries=2)
    http.script(
        stripe.APIConnectionError("Connection reset", should_retry=True),  # type: ignore[no-untyped-call]
        (500, {"error": {"type": "api_error", "message": "oops"}}),
        (200, payment_intent("succeeded", amount_received=1000)),
    )

    assert capture(gateway) == GatewayApproved(CHARGE)
    assert [sent.headers["Idempotency-Key"] for sent in http.sent] == ["k-capture"] * 3


def test_retries_are_bounded(http: RecordedStripe, keys: Keys) -> None:
    gateway = make(http, keys, max_retries=1)
    http.script(*[(503, {"error": {"type": "api_error"}})] * 2)
    with pytest.raises(UpstreamUnavailable):
        capture(gateway)
    assert len(http.sent) == 2


# --- connection failures: which prove Stripe never received the request ----------------------------
#
# Each attempt's failure is built as the libraries raise it: urllib3's error inside requests' (with the
# MaxRetryError requests' adapter wraps a connection error in), then the SDK's APIConnectionError
# raised `from` it by the SDK's own requests client.

STRIPE_HOST = "api.stripe.test"


def _conn() -> HTTPSConnection:
    return HTTPSConnection(STRIPE_HOST, 443)


def _max_retries(reason: Exception) -> MaxRetryError:
    error = MaxRetryError(HTTPSConnectionPool(STRIPE_HOST, 443), "/v1/payment_intents", reason)
    error.__cause__ = reason
    return error


def refused() -> Exception:
    cause = ConnectionRefusedError(111, "Connection refused")
    reason = NewConnectionError(_conn(), f"Failed to establish a new connection: {cause}")
    reason.__cause__ = cause
    return requests.exceptions.ConnectionError(_max_retries(reason))


def unresolved() -> Exception:
    cause = socket.gaierror(-2, "Name or service not known")
    reason = NameResolutionError(STRIPE_HOST, _conn(), cause)
    reason.__cause__ = cause
    return requests.exceptions.ConnectionError(_max_retries(reason))


def connect_timed_out() -> Exception:
    reason = ConnectTimeoutError(_conn(), f"Connection to {STRIPE_HOST} timed out. (connect timeout=2.0)")
    return requests.exceptions.ConnectTimeout(_max_retries(reason))


def read_timed_out() -> Exception:
    pool = HTTPSConnectionPool(STRIPE_HOST, 443)
    return requests.exceptions.ReadTimeout(ReadTimeoutError(pool, None, "Read timed out. (read timeout=2.0)"))


def reset() -> Exception:
    aborted = ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    return requests.exceptions.ConnectionError(aborted)


def disconnected() -> Exception:
    cause = RemoteDisconnected("Remote end closed connection without response")
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", cause))


def bad_certificate() -> Exception:
    reason = SSLError(ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]"))
    return requests.exceptions.SSLError(_max_retries(reason))


def proxy_refused() -> Exception:
    return requests.exceptions.ProxyError(_max_retries(ProxyError("Unable to connect to proxy", refused())))


def sdk_error(cause: Exception) -> stripe.APIConnectionError:
    """The SDK's error for an attempt that met `cause`, made by the SDK's requests client."""
    with pytest.raises(stripe.APIConnectionError) as raised:
        stripe.RequestsClient(timeout=2.0)._handle_request_error(cause)
    assert raised.value.__cause__ is cause
    return raised.value


NEVER_CONNECTED: list[Callable[[], Exception]] = [refused, unresolved, connect_timed_out]
MAYBE_RECEIVED: list[Callable[[], Exception]] = [
    read_timed_out,
    reset,
    disconnected,
    bad_certificate,
    proxy_refused,
]


@pytest.mark.parametrize("failure", NEVER_CONNECTED, ids=lambda make: make.__name__)
def test_a_connection_never_made_on_every_attempt_is_processor_unreachable(
    http: RecordedStripe, keys: Keys, failure: Callable[[], Exception]
) -> None:
    gateway = make(http, keys, max_retries=2)
    http.script(*[sdk_error(failure()) for _ in range(3)])

    with pytest.raises(ProcessorUnreachable, match="never received the request") as raised:
        capture(gateway)

    assert raised.value.upstream == "gateway"
    assert "3 attempt(s)" in raised.value.message
    assert len(http.sent) == 3


@pytest.mark.parametrize("failure", MAYBE_RECEIVED, ids=lambda make: make.__name__)
def test_a_connection_error_that_may_follow_the_request_is_not_unreachable(
    gateway: StripeGateway, http: RecordedStripe, failure: Callable[[], Exception]
) -> None:
    http.script(sdk_error(failure()))
    with pytest.raises(UpstreamUnavailable) as raised:
        capture(gateway)
    assert not isinstance(raised.value, ProcessorUnreachable)


@pytest.mark.parametrize(
    "first",
    [
        lambda: sdk_error(read_timed_out()),
        lambda: sdk_error(reset()),
        lambda: (500, {"error": {"type": "api_error", "message": "oops"}}),
        lambda: (409, {"error": {"type": "invalid_request_error", "code": "lock_timeout"}}),
    ],
    ids=["read timeout", "reset", "500", "409"],
)
def test_refusals_after_an_attempt_that_may_have_arrived_are_not_unreachable(
    http: RecordedStripe, keys: Keys, first: Callable[[], Answer]
) -> None:
    # Given an attempt Stripe may have received, then the SDK's retries refused
    gateway = make(http, keys, max_retries=2)
    http.script(first(), sdk_error(refused()), sdk_error(refused()))
    # When the SDK gives up on its last, refused, attempt
    with pytest.raises(UpstreamUnavailable) as raised:
        capture(gateway)
    # Then the first attempt may have moved money: the payment may not go elsewhere
    assert not isinstance(raised.value, ProcessorUnreachable)
    assert len(http.sent) == 3


def test_refusals_then_an_answer_is_the_answer(http: RecordedStripe, keys: Keys) -> None:
    gateway = make(http, keys, max_retries=2)
    http.script(
        sdk_error(refused()),
        sdk_error(unresolved()),
        (200, payment_intent("succeeded", amount_received=1000)),
    )
    assert capture(gateway) == GatewayApproved(CHARGE)


@pytest.mark.parametrize(
    "answered",
    [
        search_result(other_intent("pi_a", "canceled"), next_page="page_2"),  # then the next page
        search_result(other_intent("pi_a", "requires_capture")),  # then the hit, read again
    ],
    ids=["next page", "re-read"],
)
def test_a_request_of_the_call_that_reached_stripe_counts_for_the_whole_call(
    gateway: StripeGateway, http: RecordedStripe, answered: dict[str, Any]
) -> None:
    # Given a call whose first request Stripe answered and whose next one was refused
    http.script((200, answered), sdk_error(refused()))
    with pytest.raises(UpstreamUnavailable) as raised:
        gateway.open_authorizations(reference=REFERENCE)
    # Then the call reached Stripe: not unreachable
    assert not isinstance(raised.value, ProcessorUnreachable)
    assert len(http.sent) == 2


def test_each_call_is_judged_on_its_own_attempts(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((503, b"Service Unavailable"), sdk_error(refused()))
    with pytest.raises(UpstreamUnavailable) as first:
        capture(gateway)
    assert not isinstance(first.value, ProcessorUnreachable)
    with pytest.raises(ProcessorUnreachable):
        capture(gateway)


class PerThreadStripe(stripe.HTTPClient):
    """Answers each thread from its own script of steps; a step may wait before answering."""

    name = "per-thread"

    def __init__(self, scripts: dict[str, list[Callable[[], Answer]]]) -> None:
        super().__init__()
        self.scripts = {name: deque(steps) for name, steps in scripts.items()}

    def request(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, **_: Any
    ) -> tuple[str, int, Mapping[str, str]]:
        answer = self.scripts[threading.current_thread().name].popleft()()
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return json.dumps(body), status, {"Request-Id": "req_1", "Content-Type": "application/json"}

    def close(self) -> None:
        pass

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return 0.0


def test_threads_sharing_the_gateway_are_judged_on_their_own_attempts(keys: Keys) -> None:
    # Given thread A, whose first attempt may have reached Stripe and whose retry is refused only once
    # thread B, all of whose attempts are refused, ran its whole call in between
    a_attempted, b_done = threading.Event(), threading.Event()

    def after_b() -> Answer:
        a_attempted.set()
        assert b_done.wait(5)
        return sdk_error(refused())

    http = PerThreadStripe(
        {
            "a": [lambda: sdk_error(read_timed_out()), after_b],
            "b": [lambda: sdk_error(refused()), lambda: sdk_error(refused())],
        }
    )
    gateway = StripeGateway(api_key=keys, api_base=API, timeout_seconds=2.0, max_retries=1, http_client=http)
    outcomes: dict[str, BaseException] = {}

    def call(name: str) -> None:
        try:
            if name == "b":
                assert a_attempted.wait(5)
            capture(gateway)
        except BaseException as error:
            outcomes[name] = error
        finally:
            if name == "b":
                b_done.set()

    threads = [threading.Thread(target=call, args=(name,), name=name) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Then A may have reached Stripe and B provably did not, whatever the other did meanwhile
    assert type(outcomes["a"]) is UpstreamUnavailable
    assert type(outcomes["b"]) is ProcessorUnreachable


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, invalid_request("payment_intent_unexpected_state", "This PaymentIntent ..."), InvalidState),
        (
            400,
            invalid_request("amount_too_large", "amount_to_capture exceeds", "amount_to_capture"),
            InvalidState,
        ),
        (400, invalid_request("charge_already_refunded", "Charge has already been refunded."), InvalidState),
        (404, invalid_request("resource_missing", "No such payment_intent: 'pi_nope'", "intent"), NotFound),
        (404, invalid_request(None, "Not Found"), NotFound),  # localstripe: no code
        (400, invalid_request("parameter_invalid_integer", "Invalid integer", "amount"), InvalidRequest),
        (400, invalid_request(None, "Bad request"), InvalidRequest),  # localstripe: no code
        (
            400,
            {
                "error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used ...",
                }
            },
            ConcurrentUpdate,
        ),
        (
            409,
            {"error": {"type": "invalid_request_error", "code": "idempotency_key_in_use"}},
            ConcurrentUpdate,
        ),
        (402, card_error("expired_card"), CardDeclined),
    ],
    ids=[
        "unexpected state",
        "over capturable",
        "already refunded",
        "unknown intent",
        "unknown, no code",
        "bad parameter",
        "bad, no code",
        "key reused",
        "key in flight",
        "card error",
    ],
)
def test_refusals_of_a_movement(
    gateway: StripeGateway, http: RecordedStripe, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    http.script((status, body))
    with pytest.raises(error) as raised:
        capture(gateway)
    assert type(raised.value) is error
    code = body["error"].get("code")
    if code is not None and error is not CardDeclined:
        assert raised.value.details["gatewayCode"] == code  # type: ignore[attr-defined]


def test_a_card_error_on_a_refund_is_a_card_decline(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((402, card_error("expired_card")))
    with pytest.raises(CardDeclined) as raised:
        gateway.refund(idempotency_key="k", authorization_id=STRIPE_PI, amount=usd(100))
    assert raised.value.decline_code == "expired_card"


@pytest.mark.parametrize(
    "body",
    [
        invalid_request("resource_missing", "No such PaymentMethod: 'pm_nope'", "payment_method"),
        invalid_request("amount_too_small", "Amount must be at least $0.50 usd", "amount"),
    ],
    ids=["unknown payment method", "too small"],
)
def test_a_refused_authorization_is_an_invalid_request(
    gateway: StripeGateway, http: RecordedStripe, body: dict[str, Any]
) -> None:
    http.script((400, body))
    with pytest.raises(InvalidRequest) as raised:
        authorize(gateway)
    assert type(raised.value) is InvalidRequest
    assert raised.value.details["gatewayCode"] == body["error"]["code"]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_a_fault_that_never_shows_the_key(
    gateway: StripeGateway, http: RecordedStripe, keys: Keys, status: int
) -> None:
    message = f"Invalid API Key provided: {keys.current}"
    http.script((status, {"error": {"type": "invalid_request_error", "message": message}}))
    with pytest.raises(UnexpectedGatewayAnswer) as raised:
        authorize(gateway)
    assert keys.current not in str(raised.value)
    assert keys.current not in repr(raised.value.details)


def test_a_refused_read_is_a_fault(gateway: StripeGateway, http: RecordedStripe) -> None:
    http.script((404, invalid_request("resource_missing", "No such payment_intent", "intent")))
    with pytest.raises(UnexpectedGatewayAnswer):
        gateway.captured(authorization_id="pi_nope")


def test_a_refused_search_other_than_missing_is_not_read_as_no_search(
    gateway: StripeGateway, http: RecordedStripe
) -> None:
    http.script((400, invalid_request("search_query_invalid", "bad query")))
    with pytest.raises(UnexpectedGatewayAnswer):
        gateway.open_authorizations(reference=REFERENCE)
    assert len(http.sent) == 1  # no fallback to listing


# --- hygiene --------------------------------------------------------------------------------------


def test_the_sdk_logs_no_bodies(
    gateway: StripeGateway, http: RecordedStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http.script((200, payment_intent("requires_capture")))
    authorize(gateway)
    assert not [record for record in caplog.records if record.name.startswith("stripe")]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"api_base": "api.stripe.com"}, "http"),
        ({"timeout_seconds": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_settings_are_refused(arguments: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"api_key": lambda: "sk_test_x", "timeout_seconds": 1.0, "max_retries": 0}
    with pytest.raises(ValueError, match=message):
        StripeGateway(**{**settings, **arguments})


def test_the_sdk_is_imported_only_when_a_request_is_made() -> None:
    probe = (
        "import sys\n"
        "from payments.adapters.stripe_gateway import StripeGateway\n"
        "StripeGateway(api_key=lambda: 'sk_test_x', timeout_seconds=1.0, max_retries=0)\n"
        "assert 'stripe' not in sys.modules, sorted(m for m in sys.modules if m.startswith('stripe'))\n"
        "assert 'requests' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, timeout=60)  # noqa: S603


@pytest.fixture(autouse=True)
def _quiet_stripe_logger() -> Iterator[None]:
    """The adapter sets the SDK's logger once per process; leave it as found for other tests."""
    logger = logging.getLogger("stripe")
    level = logger.level
    yield
    logger.setLevel(level)
