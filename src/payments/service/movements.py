"""Money after authorization: capture, void and refunds (payments-capture, payments-refund).

Each one validates before the gateway is called, calls it with a key derived from the payment (so a
retry or a concurrent duplicate is the same movement to the gateway), and records the result with a
version-conditioned write. A refund's key carries its sequence number: two concurrent refunds read the
same number, so the gateway sees one refund (or refuses a different amount under the same key) and
nothing is ever refunded twice or refunded without being recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from payments.domain.errors import ConcurrentUpdate, InvalidState, NotFound
from payments.domain.intents import PaymentIntent, Status, Transaction, TransactionKind, refund_id_for
from payments.domain.money import Money
from payments.service.intents import Clock, made_by_request
from payments.service.ports import GatewayRouting, IntentRepository, PaymentGateway


@dataclass(frozen=True, slots=True)
class CaptureIntent:
    payment_intent_id: str
    amount: int | None = None
    request_id: str | None = None  # the Idempotency-Key: its own retry finds the capture it made


@dataclass(frozen=True, slots=True)
class RefundIntent:
    payment_intent_id: str
    request_id: str  # the Idempotency-Key, or a fresh id: two requests are two refunds
    amount: int | None = None
    reason: str | None = None


def _money(intent: PaymentIntent, amount: int | None) -> Money | None:
    return None if amount is None else Money(amount, intent.amount.currency)


def capture_intent(
    command: CaptureIntent, *, intents: IntentRepository, gateway: GatewayRouting, clock: Clock
) -> PaymentIntent:
    intent = intents.get(command.payment_intent_id, consistent=True)
    if made_by_request(intent, TransactionKind.CAPTURE, command.request_id, intents=intents):
        return intent
    amount = intent.capturable(_money(intent, command.amount))
    processor = gateway.for_payment(intent)
    try:
        result = processor.capture(
            idempotency_key=f"{intent.payment_intent_id}:capture",
            authorization_id=intent.gateway_authorization(),
            amount=amount,
        )
    except ConcurrentUpdate:
        return _record_earlier_capture(intent, amount, intents=intents, gateway=processor, clock=clock)
    intent.capture(
        amount=amount, now=clock(), gateway_reference=result.reference, request_id=command.request_id
    )
    return _save_or_current(intent, intents, same_as=lambda current: current.amount_captured == amount.amount)


def _record_earlier_capture(
    intent: PaymentIntent, asked: Money, *, intents: IntentRepository, gateway: PaymentGateway, clock: Clock
) -> PaymentIntent:
    """The gateway refused this payment's capture key with another amount: an earlier capture under it
    (the automatic one at authorization, whose answer was lost) went through. What the gateway captured
    is what happened: it is recorded, and a different amount asked for now is refused."""
    earlier = gateway.captured(authorization_id=intent.gateway_authorization())
    if earlier is None:
        raise ConcurrentUpdate("the gateway is capturing this payment under another request; retry")
    done = Money(earlier.amount, intent.amount.currency)
    intent.capture(amount=done, now=clock(), gateway_reference=earlier.reference)
    saved = _save_or_current(intent, intents, same_as=lambda current: current.amount_captured == done.amount)
    if done != asked:
        raise InvalidState(f"the payment was captured already, {done.amount} by its automatic capture")
    return saved


def void_intent(
    payment_intent_id: str,
    *,
    intents: IntentRepository,
    gateway: GatewayRouting,
    clock: Clock,
    request_id: str | None = None,
) -> PaymentIntent:
    intent = intents.get(payment_intent_id, consistent=True)
    if made_by_request(intent, TransactionKind.VOID, request_id, intents=intents):
        return intent
    if intent.status is not Status.AUTHORIZED:
        raise InvalidState(f"only an AUTHORIZED payment can be voided; it is {intent.status}")
    result = gateway.for_payment(intent).void(
        idempotency_key=f"{intent.payment_intent_id}:void", authorization_id=intent.gateway_authorization()
    )
    intent.void(now=clock(), gateway_reference=result.reference, request_id=request_id)
    return _save_or_current(intent, intents, same_as=lambda current: current.status is Status.VOIDED)


def refund_intent(
    command: RefundIntent,
    *,
    intents: IntentRepository,
    gateway: GatewayRouting,
    clock: Clock,
    intent: PaymentIntent | None = None,
) -> Transaction:
    """`intent`: the payment as just read (strongly), to spare a second read."""
    intent = intent or intents.get(command.payment_intent_id, consistent=True)
    amount = intent.refundable(_money(intent, command.amount))
    number = intent.refund_count + 1
    result = gateway.for_payment(intent).refund(
        idempotency_key=f"{intent.payment_intent_id}:refund:{number}",
        authorization_id=intent.gateway_authorization(),
        amount=amount,
    )
    for _ in range(_RECORD_ATTEMPTS):
        refund = intent.refund(
            amount=amount,
            now=clock(),
            gateway_reference=result.reference,
            request_id=command.request_id,
            reason=command.reason,
        )
        try:
            intents.save(intent)
        except ConcurrentUpdate:
            recorded = _recorded_refund(intents, intent.payment_intent_id, number)
            if recorded is not None:
                if recorded.request_id == command.request_id:
                    return recorded  # our own request, recorded by its duplicate
                # Another request's refund took this number; the gateway answered us with that same
                # refund (one key), so no money moved for us: retrying makes ours the next refund.
                raise ConcurrentUpdate(
                    "another refund of this payment was recorded at the same moment; retry"
                ) from None
            # Something else moved the payment: the gateway refund is real, so record it on the
            # payment as it now stands (same number, same gateway refund), or fail loudly.
            intent = intents.get(command.payment_intent_id, consistent=True)
            if intent.refund_count + 1 != number:
                raise InvalidState("a different refund was recorded concurrently; retry") from None
            continue
        return refund
    raise ConcurrentUpdate("the payment kept changing while its refund was recorded; retry")


_RECORD_ATTEMPTS = 3


def refund_once(
    command: RefundIntent,
    *,
    intents: IntentRepository,
    gateway: GatewayRouting,
    clock: Clock,
    intent: PaymentIntent | None = None,
) -> Transaction:
    """A refund job, however often it is delivered: the refund its request id already made (the intent
    records which request made which refund), or a new one. A job redelivered while its first delivery
    still runs reaches the gateway under the same refund number, so the gateway answers both with one
    refund, and one of them records it."""
    intent = intent or intents.get(command.payment_intent_id, consistent=True)
    number = intent.refund_requests.get(command.request_id)
    if number is not None:
        return intents.get_transaction(refund_id_for(intent.payment_intent_id, number))
    return refund_intent(command, intents=intents, gateway=gateway, clock=clock, intent=intent)


def _recorded_refund(intents: IntentRepository, payment_intent_id: str, number: int) -> Transaction | None:
    try:
        return intents.get_transaction(refund_id_for(payment_intent_id, number))
    except NotFound:
        return None


def get_refund(refund_id: str, *, intents: IntentRepository) -> Transaction:
    transaction = intents.get_transaction(refund_id)
    if transaction.kind is not TransactionKind.REFUND:
        raise NotFound(f"no refund {refund_id}")
    return transaction


def _save_or_current(
    intent: PaymentIntent, intents: IntentRepository, *, same_as: Callable[[PaymentIntent], bool]
) -> PaymentIntent:
    """Save; if a concurrent duplicate saved the same movement first, answer what it saved."""
    try:
        return intents.save(intent)
    except ConcurrentUpdate:
        current = intents.get(intent.payment_intent_id, consistent=True)
        if current.status is intent.status and same_as(current):
            return current
        raise InvalidState(f"the payment changed concurrently and is now {current.status}") from None


def list_refunds(payment_intent_id: str, *, intents: IntentRepository) -> list[Transaction]:
    """The payment's refunds, oldest first. Their ids follow from the payment and its refund count,
    so no index is needed, and the intent's read decides who may see them."""
    intent = intents.get(payment_intent_id)
    return [
        intents.get_transaction(refund_id_for(intent.payment_intent_id, number))
        for number in range(1, intent.refund_count + 1)
    ]
