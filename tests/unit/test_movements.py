"""Capture, void and refunds on in-memory fakes: validation before the gateway, one effect each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, InvalidState, NotFound
from payments.domain.intents import PaymentIntent, Status, TransactionKind, refund_id_for
from payments.domain.money import Money
from payments.service.movements import (
    CaptureIntent,
    RefundIntent,
    capture_intent,
    get_refund,
    refund_intent,
    refund_once,
    void_intent,
)
from payments.service.ports import GatewayApproved, GatewayCapture
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository, another_writer_after_next_read


@pytest.fixture
def repo() -> FakeIntentRepository:
    return FakeIntentRepository()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _authorized(repo: FakeIntentRepository, clock: FakeClock, amount: int = 10_000) -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=Money.of(amount, "EUR"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    repo.add(intent)
    intent.authorize(authorization_id="auth_1", now=clock())
    return repo.save(intent)


def _captured(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock, amount: int = 10_000
) -> str:
    intent = _authorized(repo, clock, amount)
    capture_intent(CaptureIntent(intent.payment_intent_id), intents=repo, gateway=gateway, clock=clock)
    return intent.payment_intent_id


def test_partial_capture_captures_that_much_and_releases_the_rest(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent = _authorized(repo, clock)
    result = capture_intent(
        CaptureIntent(intent.payment_intent_id, 6_000), intents=repo, gateway=gateway, clock=clock
    )
    assert (result.status, result.amount_captured) == (Status.CAPTURED, 6_000)
    assert gateway.calls == [("capture", f"{intent.payment_intent_id}:capture")]


@pytest.mark.parametrize("amount", [0, 10_001])
def test_a_capture_outside_the_authorization_never_reaches_the_gateway(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock, amount: int
) -> None:
    intent = _authorized(repo, clock)
    with pytest.raises(InvalidRequest):
        capture_intent(
            CaptureIntent(intent.payment_intent_id, amount), intents=repo, gateway=gateway, clock=clock
        )
    assert gateway.calls == []


def test_void_only_an_authorization(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent = _authorized(repo, clock)
    assert (
        void_intent(intent.payment_intent_id, intents=repo, gateway=gateway, clock=clock).status
        is Status.VOIDED
    )
    with pytest.raises(InvalidState):
        void_intent(intent.payment_intent_id, intents=repo, gateway=gateway, clock=clock)
    with pytest.raises(InvalidState):
        capture_intent(CaptureIntent(intent.payment_intent_id), intents=repo, gateway=gateway, clock=clock)


def test_several_partial_refunds_then_refunded(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _captured(repo, gateway, clock)
    first = refund_intent(RefundIntent(intent_id, "req-1", 3_000), intents=repo, gateway=gateway, clock=clock)
    assert repo.get(intent_id).status is Status.PARTIALLY_REFUNDED
    second = refund_intent(
        RefundIntent(intent_id, "req-2"), intents=repo, gateway=gateway, clock=clock
    )  # the rest
    assert (first.amount.amount, second.amount.amount) == (3_000, 7_000)
    assert (first.transaction_id, second.transaction_id) == (
        refund_id_for(intent_id, 1),
        refund_id_for(intent_id, 2),
    )
    stored = repo.get(intent_id)
    assert (stored.status, stored.amount_refunded, stored.refund_count) == (Status.REFUNDED, 10_000, 2)
    assert [key for call, key in gateway.calls if call == "refund"] == [
        f"{intent_id}:refund:1",
        f"{intent_id}:refund:2",
    ]
    assert get_refund(second.transaction_id, intents=repo).kind is TransactionKind.REFUND


def test_the_refunded_total_never_exceeds_the_captured_total(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _captured(repo, gateway, clock)
    refund_intent(RefundIntent(intent_id, "req-1", 9_000), intents=repo, gateway=gateway, clock=clock)
    calls = len(gateway.calls)
    with pytest.raises(InvalidRequest):
        refund_intent(RefundIntent(intent_id, "req-1", 1_001), intents=repo, gateway=gateway, clock=clock)
    assert len(gateway.calls) == calls


def test_no_refund_before_capture(repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock) -> None:
    intent = _authorized(repo, clock)
    with pytest.raises(InvalidState):
        refund_intent(
            RefundIntent(intent.payment_intent_id, "req-3"), intents=repo, gateway=gateway, clock=clock
        )


def test_a_concurrent_duplicate_refund_is_the_same_refund(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    # Given a duplicate of our refund recorded between our read and our write (same number, same
    # gateway refund: the gateway saw one key)
    intent_id = _captured(repo, gateway, clock)
    gateway_refund = GatewayApproved("re_gateway_1")
    gateway.refund = lambda **_: gateway_refund  # type: ignore[method-assign]
    another_writer_after_next_read(
        repo,
        lambda other: other.refund(
            amount=Money.of(2_000, "EUR"), now=clock(), gateway_reference="re_gateway_1", request_id="req-1"
        ),
    )
    refund = refund_intent(
        RefundIntent(intent_id, "req-1", 2_000), intents=repo, gateway=gateway, clock=clock
    )
    # Then we answer the recorded refund, and only one was recorded
    assert refund.transaction_id == refund_id_for(intent_id, 1)
    stored = repo.intents[intent_id]
    assert (stored.amount_refunded, stored.refund_count) == (2_000, 1)


def test_a_refund_is_recorded_even_when_something_else_moved_the_payment(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    # Given an unrelated change (a receipt flag) saved between our read and our write
    intent_id = _captured(repo, gateway, clock)
    another_writer_after_next_read(repo, lambda other: setattr(other, "updated_at", clock()))
    refund = refund_intent(
        RefundIntent(intent_id, "req-1", 2_500), intents=repo, gateway=gateway, clock=clock
    )
    # Then the gateway's refund is recorded on the payment as it now stands, once
    stored = repo.intents[intent_id]
    assert (stored.amount_refunded, stored.refund_count, stored.version) == (2_500, 1, 5)
    assert refund.transaction_id == refund_id_for(intent_id, 1)


def test_another_requests_concurrent_refund_is_a_retryable_conflict(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    # Given another request's refund recorded under the same number while ours was in flight
    intent_id = _captured(repo, gateway, clock)
    another_writer_after_next_read(
        repo,
        lambda other: other.refund(
            amount=Money.of(2_000, "EUR"), now=clock(), gateway_reference="re_1", request_id="other"
        ),
    )
    # Then ours is a retryable conflict, and only the other refund is recorded
    with pytest.raises(ConcurrentUpdate):
        refund_intent(RefundIntent(intent_id, "mine", 2_000), intents=repo, gateway=gateway, clock=clock)
    assert (repo.intents[intent_id].amount_refunded, repo.intents[intent_id].refund_count) == (2_000, 1)


def test_an_unknown_refund_is_not_found(repo: FakeIntentRepository) -> None:
    with pytest.raises(NotFound):
        get_refund("re_missing", intents=repo)


def test_a_refund_job_delivered_again_refunds_once(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _captured(repo, gateway, clock)
    job = RefundIntent(intent_id, "rb_1:2", 2_500, "damaged")
    # Another refund of the payment happens between the deliveries
    first = refund_once(job, intents=repo, gateway=gateway, clock=clock)
    refund_intent(RefundIntent(intent_id, "req-api", 1_000), intents=repo, gateway=gateway, clock=clock)
    again = refund_once(job, intents=repo, gateway=gateway, clock=clock)
    assert again == first
    stored = repo.get(intent_id)
    assert (stored.amount_refunded, stored.refund_count) == (3_500, 2)
    assert [key for call, key in gateway.calls if call == "refund"] == [
        f"{intent_id}:refund:1",
        f"{intent_id}:refund:2",
    ]
    # A different job for the same payment is a refund of its own
    other = refund_once(RefundIntent(intent_id, "rb_1:3", 500), intents=repo, gateway=gateway, clock=clock)
    assert other.transaction_id == refund_id_for(intent_id, 3)


# -- a request retried after its process died with the movement recorded, its answer not kept ------


def test_a_capture_retried_by_its_own_request_answers_the_capture_it_made(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _authorized(repo, clock).payment_intent_id
    command = CaptureIntent(intent_id, 4_000, request_id="key-1")
    first = capture_intent(command, intents=repo, gateway=gateway, clock=clock)
    again = capture_intent(command, intents=repo, gateway=gateway, clock=clock)
    assert (again.status, again.amount_captured) == (first.status, 4_000)
    assert [call for call, _ in gateway.calls] == ["capture"]
    with pytest.raises(InvalidState):  # another request still cannot capture again
        capture_intent(
            CaptureIntent(intent_id, 4_000, request_id="key-2"), intents=repo, gateway=gateway, clock=clock
        )
    with pytest.raises(InvalidState):  # nor can one with no key at all
        capture_intent(CaptureIntent(intent_id, 4_000), intents=repo, gateway=gateway, clock=clock)


def test_a_void_retried_by_its_own_request_answers_the_void_it_made(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _authorized(repo, clock).payment_intent_id
    void_intent(intent_id, intents=repo, gateway=gateway, clock=clock, request_id="key-1")
    again = void_intent(intent_id, intents=repo, gateway=gateway, clock=clock, request_id="key-1")
    assert again.status is Status.VOIDED
    assert [call for call, _ in gateway.calls] == ["void"]
    with pytest.raises(InvalidState):
        void_intent(intent_id, intents=repo, gateway=gateway, clock=clock, request_id="key-2")


def test_an_automatic_capture_whose_answer_was_lost_is_recorded_as_the_gateway_made_it(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    # Given the authorization's automatic capture went through at the gateway, its answer lost
    intent_id = _authorized(repo, clock, 10_000).payment_intent_id
    gateway.capture_result = ConcurrentUpdate(
        "the gateway refused the request: key used with another request"
    )
    gateway.already_captured = GatewayCapture("cap_auto", 10_000)
    # When the merchant captures part of it: refused, and the capture that did happen is on the books
    with pytest.raises(InvalidState, match="captured already, 10000"):
        capture_intent(CaptureIntent(intent_id, 4_000, "key-1"), intents=repo, gateway=gateway, clock=clock)
    stored = repo.get(intent_id)
    assert (stored.status, stored.amount_captured) == (Status.CAPTURED, 10_000)
    # The same amount is simply the capture it was
    other = _authorized(repo, clock, 10_000).payment_intent_id
    captured = capture_intent(CaptureIntent(other, 10_000), intents=repo, gateway=gateway, clock=clock)
    assert (captured.status, captured.amount_captured) == (Status.CAPTURED, 10_000)


def test_a_conflict_with_nothing_captured_is_retried_by_the_caller(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock
) -> None:
    intent_id = _authorized(repo, clock).payment_intent_id
    gateway.capture_result = ConcurrentUpdate("in flight")
    with pytest.raises(ConcurrentUpdate):
        capture_intent(CaptureIntent(intent_id, 4_000), intents=repo, gateway=gateway, clock=clock)
    assert repo.get(intent_id).status is Status.AUTHORIZED


def test_a_first_capture_reads_no_transaction_to_find_its_request(
    repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent_id = _authorized(repo, clock).payment_intent_id
    looked: list[str] = []
    read = repo.get_transaction
    monkeypatch.setattr(
        repo, "get_transaction", lambda transaction_id: looked.append(transaction_id) or read(transaction_id)
    )
    capture_intent(CaptureIntent(intent_id, 4_000, "key-1"), intents=repo, gateway=gateway, clock=clock)
    assert looked == []
    capture_intent(CaptureIntent(intent_id, 4_000, "key-1"), intents=repo, gateway=gateway, clock=clock)
    assert len(looked) == 1  # the retry looks, and finds its own capture
