"""Who a request acts for: a merchant key's merchant alone, or any merchant a platform key names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.domain.errors import InvalidRequest, NotFound
from payments.domain.intents import PaymentIntent
from payments.domain.merchants import Caller
from payments.domain.money import Money
from payments.functions import http
from payments.service.merchant_scope import MerchantScopedIntents
from tests.unit.fakes import FakeIntentRepository

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _intent(merchant: str, customer: str = "cus_1") -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(1_000, "USD"),
        customer_id=customer,
        merchant_id=merchant,
        payment_method="pm_card_visa",
        now=NOW,
        time_to_live=timedelta(hours=1),
    )


def test_a_merchant_key_acts_for_its_own_merchant_named_or_not() -> None:
    caller = Caller("mer_a")
    assert caller.acting_for(None) == "mer_a"
    assert caller.acting_for("mer_a") == "mer_a"
    with pytest.raises(InvalidRequest):
        caller.acting_for("mer_b")


def test_a_platform_key_acts_for_the_merchant_it_names_and_must_name_one() -> None:
    platform = Caller.platform()
    assert platform.acting_for("mer_b") == "mer_b"
    with pytest.raises(InvalidRequest):
        platform.acting_for(None)


def test_the_platforms_books_are_not_a_merchants() -> None:
    Caller.platform().require_platform("the ledger's balances")
    with pytest.raises(NotFound):
        Caller("mer_a").require_platform("the ledger's balances")


def test_idempotency_scopes_differ_per_merchant_and_from_the_platform() -> None:
    scopes = {Caller("mer_a").scope, Caller("mer_b").scope, Caller.platform().scope}
    assert len(scopes) == 3
    assert Caller("mer_a").scope == Caller("mer_a").scope


def test_another_merchants_intent_reads_as_an_unknown_one() -> None:
    # Given one intent of mer_a's
    repo = FakeIntentRepository()
    intent = _intent("mer_a")
    repo.add(intent)
    pid = intent.payment_intent_id
    # Then mer_b's key gets exactly the unknown payment's answer; mer_a's and the platform's read it
    with pytest.raises(NotFound) as foreign:
        MerchantScopedIntents(repo, Caller("mer_b")).get(pid)
    with pytest.raises(NotFound) as unknown:
        MerchantScopedIntents(repo, Caller("mer_b")).get("pi_unknown")
    assert str(foreign.value) == f"no payment intent {pid}"
    assert str(unknown.value) == "no payment intent pi_unknown"
    assert MerchantScopedIntents(repo, Caller("mer_a")).get(pid).payment_intent_id == pid
    assert MerchantScopedIntents(repo, Caller.platform()).get(pid).payment_intent_id == pid


def test_another_merchants_intent_cannot_be_saved_or_created_through_a_merchant_key() -> None:
    repo = FakeIntentRepository()
    theirs = _intent("mer_a")
    repo.add(theirs)
    mine = MerchantScopedIntents(repo, Caller("mer_b"))
    with pytest.raises(NotFound):
        mine.save(theirs)
    with pytest.raises(ValueError, match="own merchant"):
        mine.add(_intent("mer_a"))
    assert repo.writes == 1


def test_a_merchant_key_lists_its_own_customer_whatever_merchant_is_asked() -> None:
    repo = FakeIntentRepository()
    for merchant in ("mer_a", "mer_b"):
        repo.add(_intent(merchant, customer="cus_shared"))
    listed = MerchantScopedIntents(repo, Caller("mer_b")).list_for_customer(
        "cus_shared", merchant_id="mer_a", limit=10, next_token=None
    )
    assert [intent.merchant_id for intent in listed.items] == ["mer_b"]
    every = MerchantScopedIntents(repo, Caller.platform()).list_for_customer(
        "cus_shared", merchant_id=None, limit=10, next_token=None
    )
    assert sorted(intent.merchant_id for intent in every.items) == ["mer_a", "mer_b"]


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"scope": "platform", "keyId": "sk_live_…0001"}, Caller.platform()),
        ({"scope": "merchant", "merchantId": "mer_a", "keyId": "sk_live_…0002"}, Caller("mer_a")),
    ],
)
def test_the_caller_is_read_from_the_authorizers_context(context: dict[str, str], expected: Caller) -> None:
    event = {"requestContext": {"authorizer": {"lambda": context}}}
    assert http.caller(event) == expected


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"merchantId": "mer_a"},  # no scope: never taken as anything
        {"scope": "merchant"},  # a merchant key naming no merchant
        {"scope": "merchant", "merchantId": ""},
        {"scope": "admin"},
    ],
)
def test_a_request_without_a_clear_key_context_fails_closed(context: dict[str, str] | None) -> None:
    event = {"requestContext": {} if context is None else {"authorizer": {"lambda": context}}}
    with pytest.raises(RuntimeError):
        http.caller(event)
