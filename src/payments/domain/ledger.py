"""The double-entry ledger: a chart of accounts and the postings each payment event makes.

Every entry balances per currency (its debits equal its credits), so the books as a whole always sum
to zero. An entry is named by the event that caused it, which makes posting idempotent: a redelivered
event names an entry that exists already.

Chart of accounts (balance = debits - credits):
- `authorizations_pending`  funds the gateway holds for us on an authorization (memo, until captured
  or released); its counterpart is `customer_authorizations`, the customer's committed funds.
- `gateway_clearing`        what the gateway owes us for captures, until it settles them (or keeps
  them for refunds and disputes).
- `merchant_payable`        what we owe the merchant for captured payments.
- `disputes_pending`        funds the gateway withholds while a dispute is open.
- `fees`                    processing fees (nothing posts to it yet: settlement reports sum them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from payments.domain.events import EventType, PaymentEvent
from payments.domain.intents import TransactionKind, transaction_id_for
from payments.domain.money import Money


class Account(StrEnum):
    AUTHORIZATIONS_PENDING = "authorizations_pending"
    CUSTOMER_AUTHORIZATIONS = "customer_authorizations"
    GATEWAY_CLEARING = "gateway_clearing"
    MERCHANT_PAYABLE = "merchant_payable"
    DISPUTES_PENDING = "disputes_pending"
    FEES = "fees"


class Direction(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class Leg:
    account: Account
    direction: Direction
    amount: Money


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    entry_id: str  # the source event's id: one entry per event, however often it is delivered
    payment_intent_id: str
    kind: str  # the event type that posted it, or `<type>_REVERSED` for a reversal
    created_at: datetime
    legs: tuple[Leg, ...]

    def balance_changes(self) -> dict[tuple[Account, str], int]:
        """What the entry adds to each (account, currency) balance: debits minus credits."""
        changes: dict[tuple[Account, str], int] = {}
        for leg in self.legs:
            key = (leg.account, leg.amount.currency.code)
            sign = 1 if leg.direction is Direction.DEBIT else -1
            changes[key] = changes.get(key, 0) + sign * leg.amount.amount
        return changes

    def balances(self) -> bool:
        """Debits equal credits in every currency."""
        totals: dict[str, int] = {}
        for (_, code), change in self.balance_changes().items():
            totals[code] = totals.get(code, 0) + change
        return all(total == 0 for total in totals.values())


@dataclass(frozen=True, slots=True)
class Balance:
    account: Account
    currency: str
    balance: int  # debits minus credits, in the currency's minor units


def _move(debit: Account, credit: Account, amount: Money) -> tuple[Leg, Leg]:
    return Leg(debit, Direction.DEBIT, amount), Leg(credit, Direction.CREDIT, amount)


def _hold(amount: Money) -> tuple[Leg, Leg]:
    return _move(Account.AUTHORIZATIONS_PENDING, Account.CUSTOMER_AUTHORIZATIONS, amount)


def _release(amount: Money) -> tuple[Leg, Leg]:
    return _move(Account.CUSTOMER_AUTHORIZATIONS, Account.AUTHORIZATIONS_PENDING, amount)


def authorization_hold(payment_intent_id: str, amount: Money, *, at: datetime) -> LedgerEntry:
    """The checkout's pending entry, posted while the gateway decides. It is the very entry the
    AUTHORIZED event posts (same id, same legs), so whichever lands first, the hold is on the books once."""
    entry_id = transaction_id_for(payment_intent_id, TransactionKind.AUTHORIZATION)
    return LedgerEntry(entry_id, payment_intent_id, EventType.AUTHORIZED.value, at, _hold(amount))


def reversal_of(entry: LedgerEntry, *, at: datetime) -> LedgerEntry:
    """The entry that undoes `entry` (a checkout's hold whose authorization never happened)."""
    flipped = tuple(
        Leg(
            leg.account, Direction.CREDIT if leg.direction is Direction.DEBIT else Direction.DEBIT, leg.amount
        )
        for leg in entry.legs
    )
    return LedgerEntry(
        f"{entry.entry_id}:reversal", entry.payment_intent_id, f"{entry.kind}_REVERSED", at, flipped
    )


def postings_for(event: PaymentEvent) -> LedgerEntry | None:
    """The entry an event posts, or None for the one event that moves no money (a decline).

    Each entry follows from its event alone (a capture or void carries the hold it releases), so
    events may arrive in any order and any number of times.
    """
    legs = legs_for(event)
    if not legs:
        return None
    return LedgerEntry(
        event.event_id, event.payment_intent_id, event.event_type.value, event.occurred_at, legs
    )


def legs_for(event: PaymentEvent) -> tuple[Leg, ...]:
    """The posting rule of every event type, written out one by one; `()` says, on purpose, that
    the event moves no money. An event type added to `EventType` without a rule here is a mypy error
    (assert_never), and an exception if the types were bypassed: never an event silently unbooked."""
    amount = event.amount
    legs: tuple[Leg, ...]
    match event.event_type:
        case EventType.AUTHORIZED:
            legs = _hold(amount)
        case EventType.DECLINED:
            legs = ()  # nothing was held: the gateway refused
        case EventType.CAPTURED:
            # The whole hold goes, so a partial capture releases the rest.
            released = _release(event.released or amount)
            legs = (*released, *_move(Account.GATEWAY_CLEARING, Account.MERCHANT_PAYABLE, amount))
        case EventType.VOIDED:
            legs = _release(event.released or amount)
        case EventType.REFUNDED:
            legs = _move(Account.MERCHANT_PAYABLE, Account.GATEWAY_CLEARING, amount)
        case EventType.DISPUTED:
            legs = _move(Account.DISPUTES_PENDING, Account.GATEWAY_CLEARING, amount)
        case EventType.DISPUTE_WON:
            legs = _move(Account.GATEWAY_CLEARING, Account.DISPUTES_PENDING, amount)
        case EventType.DISPUTE_LOST:
            legs = _move(Account.MERCHANT_PAYABLE, Account.DISPUTES_PENDING, amount)
        case _:
            assert_never(event.event_type)
    return legs
