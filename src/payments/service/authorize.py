"""The synchronous authorize path (payments-authorize): fraud check, gateway authorization, one write.

Why it cannot charge twice: the gateway call carries an idempotency key derived from the intent, so a
retry or a concurrent duplicate gets the same authorization back; the intent is then written only if
its `version` is still the one we read, together with the transaction record, in one atomic write.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import assert_never

from payments.domain.errors import (
    AuthenticationRequired,
    CardDeclined,
    ConcurrentUpdate,
    FraudSuspected,
    InvalidState,
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
    GatewayRouting,
    IntentRepository,
    PaymentGateway,
)


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

    processor = gateway.for_payment(intent)
    result = processor.authorize(
        # After a passed 3-D Secure challenge it is a new request to the gateway, with its own key.
        idempotency_key=f"{intent.payment_intent_id}:authorize"
        + (":3ds" if command.three_d_secure_passed else ""),
        amount=intent.amount,
        payment_method=intent.payment_method,
        reference=intent.payment_intent_id,
        three_d_secure_passed=command.three_d_secure_passed,
    )
    # Every answer the gateway can give is handled here; a new one is a mypy error (assert_never).
    match result:
        case GatewayAuthenticationRequired():
            raise AuthenticationRequired("the issuer requires 3-D Secure authentication")
        case GatewayDeclined(reference=reference, decline_code=decline_code):
            intent.decline(
                decline_code=decline_code,
                now=clock(),
                gateway_reference=reference,
                request_id=command.request_id,
            )
            _save_or_explain(intent, intents, same_authorization=None)
            raise CardDeclined(decline_code)
        case GatewayApproved(reference=authorization_id):
            return _record_authorization(
                intent, authorization_id, command=command, intents=intents, gateway=processor, clock=clock
            )
        case _:
            assert_never(result)


def _record_authorization(
    intent: PaymentIntent,
    authorization_id: str,
    *,
    command: AuthorizeIntent,
    intents: IntentRepository,
    gateway: PaymentGateway,
    clock: Clock,
) -> PaymentIntent:
    intent.authorize(authorization_id=authorization_id, now=clock(), request_id=command.request_id)
    if intent.capture_method is CaptureMethod.AUTOMATIC and command.capture_if_automatic:
        _capture_in_full(intent, authorization_id, gateway, clock)
    try:
        return _save_or_explain(intent, intents, same_authorization=authorization_id)
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


def _capture_in_full(
    intent: PaymentIntent, authorization_id: str, gateway: PaymentGateway, clock: Clock
) -> None:
    """Automatic capture. If the gateway cannot capture now, the payment stays AUTHORIZED (the
    authorization is real money on hold) and can be captured through the capture endpoint."""
    try:
        captured = gateway.capture(
            idempotency_key=f"{intent.payment_intent_id}:capture",
            authorization_id=authorization_id,
            amount=intent.amount,
        )
    except UpstreamUnavailable:  # an answer of a shape we do not know too: the capture endpoint,
        return  # asked later, raises it to its caller
    intent.capture(amount=None, now=clock(), gateway_reference=captured.reference)


def _expire(intent: PaymentIntent, intents: IntentRepository, clock: Clock) -> None:
    expired = replace(intent, new_transactions=[])
    expired.expire(clock())
    with contextlib.suppress(ConcurrentUpdate):  # someone else moved it first: still refused below
        intents.save(expired)
    raise InvalidState("the payment intent has expired", status=Status.EXPIRED.value)


def _save_or_explain(
    intent: PaymentIntent, intents: IntentRepository, *, same_authorization: str | None
) -> PaymentIntent:
    """Save; if a concurrent request saved first with the very same gateway authorization, its
    result is ours too (the gateway deduplicated the call). Anything else is a state conflict."""
    try:
        return intents.save(intent)
    except ConcurrentUpdate:
        current = intents.get(intent.payment_intent_id, consistent=True)
        if same_authorization is not None and current.authorization_id == same_authorization:
            return current
        raise InvalidState(
            f"the payment changed concurrently and is now {current.status}", status=current.status.value
        ) from None
