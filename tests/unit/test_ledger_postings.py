"""The ledger's postings: every entry balances, and the books follow the payment, whatever the sequence."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.errors import InvalidRequest, InvalidState
from payments.domain.events import PaymentEvent, event_for
from payments.domain.intents import PaymentIntent, Status
from payments.domain.ledger import (
    Account,
    Direction,
    LedgerEntry,
    authorization_hold,
    postings_for,
    reversal_of,
)
from payments.domain.money import Money

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

commands = st.lists(
    st.one_of(
        st.tuples(st.just("capture"), st.integers(1, 12_000)),
        st.tuples(st.just("void"), st.just(0)),
        st.tuples(st.just("refund"), st.integers(1, 12_000)),
        st.tuples(st.just("dispute"), st.just(0)),
        st.tuples(st.just("close"), st.booleans().map(int)),
    ),
    max_size=12,
)


def new_intent(amount: Money, method: str = "pm_card_visa") -> PaymentIntent:
    return PaymentIntent.create(
        amount=amount,
        customer_id="c",
        merchant_id="m",
        payment_method=method,
        now=NOW,
        time_to_live=timedelta(hours=1),
    )


def run(
    amount: int,
    sequence: list[tuple[str, int]],
    shuffle: Callable[[list[PaymentEvent]], None] = lambda _: None,
) -> tuple[PaymentIntent, dict[str, LedgerEntry]]:
    intent = new_intent(Money.of(amount, "EUR"), "pm_card_visa")
    intent.authorize(authorization_id="auth_1", now=NOW)
    for number, (command, value) in enumerate(sequence):
        try:
            if command == "capture":
                intent.capture(amount=Money.of(value, "EUR"), now=NOW, gateway_reference="cap")
            elif command == "void":
                intent.void(now=NOW, gateway_reference="void")
            elif command == "refund":
                intent.refund(amount=Money.of(value, "EUR"), now=NOW, gateway_reference=f"re_{number}")
            elif command == "dispute":
                intent.open_dispute(movement_id=f"whk_open_{number}", now=NOW, gateway_reference="dp")
            else:
                intent.close_dispute(
                    won=bool(value), movement_id=f"whk_close_{number}", now=NOW, gateway_reference="dp"
                )
        except (InvalidState, InvalidRequest):
            continue
    books: dict[str, LedgerEntry] = {}
    deliveries = [event_for(transaction) for transaction in intent.new_transactions] * 2
    shuffle(deliveries)  # every event twice, in any order: an entry follows from its event alone
    for event in deliveries:
        entry = postings_for(event)
        if entry is not None:
            books.setdefault(entry.entry_id, entry)
    return intent, books


def balances(books: dict[str, LedgerEntry]) -> dict[Account, int]:
    totals: dict[Account, int] = defaultdict(int)
    for entry in books.values():
        for leg in entry.legs:
            totals[leg.account] += (
                leg.amount.amount if leg.direction is Direction.DEBIT else -leg.amount.amount
            )
    return totals


@settings(max_examples=200, deadline=None)
@given(amount=st.integers(1, 10_000), sequence=commands, order=st.randoms(use_true_random=False))
def test_the_books_balance_and_follow_the_payment(
    amount: int, sequence: list[tuple[str, int]], order: Random
) -> None:
    intent, books = run(amount, sequence, order.shuffle)
    assert all(entry.balances() for entry in books.values())
    totals = balances(books)
    assert sum(totals.values()) == 0
    # The hold is on the books exactly while the payment is only authorized
    held = intent.amount.amount if intent.status is Status.AUTHORIZED else 0
    assert totals[Account.AUTHORIZATIONS_PENDING] == held
    # What we owe the merchant is what was captured and not given back (refunds, lost disputes)
    assert totals[Account.MERCHANT_PAYABLE] == -(intent.amount_captured - intent.amount_refunded)
    # Funds withheld for a dispute are on the books exactly while it is open
    at_stake = intent.amount_refundable if intent.status is Status.DISPUTED else 0
    assert totals[Account.DISPUTES_PENDING] == at_stake
    assert intent.amount_refunded <= intent.amount_captured


def test_a_partial_capture_releases_the_whole_hold() -> None:
    _, books = run(10_000, [("capture", 4_000)])
    totals = balances(books)
    assert totals[Account.AUTHORIZATIONS_PENDING] == 0
    assert totals[Account.CUSTOMER_AUTHORIZATIONS] == 0
    assert (totals[Account.GATEWAY_CLEARING], totals[Account.MERCHANT_PAYABLE]) == (4_000, -4_000)


def test_a_decline_posts_nothing() -> None:
    intent = new_intent(Money.of(500, "EUR"), "pm_card_declined")
    intent.decline(decline_code="generic_decline", now=NOW)
    assert postings_for(event_for(intent.new_transactions[0])) is None


def test_the_checkouts_pending_entry_is_the_authorized_events_entry() -> None:
    # The checkout posts the hold before the gateway answers; the AUTHORIZED event then names the same entry
    intent = new_intent(Money.of(2_500, "JPY"), "pm_card_visa")
    ahead = authorization_hold(intent.payment_intent_id, intent.amount, at=NOW)
    intent.authorize(authorization_id="auth_1", now=NOW + timedelta(seconds=1))
    posted = postings_for(event_for(intent.new_transactions[0]))
    assert posted is not None
    assert (ahead.entry_id, ahead.kind, ahead.legs) == (posted.entry_id, posted.kind, posted.legs)


def test_a_reversal_undoes_its_entry_exactly() -> None:
    hold = authorization_hold("pi_1", Money.of(1_234, "USD"), at=NOW)
    reversal = reversal_of(hold, at=NOW)
    assert reversal.entry_id != hold.entry_id
    assert reversal.balances()
    for key, change in hold.balance_changes().items():
        assert reversal.balance_changes()[key] == -change != 0
