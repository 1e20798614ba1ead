"""The DynamoDB intent repository against the emulator: strong reads, version conditions, atomicity."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.adapters.dynamodb_intents import DynamoDBIntentRepository
from payments.domain.errors import ConcurrentUpdate, InvalidRequest, NotFound
from payments.domain.intents import LineItem, PaymentIntent, Status
from payments.domain.money import Money


def _new(customer: str = "", *, at: datetime | None = None, merchant: str = "mer_1") -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(1234, "KWD"),
        customer_id=customer or f"cus_{uuid.uuid4().hex[:10]}",
        merchant_id=merchant,
        payment_method="pm_card_visa",
        now=at or datetime.now(UTC),
        time_to_live=timedelta(hours=1),
        description="two coffees",
    )


def _transactions_of(dynamodb: Any, table: str, intent_id: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=table)["Items"]
    return [item for item in items if item.get("paymentIntentId", {}).get("S") == intent_id]


def test_add_then_get_round_trips(repo: DynamoDBIntentRepository) -> None:
    intent = _new()
    repo.add(intent)
    assert repo.get(intent.payment_intent_id) == intent


def test_an_order_summary_round_trips_through_every_save(repo: DynamoDBIntentRepository) -> None:
    """The receipt reads the first name and lines after several saves of the intent: none drops them."""
    lines = tuple(LineItem(f"line {n} «café»", n, Money.of(n * 100, "KWD")) for n in range(1, 101))
    intent = PaymentIntent.create(
        amount=Money.of(sum(n * 100 for n in range(1, 101)), "KWD"),
        customer_id=f"cus_{uuid.uuid4().hex[:10]}",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=datetime.now(UTC),
        time_to_live=timedelta(hours=1),
        customer_first_name="José María",
        line_items=lines,
    )
    repo.add(intent)
    loaded = repo.get(intent.payment_intent_id)
    loaded.authorize(authorization_id="auth_1", now=datetime.now(UTC))
    repo.save(loaded)
    stored = repo.get(intent.payment_intent_id)
    assert (stored.customer_first_name, stored.line_items) == ("José María", lines)


def test_get_unknown_is_not_found(repo: DynamoDBIntentRepository) -> None:
    with pytest.raises(NotFound):
        repo.get("pi_unknown")


def test_adding_the_same_id_twice_is_refused(repo: DynamoDBIntentRepository) -> None:
    intent = _new()
    repo.add(intent)
    with pytest.raises(Exception, match="ConditionalCheckFailed"):
        repo.add(intent)


def test_save_writes_the_intent_and_its_transaction_together(
    repo: DynamoDBIntentRepository, dynamodb: Any, table_names: dict[str, str]
) -> None:
    intent = _new()
    repo.add(intent)
    loaded = repo.get(intent.payment_intent_id)
    loaded.authorize(authorization_id="auth_1", now=datetime.now(UTC))
    saved = repo.save(loaded)
    assert saved.version == 2
    assert repo.get(intent.payment_intent_id).status is Status.AUTHORIZED
    [item] = _transactions_of(dynamodb, table_names["TransactionsTable"], intent.payment_intent_id)
    assert (item["kind"]["S"], item["amount"]["N"], item["currency"]["S"]) == ("AUTHORIZATION", "1234", "KWD")


def test_a_stale_version_writes_nothing(
    repo: DynamoDBIntentRepository, dynamodb: Any, table_names: dict[str, str]
) -> None:
    # Given two readers of version 1
    intent = _new()
    repo.add(intent)
    first, second = repo.get(intent.payment_intent_id), repo.get(intent.payment_intent_id)
    # When the first declines and the second then tries to authorize
    first.decline(decline_code="generic_decline", now=datetime.now(UTC))
    repo.save(first)
    second.authorize(authorization_id="auth_2", now=datetime.now(UTC))
    # Then the second write is refused, atomically: no authorization transaction either
    with pytest.raises(ConcurrentUpdate):
        repo.save(second)
    stored = repo.get(intent.payment_intent_id)
    assert (stored.status, stored.version) == (Status.DECLINED, 2)
    kinds = [
        item["status"]["S"]
        for item in _transactions_of(dynamodb, table_names["TransactionsTable"], intent.payment_intent_id)
    ]
    assert kinds == ["DECLINED"]


def test_concurrent_writers_of_one_version_have_exactly_one_winner(repo: DynamoDBIntentRepository) -> None:
    intent = _new()
    repo.add(intent)
    readers = [repo.get(intent.payment_intent_id) for _ in range(10)]

    def attempt(index: int) -> str:
        reader = readers[index]
        reader.authorize(authorization_id=f"auth_{index}", now=datetime.now(UTC))
        try:
            repo.save(reader)
        except ConcurrentUpdate:
            return "lost"
        return "won"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    assert outcomes.count("won") == 1
    assert repo.get(intent.payment_intent_id).version == 2


def test_listing_is_newest_first_with_opaque_pages(repo: DynamoDBIntentRepository) -> None:
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC)
    ids = []
    for minute in range(5):
        intent = _new(customer, at=start + timedelta(minutes=minute))
        repo.add(intent)
        ids.append(intent.payment_intent_id)
    page = repo.list_for_customer(customer, merchant_id=None, limit=3, next_token=None)
    assert [i.payment_intent_id for i in page.items] == ids[::-1][:3]
    assert page.next_token
    rest = repo.list_for_customer(customer, merchant_id=None, limit=3, next_token=page.next_token)
    assert [i.payment_intent_id for i in rest.items] == ids[::-1][3:]
    with pytest.raises(InvalidRequest):
        repo.list_for_customer("cus_someone_else", merchant_id=None, limit=3, next_token=page.next_token)
    with pytest.raises(InvalidRequest):  # a page of the platform's list is no page of a merchant's
        repo.list_for_customer(customer, merchant_id="mer_1", limit=3, next_token=page.next_token)


def test_a_merchants_customer_is_listed_from_its_own_index(repo: DynamoDBIntentRepository) -> None:
    # Given one customer id used by two merchants (each merchant names its customers its own way)
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC)
    mine = [_new(customer, at=start + timedelta(minutes=m), merchant="mer_a") for m in range(3)]
    theirs = _new(customer, at=start + timedelta(minutes=9), merchant="mer_b")
    for intent in [*mine, theirs]:
        repo.add(intent)
    # Then each merchant's list holds its own payments only, paged through its own index
    page = repo.list_for_customer(customer, merchant_id="mer_a", limit=2, next_token=None)
    rest = repo.list_for_customer(customer, merchant_id="mer_a", limit=2, next_token=page.next_token)
    assert [i.payment_intent_id for i in page.items + rest.items] == [i.payment_intent_id for i in mine[::-1]]
    with pytest.raises(InvalidRequest):  # mer_a's token does not page mer_b's list
        repo.list_for_customer(customer, merchant_id="mer_b", limit=2, next_token=page.next_token)
    only = repo.list_for_customer(customer, merchant_id="mer_b", limit=10, next_token=None)
    assert [i.payment_intent_id for i in only.items] == [theirs.payment_intent_id]
    every = repo.list_for_customer(customer, merchant_id=None, limit=10, next_token=None)
    assert len(every.items) == 4
