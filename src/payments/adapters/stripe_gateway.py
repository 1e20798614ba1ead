"""Stripe behind the gateway port, through Stripe's official SDK.

One of our authorizations is one Stripe PaymentIntent, created and confirmed at once with
`capture_method=manual` (a hold), tagged `metadata.reference` with our payment intent id. A capture,
void or refund is a call on that PaymentIntent, each with the caller's Idempotency-Key, so a retried
call (ours, or the SDK's own network retry) gets Stripe's first answer back instead of moving money
twice.

3-D Secure: when Stripe answers a confirmation with `requires_action`, the PaymentIntent's id is the
authentication the customer completes; the caller keeps it and names it after the challenge, when the
outcome is read from that PaymentIntent (one read: Stripe's search, which lags writes by seconds, is
only for finding holds whose answer was lost). A challenge our own fraud screen asked for comes before
Stripe ever saw the payment: the PaymentIntent is made then, asking Stripe for 3-D Secure
(`request_three_d_secure=any`), so an approval is Stripe's outcome, never the caller's word; when the
issuer challenges, the customer is sent through Stripe's challenge in turn.

The `stripe` package is imported inside the methods only, on first use: it costs more to import than
boto3, and the authorize function's cold start must not pay for it unless a Stripe payment is moved.
Nor `requests`, which the SDK's client brings.

A connection error is `ProcessorUnreachable` (which lets a payment fail over to another processor) only
when Stripe provably never received the request: every HTTP attempt of the gateway call failed to
connect (refused, the name did not resolve, connecting timed out). The SDK retries inside one call, so
its final error says nothing of the attempts before it: the SDK's HTTP client (ours or the one passed
in) is wrapped so that each attempt is counted, per gateway call and thread, as one that may have
reached Stripe or not. Any other failure (a read timeout, a reset, an SSL error, an answer) may follow a
request Stripe received, and leaves the call a plain `UpstreamUnavailable`.

What is not Stripe's documented API but an emulator's (localstripe, which the local stack runs) is said
where it is handled; see tests/integration/test_stripe_gateway.py for every difference, proven.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from urllib3.exceptions import MaxRetryError

from payments.adapters.gateway_client import UnexpectedGatewayAnswer, connection_never_made
from payments.domain.errors import (
    CardDeclined,
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    PaymentsError,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.intents import Processor
from payments.domain.money import Currency, Money, currency
from payments.service.ports import (
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayCapture,
    GatewayDeclined,
    GatewayResult,
    PaymentGateway,
)

if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentCreateParams, PaymentIntentListParams, PaymentIntentSearchParams

DEFAULT_API_BASE: Final = "https://api.stripe.com"
PAGE_SIZE: Final = 100  # the most Stripe lists or searches in one page
_Answer = TypeVar("_Answer")  # what one HTTP attempt of the SDK returns

# Where Stripe's minor unit is not ISO 4217's (our Money's): ISK counts in hundredths at Stripe though
# it has no minor unit; Stripe charges MGA in whole ariary. Everything else is the ISO exponent.
_STRIPE_EXPONENTS: Final = {"ISK": 2, "MGA": 0}

# A PaymentIntent in these states can never hold money again; in any other, a search hit is re-read.
_SETTLED: Final = frozenset({"canceled", "succeeded"})
# States of a PaymentIntent that captured nothing (yet, or ever).
_UNCAPTURED: Final = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture", "canceled"}
)
# Refusals of a capture, void or refund that say the payment is not in a state (or has not the amount)
# to allow it: the sandbox's 409.
_STATE_CODES: Final = frozenset(
    {
        "payment_intent_unexpected_state",
        "amount_too_large",
        "charge_already_captured",
        "charge_already_refunded",
        "charge_expired_for_capture",
        "charge_not_refundable",
        "charge_disputed",
        "capture_charge_authorization_expired",
        "capture_unauthorized_payment",
    }
)
AUTHENTICATION_REQUIRED: Final = "authentication_required"


class _Call(Enum):
    """What was asked, which decides what a refusal means."""

    AUTHORIZE = "authorize"
    MOVEMENT = "movement"  # capture, void, refund
    READ = "read"


@dataclass
class _Attempts:
    """The HTTP attempts of one gateway call, whatever SDK requests and retries it took."""

    made: int = 0
    maybe_received: bool = False  # an attempt that got an answer, or failed in a way that proves nothing

    def never_received(self, error: stripe.APIConnectionError) -> bool:
        """Whether Stripe provably never received the call that ended in `error`."""
        return self.made > 0 and not self.maybe_received and _never_sent(error)


class _CallAttempts(threading.local):
    """The attempts of the gateway call each thread is in, for the SDK's HTTP client to count into."""

    current: _Attempts | None = None

    def note(self, *, maybe_received: bool) -> None:
        if self.current is not None:
            self.current.made += 1
            self.current.maybe_received = self.current.maybe_received or maybe_received


class StripeGateway(PaymentGateway):
    """`PaymentGateway` over Stripe's API; one instance is safe to share between threads.

    `api_key` is called on every request (the secret may rotate); `timeout_seconds` bounds each HTTP
    attempt; `max_retries` is the SDK's own retries of a failure that says nothing about the outcome
    (connection error, timeout, 409, 5xx), each with the same Idempotency-Key. `return_url` is where
    Stripe sends the customer back after a 3-D Secure challenge: with it, a challenge comes with the URL
    to send the customer to (`next_action_url`), and Stripe accepts a server-side confirmation of a
    PaymentIntent that may need a redirect; localstripe refuses the parameter, so leave it None there.
    `http_client` replaces the SDK's (requests-based) one, for tests.
    """

    processor: ClassVar[Processor] = Processor.STRIPE

    def __init__(
        self,
        *,
        api_key: Callable[[], str],
        api_base: str = DEFAULT_API_BASE,
        timeout_seconds: float,
        max_retries: int,
        return_url: str | None = None,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        if not api_base.startswith(("http://", "https://")):
            raise ValueError(f"the Stripe API base must be http(s)://..., got {api_base!r}")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self._api_key = api_key
        self._api_base = api_base.rstrip("/")
        self._timeout_seconds = timeout_seconds
        self._max_retries = max_retries
        self._return_url = return_url
        self._http_client = http_client
        self._client: stripe.StripeClient | None = None
        self._lock = threading.Lock()
        self._calls = _CallAttempts()

    # --- the port -------------------------------------------------------------------------------

    def authorize(
        self,
        *,
        idempotency_key: str,
        amount: Money,
        payment_method: str,
        reference: str,
        three_d_secure_passed: bool = False,
        authentication: str | None = None,
    ) -> GatewayResult:
        if three_d_secure_passed and authentication is not None:
            # The challenge's outcome is Stripe's to tell, never the caller's: the PaymentIntent that
            # asked for it, as it is now.
            return self._after_challenge(authentication, reference, amount)
        import stripe  # noqa: PLC0415 (on first use only: see the module's docstring)

        params: PaymentIntentCreateParams = {
            "amount": _stripe_amount(amount),
            "currency": amount.currency.code.lower(),
            "payment_method": payment_method,
            "capture_method": "manual",
            "confirm": True,
            "metadata": {"reference": reference},
        }
        if self._return_url is not None:
            params["return_url"] = self._return_url
        if three_d_secure_passed:
            # Our fraud screen asked for the step-up before Stripe saw the payment: a challenge Stripe
            # did not run proves nothing to it, so it is asked to run 3-D Secure itself.
            params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        with self._translating(_Call.AUTHORIZE):
            try:
                answer = self._stripe().v1.payment_intents.create(params, self._options(idempotency_key))
            except stripe.CardError as error:
                return _declined_by_error(error)
        return _authorization(answer.to_dict(), amount, after_challenge=False)

    def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        with self._translating(_Call.MOVEMENT):
            answer = self._stripe().v1.payment_intents.capture(
                authorization_id,
                {"amount_to_capture": _stripe_amount(amount)},
                self._options(idempotency_key),
            )
        intent = answer.to_dict()
        if intent.get("status") != "succeeded":
            raise UnexpectedGatewayAnswer(
                f"Stripe answered a capture of {authorization_id} with status {intent.get('status')!r}"
            )
        # A capture is no object of its own at Stripe: it captures the PaymentIntent's charge, whose id
        # is what Stripe's balance transactions and payouts (our settlement) name the money by.
        return GatewayApproved(_charge_id(intent))

    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved:
        with self._translating(_Call.MOVEMENT):
            answer = self._stripe().v1.payment_intents.cancel(
                authorization_id, None, self._options(idempotency_key)
            )
        intent = answer.to_dict()
        if intent.get("status") != "canceled":
            raise UnexpectedGatewayAnswer(
                f"Stripe answered a void of {authorization_id} with status {intent.get('status')!r}"
            )
        # Canceling releases the hold and makes nothing new: the canceled PaymentIntent is the void.
        return GatewayApproved(_text(intent, "id"))

    def refund(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        with self._translating(_Call.MOVEMENT):
            answer = self._stripe().v1.refunds.create(
                {"payment_intent": authorization_id, "amount": _stripe_amount(amount)},
                self._options(idempotency_key),
            )
        refund = answer.to_dict()
        # `pending` is a refund Stripe accepted and is sending to the card network (it ends succeeded,
        # or failed with a refund.failed event): accepted, as the sandbox's approved refund is.
        if refund.get("status") not in {"succeeded", "pending"}:
            raise UnexpectedGatewayAnswer(
                f"Stripe answered a refund of {authorization_id} with status {refund.get('status')!r}"
            )
        return GatewayApproved(_text(refund, "id"))

    def captured(self, *, authorization_id: str) -> GatewayCapture | None:
        intent = self._retrieve(authorization_id)
        status = intent.get("status")
        if status in _UNCAPTURED:
            return None
        if status != "succeeded":
            raise UnexpectedGatewayAnswer(f"Stripe described {authorization_id} with status {status!r}")
        currency = _currency_of(intent)
        return GatewayCapture(_charge_id(intent), _our_amount(_captured_amount(intent), currency))

    def open_authorizations(self, *, reference: str) -> list[str]:
        return [
            _text(intent, "id")
            for intent in self._intents_for(reference)
            if intent.get("status") == "requires_capture"
        ]

    # --- lookups --------------------------------------------------------------------------------

    def reference_of(self, payment_intent_id: str) -> str | None:
        """Our payment intent id the PaymentIntent was made for (its `metadata.reference`); None when
        Stripe has no such PaymentIntent or it names none (one another system made on the account)."""
        import stripe  # noqa: PLC0415

        with self._translating(_Call.READ):
            try:
                answer = self._stripe().v1.payment_intents.retrieve(payment_intent_id, None, self._options())
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise
                return None
        return _reference(answer.to_dict())

    def _after_challenge(self, authentication: str, reference: str, amount: Money) -> GatewayResult:
        """The PaymentIntent that asked for the challenge, read by its id; one made for another payment
        is refused, whoever named it."""
        intent = self._retrieve(authentication)
        made_for = _reference(intent)
        if made_for != reference:
            raise UnexpectedGatewayAnswer(
                f"Stripe's {authentication} was made for {made_for or 'no payment of ours'}, "
                f"not for {reference}: its authentication is not this payment's"
            )
        return _authorization(intent, amount, after_challenge=True)

    def _intents_for(self, reference: str) -> list[dict[str, Any]]:
        """Every PaymentIntent made for `reference`, as it is now. Stripe's search finds them by
        metadata, but its index lags writes, so a hit in a state that may still change is read again.
        Where search is not offered (localstripe answers 404: it has no search endpoint) every
        PaymentIntent is listed and filtered here, which is exact but reads them all."""
        import stripe  # noqa: PLC0415

        with self._translating(_Call.READ):
            try:
                found = self._search(reference)
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise
                return self._listed(reference)
            return [
                intent if intent.get("status") in _SETTLED else self._retrieve(_text(intent, "id"))
                for intent in found
            ]

    def _search(self, reference: str) -> list[dict[str, Any]]:
        escaped = reference.replace("\\", "\\\\").replace("'", "\\'")
        params: PaymentIntentSearchParams = {
            "query": f"metadata['reference']:'{escaped}'",
            "limit": PAGE_SIZE,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._stripe().v1.payment_intents.search(params, self._options()).to_dict()
            found += _for_reference(_page_items(page), reference)
            next_page = page.get("next_page")
            if not page.get("has_more") or not isinstance(next_page, str):
                return found
            params["page"] = next_page

    def _listed(self, reference: str) -> list[dict[str, Any]]:
        params: PaymentIntentListParams = {"limit": PAGE_SIZE}
        found: list[dict[str, Any]] = []
        while True:
            page = self._stripe().v1.payment_intents.list(params, self._options()).to_dict()
            items = _page_items(page)
            found += _for_reference(items, reference)
            if not page.get("has_more") or not items:
                return found
            params["starting_after"] = _text(items[-1], "id")

    def _retrieve(self, payment_intent_id: str) -> dict[str, Any]:
        with self._translating(_Call.READ):
            answer = self._stripe().v1.payment_intents.retrieve(payment_intent_id, None, self._options())
        intent = answer.to_dict()
        _text(intent, "id")
        return intent

    # --- the SDK --------------------------------------------------------------------------------

    def _stripe(self) -> stripe.StripeClient:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                import stripe  # noqa: PLC0415

                # The SDK logs request and response bodies at DEBUG and INFO; payment details stay out
                # of our logs whatever level the function runs at.
                logging.getLogger("stripe").setLevel(logging.WARNING)
                self._client = stripe.StripeClient(
                    self._api_key(),
                    base_addresses={"api": self._api_base},
                    max_network_retries=self._max_retries,
                    http_client=_counting(
                        self._http_client or stripe.RequestsClient(timeout=self._timeout_seconds),
                        self._calls,
                    ),
                )
            return self._client

    @contextmanager
    def _translating(self, call: _Call) -> Iterator[None]:
        """Stripe's errors as the domain's (as the sandbox gateway's HTTP refusals map in gateway_client).
        The HTTP attempts made inside count toward one gateway call; a nested block joins its call."""
        import stripe  # noqa: PLC0415

        outer = self._calls.current
        attempts = outer if outer is not None else _Attempts()
        self._calls.current = attempts
        try:
            yield
        except stripe.StripeError as error:
            raise _translated(error, call, attempts) from error
        finally:
            self._calls.current = outer

    def _options(self, idempotency_key: str | None = None) -> stripe.RequestOptions:
        options: stripe.RequestOptions = {"api_key": self._api_key()}  # read on each use: it may rotate
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        return options


# --- answers --------------------------------------------------------------------------------------


def _authorization(intent: dict[str, Any], amount: Money, *, after_challenge: bool) -> GatewayResult:
    """A PaymentIntent as the result of an authorization; any state an authorization cannot be in
    raises. `after_challenge`: read after a 3-D Secure challenge, when a canceled one is a decline."""
    reference = _text(intent, "id")
    status = intent.get("status")
    if status == "requires_capture":
        if intent.get("amount") != _stripe_amount(amount) or intent.get("currency") != (
            amount.currency.code.lower()
        ):
            raise UnexpectedGatewayAnswer(
                f"Stripe holds {intent.get('amount')!r} {intent.get('currency')!r} on {reference}, "
                f"not the {amount} asked for"
            )
        return GatewayApproved(reference)
    if status == "requires_action":
        return GatewayAuthenticationRequired(reference, next_action_url=_redirect_url(intent))
    if status == "requires_payment_method":
        error = intent.get("last_payment_error")
        return _declined(reference, error if isinstance(error, dict) else {}, intent)
    if status == "canceled" and after_challenge:
        reason = intent.get("cancellation_reason")
        return GatewayDeclined(reference, reason if isinstance(reason, str) and reason else "canceled")
    raise UnexpectedGatewayAnswer(f"Stripe answered an authorization with status {status!r} ({reference})")


def _declined_by_error(error: stripe.CardError) -> GatewayResult:
    """A card error on confirmation: Stripe's decline, with the PaymentIntent it left behind (which
    localstripe leaves out: it names the charge instead)."""
    body = _error_body(error)
    intent = body.get("payment_intent")
    if isinstance(intent, dict) and isinstance(intent.get("id"), str) and intent["id"]:
        return _declined(intent["id"], body, intent)
    charge = body.get("charge")
    if isinstance(charge, str) and charge:
        return _declined(charge, body, {})
    raise UnexpectedGatewayAnswer("Stripe declined the card without naming the payment it declined")


def _declined(reference: str, error: dict[str, Any], intent: dict[str, Any]) -> GatewayResult:
    """The decline a card error describes, unless what it asks for is the customer's authentication."""
    decline_code, code = error.get("decline_code"), error.get("code")
    if AUTHENTICATION_REQUIRED in (decline_code, code):
        return GatewayAuthenticationRequired(reference, next_action_url=_redirect_url(intent))
    reason = decline_code or code or "generic_decline"  # a decline that gives no reason is still one
    if not isinstance(reason, str):
        raise UnexpectedGatewayAnswer(f"Stripe declined with decline_code={decline_code!r}, code={code!r}")
    return GatewayDeclined(reference, reason)


def _redirect_url(intent: dict[str, Any]) -> str | None:
    """Where the customer completes the challenge, when Stripe gives a URL (it does when the
    confirmation carried a return_url; otherwise the action is for Stripe.js: `use_stripe_sdk`)."""
    action = intent.get("next_action")
    redirect = action.get("redirect_to_url") if isinstance(action, dict) else None
    url = redirect.get("url") if isinstance(redirect, dict) else None
    return url if isinstance(url, str) and url else None


def _charge_id(intent: dict[str, Any]) -> str:
    """The PaymentIntent's charge: an id at Stripe, the whole charge object at localstripe."""
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        charge = charge.get("id")
    if not isinstance(charge, str) or not charge:
        raise UnexpectedGatewayAnswer(f"Stripe named no charge for {intent.get('id')!r}")
    return charge


def _captured_amount(intent: dict[str, Any]) -> int:
    """What a succeeded PaymentIntent captured, in Stripe's units: `amount_received` at Stripe. Without
    it (localstripe has neither it nor the charge's `amount_captured`), the charge's amount less the
    refund localstripe books for the uncaptured rest of a partial capture, the one refund made on the
    charge rather than through the PaymentIntent."""
    received = intent.get("amount_received")
    if received is None:
        charge = intent.get("latest_charge")
        if not isinstance(charge, dict):
            raise UnexpectedGatewayAnswer(f"Stripe told no captured amount for {intent.get('id')!r}")
        received = charge.get("amount_captured")
        if received is None:
            refunds = charge.get("refunds")
            listed = refunds.get("data") if isinstance(refunds, dict) else None
            if type(charge.get("amount")) is not int or not isinstance(listed, list):
                raise UnexpectedGatewayAnswer(f"Stripe told no captured amount for {intent.get('id')!r}")
            uncaptured = [
                refund.get("amount")
                for refund in listed
                if isinstance(refund, dict) and refund.get("payment_intent") is None
            ]
            if not all(type(part) is int for part in uncaptured):
                raise UnexpectedGatewayAnswer(
                    f"Stripe listed a refund of {intent.get('id')!r} without amount"
                )
            received = charge["amount"] - sum(part for part in uncaptured if isinstance(part, int))
    if type(received) is not int or received <= 0:
        raise UnexpectedGatewayAnswer(
            f"Stripe told a captured amount of {received!r} for {intent.get('id')!r}"
        )
    return received


def _page_items(page: dict[str, Any]) -> list[dict[str, Any]]:
    items = page.get("data")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise UnexpectedGatewayAnswer("Stripe answered a list or search without its data")
    return items


def _for_reference(intents: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    found = []
    for intent in intents:
        metadata = intent.get("metadata")
        if isinstance(metadata, dict) and metadata.get("reference") == reference:
            _text(intent, "id")
            found.append(intent)
    return found


def _reference(intent: dict[str, Any]) -> str | None:
    """Our payment intent id a PaymentIntent was made for (its `metadata.reference`), if any."""
    metadata = intent.get("metadata")
    reference = metadata.get("reference") if isinstance(metadata, dict) else None
    return reference if isinstance(reference, str) and reference else None


def _text(answer: dict[str, Any], field: str) -> str:
    value = answer.get(field)
    if not isinstance(value, str) or not value:
        raise UnexpectedGatewayAnswer(f"Stripe answered without a {field} ({field}={value!r})")
    return value


def _currency_of(intent: dict[str, Any]) -> Currency:
    code = intent.get("currency")
    try:
        return currency(code.upper() if isinstance(code, str) else code)
    except InvalidRequest:
        raise UnexpectedGatewayAnswer(f"Stripe answered in an unknown currency {code!r}") from None


# --- money ----------------------------------------------------------------------------------------


def _stripe_amount(amount: Money) -> int:
    """Our minor units in Stripe's (an int, always: Stripe's API takes no fractions)."""
    shift = _STRIPE_EXPONENTS.get(amount.currency.code, amount.currency.exponent) - amount.currency.exponent
    factor: int = 10 ** abs(shift)
    if shift >= 0:
        return amount.amount * factor
    whole, rest = divmod(amount.amount, factor)
    if rest:
        raise InvalidRequest(f"Stripe charges {amount.currency.code} in whole units only; {amount} is not")
    return whole


def _our_amount(units: int, currency: Currency) -> int:
    shift = _STRIPE_EXPONENTS.get(currency.code, currency.exponent) - currency.exponent
    factor: int = 10 ** abs(shift)
    if shift <= 0:
        return units * factor
    whole, rest = divmod(units, factor)
    if rest:
        raise UnexpectedGatewayAnswer(f"Stripe told {units} of {currency.code}, a fraction of its unit")
    return whole


# --- refusals -------------------------------------------------------------------------------------


def _translated(  # noqa: PLR0911 (one per kind)
    error: stripe.StripeError, call: _Call, attempts: _Attempts
) -> PaymentsError:
    import stripe  # noqa: PLC0415

    body = _error_body(error)
    code = error.code or body.get("code")
    message = f"Stripe refused the request: {body.get('message') or type(error).__name__}"
    if isinstance(error, stripe.APIConnectionError) and attempts.never_received(error):
        return ProcessorUnreachable(
            f"Stripe never received the request: none of {attempts.made} attempt(s) could connect "
            f"({type(error.__cause__).__name__})",
            upstream="gateway",
        )
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return UpstreamUnavailable(f"Stripe did not answer ({type(error).__name__})", upstream="gateway")
    if isinstance(error, stripe.IdempotencyError):
        # Our key with another request: a concurrent, different movement of the same payment, as the
        # sandbox's 422; the caller's retry (or its read of what happened) resolves it.
        return ConcurrentUpdate(message, gatewayCode=code)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        # Our credentials, not the payment: a fault to alarm on, never retried (nor its text kept).
        return UnexpectedGatewayAnswer(f"Stripe refused our API key ({type(error).__name__})")
    if isinstance(error, stripe.CardError) and call is _Call.MOVEMENT:
        reason = body.get("decline_code") or code
        return CardDeclined(reason if isinstance(reason, str) and reason else "generic_decline")
    if isinstance(error, stripe.InvalidRequestError) and call is not _Call.READ:
        return _refusal(error, call, message)
    status = error.http_status
    if isinstance(error, stripe.APIError) and (status is None or status >= 500):
        return UpstreamUnavailable(f"Stripe failed to answer (HTTP {status})", upstream="gateway")
    if isinstance(error, stripe.APIError) and status == 409:  # a request with our key still in flight
        return ConcurrentUpdate(message, gatewayCode=code)
    return UnexpectedGatewayAnswer(f"Stripe answered unexpectedly: {type(error).__name__} (HTTP {status})")


def _refusal(error: stripe.InvalidRequestError, call: _Call, message: str) -> PaymentsError:
    code = error.code
    if call is _Call.AUTHORIZE:
        # The only things an authorization names are the merchant's: an unknown payment method is a
        # bad request, as the sandbox's unknown test payment method is.
        return InvalidRequest(message, gatewayCode=code)
    if code == "resource_missing" or error.http_status == 404:
        return NotFound(message, gatewayCode=code)
    if code in _STATE_CODES:
        return InvalidState(message, gatewayCode=code)
    return InvalidRequest(message, gatewayCode=code)


def _error_body(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body.get("error") if isinstance(error.json_body, dict) else None
    return body if isinstance(body, dict) else {}


# --- attempts -------------------------------------------------------------------------------------


def _counting(inner: stripe.HTTPClient, calls: _CallAttempts) -> stripe.HTTPClient:
    """`inner`, each of whose HTTP attempts is counted into the calling thread's gateway call. The SDK's
    retry loop (its base class's) runs here and asks `inner` whether and when to retry, so every attempt
    passes through `request`. The class is made here because its base is the SDK's, imported lazily."""
    import stripe  # noqa: PLC0415

    def counted(attempt: Callable[[], _Answer]) -> _Answer:
        maybe_received = True  # unless its failure proves otherwise
        try:
            return attempt()
        except stripe.APIConnectionError as error:
            maybe_received = not _never_sent(error)
            raise
        finally:
            calls.note(maybe_received=maybe_received)

    class Counting(stripe.HTTPClient):
        name = inner.name

        def request(
            self,
            method: str,
            url: str,
            headers: Mapping[str, str] | None,
            post_data: Any = None,
            *,
            _usage: list[str] | None = None,
        ) -> tuple[str, int, Mapping[str, str]]:
            return counted(lambda: inner.request(method, url, headers, post_data))

        def request_stream(
            self,
            method: str,
            url: str,
            headers: Mapping[str, str] | None,
            post_data: Any = None,
            *,
            _usage: list[str] | None = None,
        ) -> tuple[Any, int, Mapping[str, str]]:
            return counted(lambda: inner.request_stream(method, url, headers, post_data))

        def _should_retry(
            self,
            response: tuple[Any, int, Mapping[str, str] | None] | None,
            api_connection_error: stripe.APIConnectionError | None,
            num_retries: int,
            max_network_retries: int | None,
        ) -> bool:
            return bool(inner._should_retry(response, api_connection_error, num_retries, max_network_retries))

        def _sleep_time_seconds(self, num_retries: int) -> float:
            return inner._sleep_time_seconds(num_retries)

        def close(self) -> None:
            inner.close()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated

    return Counting()


def _never_sent(error: stripe.APIConnectionError) -> bool:
    """Whether the SDK's connection error proves this attempt's request never left. The SDK's client
    raises it from requests' exception, which holds urllib3's: a refused connection or a name that did
    not resolve is a ConnectionError around MaxRetryError(reason=NewConnectionError or
    NameResolutionError), a connection never made a ConnectTimeout. requests' SSLError and ProxyError
    are ConnectionErrors too, and one around "Connection aborted" (a reset, RemoteDisconnected) may come
    after the request was sent: none of them prove it. The MaxRetryError is the attempt's only try:
    requests' default adapter never retries (`Retry(0, read=False)`); a session mounted with retries of
    its own would hide its earlier tries from this count."""
    cause = error.__cause__
    if connection_never_made(cause):  # a client that raises urllib3's error as it is
        return True
    import requests  # noqa: PLC0415 (on a connection error only; the SDK's client has imported it)

    if isinstance(cause, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
        wrapped = cause.args[0]
        return connection_never_made(wrapped.reason if isinstance(wrapped, MaxRetryError) else wrapped)
    return False
