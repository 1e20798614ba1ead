"""The synchronous authorize path (payments-authorize): fraud check, gateway authorization, one write.

Why it cannot charge twice: the gateway call carries an idempotency key derived from the intent, so a
retry or a concurrent duplicate gets the same authorization back; the intent is then written only if
its `version` is still the one we read, together with the transaction record, in one atomic write.

Why failover cannot authorize twice: a payment with fallback processors counts, in the intent and
before sending, every request to authorize it at its processor (`count_authorization_send`). It moves
to the next processor only when the processor refused the connection on every attempt
(`ProcessorUnreachable`: no byte of the request left) and the intent's version is still the one that
counted this request alone, so no other request, not even one that crashed after sending, may have
reached that processor. Any other failure (a timeout after sending, a lost answer) leaves the payment
where it is, to be resolved there with the same key.

A 3-D Secure challenge the processor asks for is kept on the intent (the processor's reference of the
authentication, and the URL the customer follows) before the caller hears of it: the authorization
after the challenge names that authentication, so the processor reads its outcome where it is instead
of looking for it. A step-up our fraud screen asked for names none: the processor never saw the payment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import assert_never

from payments.domain.errors import (
    AuthenticationRequired,
    CardDeclined,
    ConcurrentUpdate,
    FraudSuspected,
    InvalidState,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.fraud import Decision, FraudSignals
from payments.domain.intents import CaptureMethod, PaymentIntent, Status, TransactionKind
from payments.service.intents import Clock, made_by_request
from payments.service.ports import (
    FraudScreen,
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayDeclined,
    GatewayResult,
    GatewayRouting,
    IntentRepository,
    PaymentGateway,
)

# How often a write that only counts a request is tried again when another request wrote first.
COUNT_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class AuthorizeIntent:
    payment_intent_id: str
    device_fingerprint: str | None = None
    ip_address: str | None = None
    three_d_secure_passed: bool = False
    # The checkout workflow authorizes only: a capture inside its parallel step could not be undone
    # by its compensation (a void), so automatic capture there waits until the workflow succeeds.
    capture_if_automatic: bool = True
    # Who asks (the Idempotency-Key; the workflow's tracking id): the same request retried after a
    # crash finds the outcome it recorded and answers it again, instead of "not PENDING".
    request_id: str | None = None


def authorize_intent(
    command: AuthorizeIntent,
    *,
    intents: IntentRepository,
    fraud: FraudScreen | None,
    gateway: GatewayRouting,
    clock: Clock,
) -> PaymentIntent:
    """`fraud` is None where the caller screened the attempt already (the checkout workflow's own
    FraudCheck state)."""
    intent = intents.get(command.payment_intent_id, consistent=True)
    if made_by_request(intent, TransactionKind.AUTHORIZATION, command.request_id, intents=intents):
        return _outcome_again(intent)
    now = clock()
    if intent.status is Status.PENDING and intent.is_expired(now):
        _expire(intent, intents, clock)
    intent.ensure_authorizable(now)

    if fraud is not None and not command.three_d_secure_passed:
        _screen(intent, command, fraud, intents, clock)

    intent, processor, result = _send_authorization(intent, command, intents, gateway, clock)
    # Every answer the gateway can give is handled here; a new one is a mypy error (assert_never).
    match result:
        case GatewayAuthenticationRequired():
            _await_authentication(intent, result, intents=intents, clock=clock)
            raise AuthenticationRequired("the issuer requires 3-D Secure authentication")
        case GatewayDeclined(reference=reference, decline_code=decline_code):

            def declined(target: PaymentIntent) -> None:
                target.decline(
                    decline_code=decline_code,
                    now=clock(),
                    gateway_reference=reference,
                    request_id=command.request_id,
                )

            declined(intent)
            _save_or_explain(intent, intents, same_authorization=None, again=declined)
            raise CardDeclined(decline_code)
        case GatewayApproved(reference=authorization_id):
            return _record_authorization(
                intent, authorization_id, command=command, intents=intents, gateway=processor, clock=clock
            )
        case _:
            assert_never(result)


def _send_authorization(
    intent: PaymentIntent,
    command: AuthorizeIntent,
    intents: IntentRepository,
    gateway: GatewayRouting,
    clock: Clock,
) -> tuple[PaymentIntent, PaymentGateway, GatewayResult]:
    """The processor's answer, from the payment's processor or, where that one provably never received
    the request, from its fallbacks in turn (each tried at most once by one request). A payment without
    fallbacks, or past a 3-D Secure challenge (the authentication is its processor's), goes nowhere else
    and costs no extra write. Returns the intent as saved, the gateway that answered, and the answer."""
    counting = bool(intent.fallback_processors) and not command.three_d_secure_passed
    hops = len(intent.fallback_processors)
    if counting:
        intent = _counted(intent, intents, clock)
    while True:
        processor = gateway.for_payment(intent)
        try:
            return (
                intent,
                processor,
                processor.authorize(
                    # After a passed 3-D Secure challenge it is a new request, with its own key.
                    idempotency_key=f"{intent.payment_intent_id}:authorize"
                    + (":3ds" if command.three_d_secure_passed else ""),
                    amount=intent.amount,
                    payment_method=intent.payment_method,
                    reference=intent.payment_intent_id,
                    three_d_secure_passed=command.three_d_secure_passed,
                    # The processor's own authentication, where it asked for one (None: our screen did).
                    authentication=(
                        intent.authentication_reference if command.three_d_secure_passed else None
                    ),
                ),
            )
        except ProcessorUnreachable:
            moved = _failed_over(intent, intents, clock, last=hops == 0) if counting else None
            if moved is None:
                raise
            hops -= 1
            intent = moved


def _counted(intent: PaymentIntent, intents: IntentRepository, clock: Clock) -> PaymentIntent:
    """The intent saved with this request counted as sent to its processor (before it is sent)."""
    for _ in range(COUNT_ATTEMPTS):
        intent.count_authorization_send(clock())
        try:
            return intents.save(intent)
        except ConcurrentUpdate:  # another request counted or moved it first: count on what it wrote
            intent = intents.get(intent.payment_intent_id, consistent=True)
    raise ConcurrentUpdate("the payment is being authorized by other requests at the same time")


def _failed_over(
    intent: PaymentIntent, intents: IntentRepository, clock: Clock, *, last: bool
) -> PaymentIntent | None:
    """After `intent.processor` refused this request's connection: the intent moved to its next
    processor and saved, or None where it must stay (another request was counted or wrote since ours,
    or every processor was tried). Staying after the last, the refused send is uncounted so a later
    request may fail over again; where that write loses a race, the count stays (the safe side)."""
    moved = replace(intent, new_transactions=[])
    try:
        if last:
            moved.uncount_authorization_send(clock())
            intents.save(moved)
            return None
        moved.fail_over(clock())
        return intents.save(moved)
    except (ConcurrentUpdate, InvalidState):
        return None


def _await_authentication(
    intent: PaymentIntent,
    challenge: GatewayAuthenticationRequired,
    *,
    intents: IntentRepository,
    clock: Clock,
) -> None:
    """Keep the processor's authentication on the payment before the customer is sent to it: the
    authorization after the challenge names it (one read at the processor, where a search lags), and
    the checkout shows the customer where to complete it. Unchanged (asked again, as before): no write.
    A request that only counted its send meanwhile gets it recorded on what it wrote; a payment that
    moved on raises as any conflict does."""
    if (intent.authentication_reference, intent.authentication_url) == (
        challenge.reference,
        challenge.next_action_url,
    ):
        return

    def awaiting(target: PaymentIntent) -> None:
        target.await_authentication(reference=challenge.reference, url=challenge.next_action_url, now=clock())

    awaiting(intent)
    _save_or_explain(intent, intents, same_authorization=None, again=awaiting)


def _record_authorization(
    intent: PaymentIntent,
    authorization_id: str,
    *,
    command: AuthorizeIntent,
    intents: IntentRepository,
    gateway: PaymentGateway,
    clock: Clock,
) -> PaymentIntent:
    capture = None
    if intent.capture_method is CaptureMethod.AUTOMATIC and command.capture_if_automatic:
        capture = _capture_in_full(intent, authorization_id, gateway)

    def authorized(target: PaymentIntent) -> None:
        target.authorize(authorization_id=authorization_id, now=clock(), request_id=command.request_id)
        if capture is not None:
            target.capture(amount=None, now=clock(), gateway_reference=capture)

    authorized(intent)
    try:
        return _save_or_explain(intent, intents, same_authorization=authorization_id, again=authorized)
    except InvalidState:
        # The payment moved on without this authorization (declined or compensated meanwhile): an
        # approved hold nobody records must not stay on the customer's card.
        gateway.void(idempotency_key=f"{intent.payment_intent_id}:void", authorization_id=authorization_id)
        raise


def _screen(
    intent: PaymentIntent,
    command: AuthorizeIntent,
    fraud: FraudScreen,
    intents: IntentRepository,
    clock: Clock,
) -> None:
    assessment = fraud.assess(
        FraudSignals(
            amount=intent.amount,
            merchant_id=intent.merchant_id,  # scopes the customer id: it is the merchant's own
            customer_id=intent.customer_id,
            payment_method=intent.payment_method,
            # What the merchant sent about the shopper, or None: never the API caller's own.
            device_fingerprint=command.device_fingerprint,
            ip_address=command.ip_address,
            email=intent.receipt_email,
        )
    )
    match assessment.decision:
        case Decision.ALLOW:
            return
        case Decision.BLOCK:
            intent.decline(decline_code="fraud_suspected", now=clock(), request_id=command.request_id)
            _save_or_explain(intent, intents, same_authorization=None)
            raise FraudSuspected("the payment was blocked by the fraud check")
        case Decision.STEP_UP:
            raise AuthenticationRequired("this payment needs 3-D Secure authentication")
        case _:
            assert_never(assessment.decision)


def _outcome_again(intent: PaymentIntent) -> PaymentIntent:
    """The outcome this request recorded before: the payment, or the decline it was."""
    if intent.status is Status.DECLINED:
        if intent.decline_code == "fraud_suspected":
            raise FraudSuspected("the payment was blocked by the fraud check")
        raise CardDeclined(intent.decline_code or "generic_decline")
    return intent


def _capture_in_full(intent: PaymentIntent, authorization_id: str, gateway: PaymentGateway) -> str | None:
    """Automatic capture: the capture's reference. If the gateway cannot capture now (None), the
    payment stays AUTHORIZED (the authorization is real money on hold) and can be captured through the
    capture endpoint."""
    try:
        captured = gateway.capture(
            idempotency_key=f"{intent.payment_intent_id}:capture",
            authorization_id=authorization_id,
            amount=intent.amount,
        )
    except UpstreamUnavailable:  # an answer of a shape we do not know too: the capture endpoint,
        return None  # asked later, raises it to its caller
    return captured.reference


def _expire(intent: PaymentIntent, intents: IntentRepository, clock: Clock) -> None:
    expired = replace(intent, new_transactions=[])
    expired.expire(clock())
    with contextlib.suppress(ConcurrentUpdate):  # someone else moved it first: still refused below
        intents.save(expired)
    raise InvalidState("the payment intent has expired", status=Status.EXPIRED.value)


def _save_or_explain(
    intent: PaymentIntent,
    intents: IntentRepository,
    *,
    same_authorization: str | None,
    again: Callable[[PaymentIntent], None] | None = None,
) -> PaymentIntent:
    """Save; if a concurrent request saved first with the very same gateway authorization, its
    result is ours too (the gateway deduplicated the call). Where the payment is still PENDING at the
    processor that answered (another request only counted its send), `again` records the answer on
    what that request wrote: voiding it instead would leave a void behind the key the other request
    is about to be answered with. Anything else is a state conflict."""
    for _ in range(COUNT_ATTEMPTS):
        try:
            return intents.save(intent)
        except ConcurrentUpdate:
            current = intents.get(intent.payment_intent_id, consistent=True)
            if same_authorization is not None and current.authorization_id == same_authorization:
                return current
            if (
                again is None
                or current.status is not Status.PENDING
                or current.processor is not intent.processor
            ):
                raise InvalidState(
                    f"the payment changed concurrently and is now {current.status}",
                    status=current.status.value,
                ) from None
            again(current)
            intent = current
    raise ConcurrentUpdate("the payment is being authorized by other requests at the same time")
