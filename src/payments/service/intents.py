"""Use cases for payment intents that move no money: create, get, list a customer's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from payments.domain.errors import NotFound
from payments.domain.intents import (
    CaptureMethod,
    LineItem,
    OncePerPayment,
    PaymentIntent,
    Processor,
    Status,
    TransactionKind,
    transaction_id_for,
)
from payments.domain.money import Money
from payments.service.ports import IntentRepository, Page

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class CreateIntent:
    amount: Money
    customer_id: str
    merchant_id: str
    payment_method: str
    capture_method: CaptureMethod = CaptureMethod.MANUAL
    receipt_email: str | None = None
    locale: str = "en-US"
    description: str | None = None
    order_id: str | None = None
    customer_first_name: str | None = None
    line_items: tuple[LineItem, ...] = ()
    processor: Processor = Processor.SANDBOX
    fallback_processors: tuple[Processor, ...] = ()  # in order, where `processor` provably never answers


def create_intent(
    command: CreateIntent, *, intents: IntentRepository, clock: Clock, time_to_live: timedelta
) -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=command.amount,
        customer_id=command.customer_id,
        merchant_id=command.merchant_id,
        payment_method=command.payment_method,
        capture_method=command.capture_method,
        receipt_email=command.receipt_email,
        locale=command.locale,
        description=command.description,
        order_id=command.order_id,
        customer_first_name=command.customer_first_name,
        line_items=command.line_items,
        processor=command.processor,
        fallback_processors=command.fallback_processors,
        now=clock(),
        time_to_live=time_to_live,
    )
    intents.add(intent)
    return intent


def get_intent(payment_intent_id: str, *, intents: IntentRepository) -> PaymentIntent:
    return intents.get(payment_intent_id, consistent=True)


def list_customer_intents(
    customer_id: str,
    *,
    merchant_id: str | None,
    intents: IntentRepository,
    limit: int,
    next_token: str | None,
) -> Page[PaymentIntent]:
    """One merchant's customer, or (None, a platform's view) every merchant's customer of that id."""
    return intents.list_for_customer(customer_id, merchant_id=merchant_id, limit=limit, next_token=next_token)


def moves_from(kind: OncePerPayment) -> Status:
    """The status each once-per-payment movement starts from (a kind left out is a mypy error)."""
    match kind:
        case TransactionKind.AUTHORIZATION:
            return Status.PENDING
        case TransactionKind.CAPTURE | TransactionKind.VOID:
            return Status.AUTHORIZED
        case _:
            assert_never(kind)


def made_by_request(
    intent: PaymentIntent, kind: OncePerPayment, request_id: str | None, *, intents: IntentRepository
) -> bool:
    """Whether this payment's one movement of `kind` was recorded by the request `request_id`: a
    request retried after its process died between recording the movement and keeping its answer
    (the idempotency record) finds its own work done, and answers as if it had just done it. A
    payment still in the status the movement starts from has none yet: no read on the common path."""
    if request_id is None or intent.status is moves_from(kind):
        return False
    try:
        transaction = intents.get_transaction(transaction_id_for(intent.payment_intent_id, kind))
    except NotFound:
        return False
    return transaction.request_id == request_id
