"""The ledger on DynamoDB: each entry once with its balance changes, the checkout's hold guarded by
the payment's status, and reversals only for authorizations that never happened."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
from payments.domain.events import event_for
from payments.domain.intents import PaymentIntent
from payments.domain.ledger import (
    Account,
    Balance,
    Direction,
    LedgerEntry,
    Leg,
    authorization_hold,
    postings_for,
)
from payments.domain.money import Money
from payments.service.ledger import post_hold_ahead, reverse_hold_if_unauthorized
from tests.integration.ledger_tables import Books, all_entries, fresh_books

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def books(dynamodb: Any, table_names: dict[str, str]) -> Books:
    return fresh_books(dynamodb, intents_table=table_names["PaymentIntentsTable"])


def _stored(repo: DynamoDBIntentRepository, amount: int = 4_200, code: str = "EUR") -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=Money.of(amount, code),
        customer_id=f"cus_{uuid.uuid4().hex[:10]}",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=NOW,
        time_to_live=timedelta(hours=1),
    )
    repo.add(intent)
    return repo.get(intent.payment_intent_id)


def _clock() -> datetime:
    return NOW


def test_an_entry_posts_once_with_its_balance_changes(repo: DynamoDBIntentRepository, books: Books) -> None:
    intent = _stored(repo)
    intent.authorize(authorization_id="auth_1", now=NOW)
    capture = intent.capture(amount=Money.of(3_000, "EUR"), now=NOW, gateway_reference="cap_1")
    entry = postings_for(event_for(capture))
    assert entry is not None
    # When the CAPTURED event is delivered three times
    outcomes = [books.ledger.post(entry) for _ in range(3)]
    # Then one delivery posted it, and the balances moved once: the whole hold released, 30.00 captured
    assert outcomes == [True, False, False]
    assert books.ledger.balances() == [
        Balance(Account.AUTHORIZATIONS_PENDING, "EUR", -4_200),
        Balance(Account.CUSTOMER_AUTHORIZATIONS, "EUR", 4_200),
        Balance(Account.GATEWAY_CLEARING, "EUR", 3_000),
        Balance(Account.MERCHANT_PAYABLE, "EUR", -3_000),
    ]
    assert books.ledger.entries_for(intent.payment_intent_id) == [entry]


def test_balances_are_read_per_currency_across_many_currencies(books: Books) -> None:
    # More balances than one TransactGetItems may read: each currency is still read whole
    codes = ["USD", "EUR", "JPY", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK"]
    codes += ["HUF", "AUD", "NZD", "CAD", "MXN", "BRL", "ZAR", "INR", "SGD", "HKD", "KRW", "THB"]
    for number, code in enumerate(codes):
        intent = PaymentIntent.create(
            amount=Money.of(1_000 + number, code),
            customer_id="cus_many",
            merchant_id="mer_1",
            payment_method="pm_card_visa",
            now=NOW,
            time_to_live=timedelta(hours=1),
        )
        intent.authorize(authorization_id="auth", now=NOW)
        capture = intent.capture(amount=None, now=NOW, gateway_reference="cap")
        for transaction in intent.new_transactions:
            entry = postings_for(event_for(transaction))
            assert entry is not None
            books.ledger.post(entry)
        assert capture.amount.amount == 1_000 + number
    balances = books.ledger.balances()
    assert len(balances) == 4 * len(codes) > 25  # more than one transaction reads
    assert {balance.currency for balance in balances} == set(codes)
    for balance in balances:
        expected = {Account.GATEWAY_CLEARING: 1, Account.MERCHANT_PAYABLE: -1}.get(balance.account, 0)
        assert balance.balance == expected * (1_000 + codes.index(balance.currency))


def test_entries_come_back_oldest_first_as_written(repo: DynamoDBIntentRepository, books: Books) -> None:
    intent = _stored(repo, 150_000, "JPY")
    authorized = intent.authorize(authorization_id="auth_1", now=NOW)
    voided = intent.void(now=NOW + timedelta(seconds=2), gateway_reference="void_1")
    entries = [postings_for(event_for(transaction)) for transaction in (voided, authorized)]
    for entry in entries:
        assert entry is not None
        assert books.ledger.post(entry)
    assert books.ledger.entries_for(intent.payment_intent_id) == entries[::-1]
    assert all(balance.balance == 0 for balance in books.ledger.balances())


def test_an_unbalanced_entry_never_reaches_the_table(dynamodb: Any, books: Books) -> None:
    lopsided = LedgerEntry(
        "evt_bad",
        "pi_bad",
        "CAPTURED",
        NOW,
        (Leg(Account.GATEWAY_CLEARING, Direction.DEBIT, Money.of(100, "USD")),),
    )
    with pytest.raises(ValueError, match="does not balance"):
        books.ledger.post(lopsided)
    assert all_entries(dynamodb, books) == []


@pytest.mark.parametrize("settled", ["declined", "expired"])
def test_the_checkouts_hold_is_refused_once_the_payment_settled_unauthorized(
    repo: DynamoDBIntentRepository, books: Books, settled: str
) -> None:
    # Given a payment declined (or expired mid-checkout) before the ledger branch wrote its hold
    intent = _stored(repo)
    if settled == "declined":
        intent.decline(decline_code="generic_decline", now=NOW)
    else:
        intent.expire(NOW)
    intent = repo.save(intent)
    # When the ledger branch's write lands late, it is refused: nothing would ever reverse it
    assert post_hold_ahead(intent, ledger=books.ledger, clock=_clock) is False
    assert books.ledger.entries_for(intent.payment_intent_id) == []
    assert books.ledger.balances() == []


def test_a_hold_for_a_payment_that_does_not_exist_is_refused(books: Books) -> None:
    hold = authorization_hold("pi_missing", Money.of(500, "USD"), at=NOW)
    assert books.ledger.post_unless_declined(hold) is False


def test_compensation_reverses_a_hold_no_authorization_followed_once(
    repo: DynamoDBIntentRepository, books: Books
) -> None:
    # Given the hold was posted ahead, then the authorization failed and the payment was declined
    intent = _stored(repo)
    assert post_hold_ahead(intent, ledger=books.ledger, clock=_clock) is True
    intent.decline(decline_code="generic_decline", now=NOW)
    intent = repo.save(intent)
    # When compensation runs twice (a retried state)
    outcomes = [reverse_hold_if_unauthorized(intent, ledger=books.ledger, clock=_clock) for _ in range(2)]
    # Then one reversal was posted and the payment's books net to zero
    assert outcomes == [True, False]
    kinds = [entry.kind for entry in books.ledger.entries_for(intent.payment_intent_id)]
    assert sorted(kinds) == ["AUTHORIZED", "AUTHORIZED_REVERSED"]
    assert {balance.balance for balance in books.ledger.balances()} == {0}


def test_an_authorization_that_happened_is_released_by_its_void_not_by_a_reversal(
    repo: DynamoDBIntentRepository, books: Books
) -> None:
    intent = _stored(repo)
    assert post_hold_ahead(intent, ledger=books.ledger, clock=_clock)
    authorized = intent.authorize(authorization_id="auth_1", now=NOW)
    voided = intent.void(now=NOW, gateway_reference="void_1")
    intent = repo.save(intent)
    assert reverse_hold_if_unauthorized(intent, ledger=books.ledger, clock=_clock) is False
    # The AUTHORIZED event names the entry the checkout posted; the VOIDED event releases it
    for transaction in (authorized, voided):
        entry = postings_for(event_for(transaction))
        assert entry is not None
        books.ledger.post(entry)
    assert [entry.kind for entry in books.ledger.entries_for(intent.payment_intent_id)] == [
        "AUTHORIZED",
        "VOIDED",
    ]
    assert {balance.balance for balance in books.ledger.balances()} == {0}
