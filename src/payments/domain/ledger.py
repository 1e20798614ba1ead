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
- `fees`                    processing fees (posted from settlement files).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from payments.domain.events import EventType, PaymentEvent
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
    kind: EventType
    legs: tuple[Leg, ...]

    def balances(self) -> bool:
        totals: dict[str, int] = {}
        for leg in self.legs:
            sign = 1 if leg.direction is Direction.DEBIT else -1
            totals[leg.amount.currency.code] = (
                totals.get(leg.amount.currency.code, 0) + sign * leg.amount.amount
            )
        return all(total == 0 for total in totals.values())


def _move(debit: Account, credit: Account, amount: Money) -> tuple[Leg, Leg]:
    return Leg(debit, Direction.DEBIT, amount), Leg(credit, Direction.CREDIT, amount)


def postings_for(event: PaymentEvent, *, held: Money | None = None) -> LedgerEntry | None:
    """The entry an event posts (None for events that move no money, such as a decline).

    `held` is the payment's authorization hold still on the books (the AUTHORIZED amount), which a
    capture releases in full, so a partial capture releases the rest.
    """
    amount = event.amount
    legs: tuple[Leg, ...]
    if event.event_type is EventType.AUTHORIZED:
        legs = _move(Account.AUTHORIZATIONS_PENDING, Account.CUSTOMER_AUTHORIZATIONS, amount)
    elif event.event_type is EventType.CAPTURED:
        release = _move(Account.CUSTOMER_AUTHORIZATIONS, Account.AUTHORIZATIONS_PENDING, held) if held else ()
        legs = (*release, *_move(Account.GATEWAY_CLEARING, Account.MERCHANT_PAYABLE, amount))
    elif event.event_type is EventType.VOIDED:
        legs = _move(Account.CUSTOMER_AUTHORIZATIONS, Account.AUTHORIZATIONS_PENDING, held or amount)
    elif event.event_type is EventType.REFUNDED:
        legs = _move(Account.MERCHANT_PAYABLE, Account.GATEWAY_CLEARING, amount)
    elif event.event_type is EventType.DISPUTED:
        legs = _move(Account.DISPUTES_PENDING, Account.GATEWAY_CLEARING, amount)
    elif event.event_type is EventType.DISPUTE_WON:
        legs = _move(Account.GATEWAY_CLEARING, Account.DISPUTES_PENDING, amount)
    elif event.event_type is EventType.DISPUTE_LOST:
        legs = _move(Account.MERCHANT_PAYABLE, Account.DISPUTES_PENDING, amount)
    else:
        return None
    return LedgerEntry(
        entry_id=event.event_id, payment_intent_id=event.payment_intent_id, kind=event.event_type, legs=legs
    )
