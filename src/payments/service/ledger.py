"""The ledger's use cases: posting what each payment event moved, and reading the books."""

from __future__ import annotations

from payments.domain.events import PaymentEvent
from payments.domain.intents import PaymentIntent, TransactionKind, transaction_id_for
from payments.domain.ledger import Balance, LedgerEntry, authorization_hold, postings_for, reversal_of
from payments.service.intents import Clock
from payments.service.ports import IntentRepository, Ledger


def post_event(event: PaymentEvent, *, ledger: Ledger) -> bool:
    """The ledger subscriber: post the event's entry once; True when this delivery posted it."""
    entry = postings_for(event)
    return entry is not None and ledger.post(entry)


def post_hold_ahead(intent: PaymentIntent, *, ledger: Ledger, clock: Clock) -> bool:
    """The checkout's ledger branch, run beside the gateway authorization: the hold, unless the
    payment was declined meanwhile. The AUTHORIZED event later names the same entry."""
    return ledger.post_unless_declined(
        authorization_hold(intent.payment_intent_id, intent.amount, at=clock())
    )


def reverse_hold_if_unauthorized(intent: PaymentIntent, *, ledger: Ledger, clock: Clock) -> bool:
    """Compensation: a hold posted ahead of an authorization that never happened is reversed, once.
    An authorization that did happen is released by its VOIDED event instead, never by both."""
    if intent.authorization_id is not None:
        return False
    hold = ledger.get(transaction_id_for(intent.payment_intent_id, TransactionKind.AUTHORIZATION))
    return hold is not None and ledger.post(reversal_of(hold, at=clock()))


def payment_ledger(payment_intent_id: str, *, intents: IntentRepository, ledger: Ledger) -> list[LedgerEntry]:
    intents.get(payment_intent_id, consistent=False)  # NotFound for a payment that does not exist
    return ledger.entries_for(payment_intent_id)


def trial_balance(*, ledger: Ledger) -> list[Balance]:
    return ledger.balances()
