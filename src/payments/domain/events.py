"""Payment events: what each recorded movement announces on the payment-events topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from payments.domain.checkout import AmountTier, amount_tier
from payments.domain.intents import Status, Transaction, TransactionKind
from payments.domain.money import Money


class EventType(StrEnum):
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"
    DISPUTED = "DISPUTED"
    DISPUTE_WON = "DISPUTE_WON"
    DISPUTE_LOST = "DISPUTE_LOST"


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    event_id: str  # the transaction's id: one event per movement, however often it is delivered
    event_type: EventType
    payment_intent_id: str
    customer_id: str
    amount: Money
    amount_tier: AmountTier
    occurred_at: datetime
    status: Status  # the payment's status once the movement was recorded
    released: Money | None = None  # the authorization hold a capture or void lets go
    # Whose payment: customer ids are each merchant's own, so subscribers key customers by both.
    # None only on an event published before events named their merchant.
    merchant_id: str | None = None
    intent_version: int | None = None  # the payment's version after the movement (None: not kept then)


def event_type_for(transaction: Transaction) -> EventType:
    """What a recorded movement announces. Every kind is named here: a kind added to
    `TransactionKind` and left out is a mypy error (assert_never), never an event not published."""
    event_type: EventType
    match transaction.kind:
        case TransactionKind.AUTHORIZATION:
            declined = transaction.status is Status.DECLINED
            event_type = EventType.DECLINED if declined else EventType.AUTHORIZED
        case TransactionKind.CAPTURE:
            event_type = EventType.CAPTURED
        case TransactionKind.VOID:
            event_type = EventType.VOIDED
        case TransactionKind.REFUND:
            event_type = EventType.REFUNDED
        case TransactionKind.DISPUTE_OPENED:
            event_type = EventType.DISPUTED
        case TransactionKind.DISPUTE_WON:
            event_type = EventType.DISPUTE_WON
        case TransactionKind.DISPUTE_LOST:
            event_type = EventType.DISPUTE_LOST
        case _:
            assert_never(transaction.kind)
    return event_type


def event_for(transaction: Transaction) -> PaymentEvent:
    return PaymentEvent(
        event_id=transaction.transaction_id,
        event_type=event_type_for(transaction),
        payment_intent_id=transaction.payment_intent_id,
        customer_id=transaction.customer_id,
        amount=transaction.amount,
        amount_tier=amount_tier(transaction.amount),
        occurred_at=transaction.created_at,
        status=transaction.status,
        released=transaction.released,
        merchant_id=transaction.merchant_id,
        intent_version=transaction.intent_version,
    )
