"""The authorize use case on in-memory fakes: every outcome, and what it writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.domain.errors import (
    AuthenticationRequired,
    CardDeclined,
    FraudSuspected,
    InvalidState,
    NotFound,
    UpstreamUnavailable,
)
from payments.domain.fraud import Decision
from payments.domain.intents import CaptureMethod, PaymentIntent, Status, TransactionKind
from payments.domain.money import Money
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.intents import CreateIntent, create_intent
from payments.service.ports import GatewayAuthenticationRequired, GatewayDeclined
from tests.unit.fakes import (
    FakeClock,
    FakeFraud,
    FakeGateway,
    FakeIntentRepository,
    another_writer_after_next_read,
    unavailable,
)

World = tuple[FakeIntentRepository, FakeFraud, FakeGateway, FakeClock]


@pytest.fixture
def world() -> World:
    return FakeIntentRepository(), FakeFraud(), FakeGateway(), FakeClock()


def _intent(
    repo: FakeIntentRepository, clock: FakeClock, *, capture: CaptureMethod = CaptureMethod.MANUAL
) -> PaymentIntent:
    command = CreateIntent(
        amount=Money.of(5000, "USD"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        capture_method=capture,
        receipt_email="a@example.com",
    )
    return create_intent(command, intents=repo, clock=clock, time_to_live=timedelta(hours=1))


def _authorize(world: World, intent_id: str, request_id: str | None = None) -> PaymentIntent:
    repo, fraud, gateway, clock = world
    return authorize_intent(
        AuthorizeIntent(
            intent_id, device_fingerprint="dev_1", ip_address="198.51.100.7", request_id=request_id
        ),
        intents=repo,
        fraud=fraud,
        gateway=gateway,
        clock=clock,
    )


def test_approval_authorizes_and_records_one_transaction(world: World) -> None:
    repo, fraud, gateway, clock = world
    intent = _intent(repo, clock)

    result = _authorize(world, intent.payment_intent_id)

    assert result.status is Status.AUTHORIZED
    assert result.version == 2
    assert result.authorization_id == "auth_1"
    assert [t.kind for t in repo.transactions.values()] == [TransactionKind.AUTHORIZATION]
    # The fraud check saw the attempt's signals; the gateway key is derived from the intent.
    assert fraud.seen[0].device_fingerprint == "dev_1"
    assert fraud.seen[0].email == "a@example.com"
    assert gateway.calls == [("authorize", f"{intent.payment_intent_id}:authorize")]


def test_automatic_capture_captures_in_the_same_write(world: World) -> None:
    repo, _, _, clock = world
    intent = _intent(repo, clock, capture=CaptureMethod.AUTOMATIC)
    result = _authorize(world, intent.payment_intent_id)
    assert result.status is Status.CAPTURED
    assert result.amount_captured == 5000
    assert sorted(t.kind for t in repo.transactions.values()) == [
        TransactionKind.AUTHORIZATION,
        TransactionKind.CAPTURE,
    ]
    assert repo.writes == 2  # create + one atomic save


def test_capture_outage_leaves_the_authorization_in_place(world: World) -> None:
    repo, _, gateway, clock = world
    gateway.capture_result = unavailable()
    intent = _intent(repo, clock, capture=CaptureMethod.AUTOMATIC)
    result = _authorize(world, intent.payment_intent_id)
    assert result.status is Status.AUTHORIZED
    assert repo.get(intent.payment_intent_id).status is Status.AUTHORIZED


def test_decline_declines_the_intent(world: World) -> None:
    repo, _, gateway, clock = world
    gateway.authorize_result = GatewayDeclined("auth_9", "insufficient_funds")
    intent = _intent(repo, clock)
    with pytest.raises(CardDeclined) as declined:
        _authorize(world, intent.payment_intent_id)
    assert declined.value.decline_code == "insufficient_funds"
    stored = repo.get(intent.payment_intent_id)
    assert (stored.status, stored.decline_code) == (Status.DECLINED, "insufficient_funds")


def test_fraud_block_declines_without_calling_the_gateway(world: World) -> None:
    repo, fraud, gateway, clock = world
    fraud.decision = Decision.BLOCK
    intent = _intent(repo, clock)
    with pytest.raises(FraudSuspected):
        _authorize(world, intent.payment_intent_id)
    assert gateway.calls == []
    assert repo.get(intent.payment_intent_id).decline_code == "fraud_suspected"


def test_a_fraud_step_up_leaves_the_intent_pending_and_unwritten(world: World) -> None:
    repo, fraud, gateway, clock = world
    fraud.decision = Decision.STEP_UP
    intent = _intent(repo, clock)
    writes = repo.writes
    with pytest.raises(AuthenticationRequired):
        _authorize(world, intent.payment_intent_id)
    assert repo.get(intent.payment_intent_id).status is Status.PENDING
    assert repo.writes == writes
    assert gateway.calls == []


def test_an_issuer_step_up_leaves_the_intent_pending_with_its_authentication(world: World) -> None:
    # (what is kept, and what the authorization after the challenge does with it:
    # tests/unit/test_authentication_reference.py)
    repo, _, gateway, clock = world
    gateway.authorize_result = GatewayAuthenticationRequired("auth_3ds")
    intent = _intent(repo, clock)
    writes = repo.writes
    with pytest.raises(AuthenticationRequired):
        _authorize(world, intent.payment_intent_id)
    stored = repo.get(intent.payment_intent_id)
    assert (stored.status, stored.authentication_reference) == (Status.PENDING, "auth_3ds")
    assert repo.writes == writes + 1
    assert repo.transactions == {}


def test_gateway_outage_changes_nothing(world: World) -> None:
    repo, _, gateway, clock = world
    gateway.authorize_result = unavailable()
    intent = _intent(repo, clock)
    with pytest.raises(UpstreamUnavailable):
        _authorize(world, intent.payment_intent_id)
    stored = repo.get(intent.payment_intent_id)
    assert (stored.status, stored.version) == (Status.PENDING, 1)
    assert repo.transactions == {}


def test_expired_intent_is_expired_and_refused(world: World) -> None:
    repo, _, gateway, clock = world
    intent = _intent(repo, clock)
    clock.advance(hours=1)
    with pytest.raises(InvalidState):
        _authorize(world, intent.payment_intent_id)
    assert repo.get(intent.payment_intent_id).status is Status.EXPIRED
    assert gateway.calls == []


def test_unknown_intent_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        _authorize(world, "pi_missing")


def test_second_authorization_is_refused(world: World) -> None:
    repo, _, gateway, clock = world
    intent = _intent(repo, clock)
    _authorize(world, intent.payment_intent_id)
    with pytest.raises(InvalidState):
        _authorize(world, intent.payment_intent_id)
    assert len(gateway.calls) == 1


def test_a_concurrent_save_of_the_same_authorization_is_reused(world: World) -> None:
    # Given another request saved the very same gateway authorization between our read and our write
    repo, _, _, clock = world
    intent = _intent(repo, clock)
    another_writer_after_next_read(
        repo, lambda other: other.authorize(authorization_id="auth_1", now=clock())
    )
    # When we finish our own authorization, Then we answer the winner's result, with one transaction
    result = _authorize(world, intent.payment_intent_id)
    assert result.status is Status.AUTHORIZED
    assert result.authorization_id == "auth_1"
    assert len(repo.transactions) == 1


def test_a_concurrent_different_change_is_a_conflict(world: World) -> None:
    repo, _, _, clock = world
    intent = _intent(repo, clock)
    another_writer_after_next_read(
        repo, lambda other: other.decline(decline_code="generic_decline", now=clock())
    )
    with pytest.raises(InvalidState):
        _authorize(world, intent.payment_intent_id)
    assert repo.get(intent.payment_intent_id).status is Status.DECLINED


def test_an_authorization_that_cannot_be_recorded_is_voided(world: World) -> None:
    # Given the payment is declined by another writer while our gateway authorization is approved
    repo, _, gateway, clock = world
    intent = _intent(repo, clock)
    another_writer_after_next_read(
        repo, lambda other: other.decline(decline_code="fraud_suspected", now=clock())
    )
    # When our authorization cannot be saved, Then it is voided at the gateway, not left on the card
    with pytest.raises(InvalidState):
        _authorize(world, intent.payment_intent_id)
    assert gateway.calls[-1] == ("void", f"{intent.payment_intent_id}:void")


def test_the_checkout_authorizes_without_capturing_even_when_automatic(world: World) -> None:
    # Given an automatic-capture intent authorized by the checkout workflow's task
    repo, fraud, gateway, clock = world
    intent = _intent(repo, clock, capture=CaptureMethod.AUTOMATIC)
    result = authorize_intent(
        AuthorizeIntent(intent.payment_intent_id, capture_if_automatic=False),
        intents=repo,
        fraud=None,
        gateway=gateway,
        clock=clock,
    )
    # Then it is AUTHORIZED only: a compensation can still void it
    assert result.status is Status.AUTHORIZED
    assert [call for call, _ in gateway.calls] == ["authorize"]
    assert fraud.seen == []


# -- a request retried after its process died with the outcome recorded, its answer not kept -------


def test_the_same_request_again_answers_its_authorization(world: World) -> None:
    repo, _, gateway, clock = world
    intent_id = _intent(repo, clock).payment_intent_id
    first = _authorize(world, intent_id, "key-1")
    again = _authorize(world, intent_id, "key-1")
    assert (again.status, again.authorization_id) == (first.status, first.authorization_id)
    assert len(gateway.calls) == 1
    with pytest.raises(InvalidState):  # another request is still a second authorization, refused
        _authorize(world, intent_id, "key-2")
    with pytest.raises(InvalidState):
        _authorize(world, intent_id, None)


@pytest.mark.parametrize(("blocked_by", "error"), [("issuer", CardDeclined), ("fraud", FraudSuspected)])
def test_the_same_request_again_answers_its_decline(
    world: World, blocked_by: str, error: type[Exception]
) -> None:
    repo, fraud, gateway, clock = world
    if blocked_by == "issuer":
        gateway.authorize_result = GatewayDeclined("auth_9", "insufficient_funds")
    else:
        fraud.decision = Decision.BLOCK
    intent_id = _intent(repo, clock).payment_intent_id
    with pytest.raises(error):
        _authorize(world, intent_id, "key-1")
    with pytest.raises(error):
        _authorize(world, intent_id, "key-1")
    with pytest.raises(InvalidState):
        _authorize(world, intent_id, "key-2")
