"""Webhook signatures and disputes: pure rules and the use case on fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.domain import webhooks
from payments.domain.errors import InvalidRequest, InvalidSignature, InvalidState, NotFound
from payments.domain.intents import PaymentIntent, Status
from payments.domain.money import Money
from payments.service.webhooks import GatewayEvent, handle_gateway_event, movement_id_for, parse_event
from tests.unit.fakes import FakeClock, FakeIntentRepository

SECRET = "whsec_test_0123456789"
BODY = b'{"id": "evt_1", "type": "dispute.created"}'
NOW = 1_800_000_000


def test_a_good_signature_passes() -> None:
    webhooks.verify(webhooks.sign(SECRET, NOW, BODY), BODY, secret=SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",
        "t=notanumber,v1=abc",
        webhooks.sign("whsec_some_other_secret", NOW, BODY),
        webhooks.sign(SECRET, NOW, BODY + b" "),
        webhooks.sign(SECRET, NOW - 301, BODY),
        webhooks.sign(SECRET, NOW + 301, BODY),
    ],
)
def test_bad_missing_tampered_or_stale_signatures_are_refused(header: str | None) -> None:
    with pytest.raises(InvalidSignature):
        webhooks.verify(header, BODY, secret=SECRET, now=NOW)


def test_any_matching_v1_among_several_passes() -> None:
    good = webhooks.sign(SECRET, NOW, BODY)
    webhooks.verify(f"{good},v1={'0' * 64}", BODY, secret=SECRET, now=NOW + 300)


def _captured(repo: FakeIntentRepository, clock: FakeClock, *, refunded: int = 0) -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=Money.of(8_000, "GBP"),
        customer_id="c",
        merchant_id="m",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    repo.add(intent)
    intent.authorize(authorization_id="auth_1", now=clock())
    intent.capture(amount=None, now=clock(), gateway_reference="cap_1")
    if refunded:
        intent.refund(amount=Money.of(refunded, "GBP"), now=clock(), gateway_reference="re_1")
    return repo.save(intent)


def event(event_id: str, kind: str, intent_id: str, outcome: str | None = None) -> GatewayEvent:
    return GatewayEvent(event_id, kind, intent_id, "dp_1", outcome)


@pytest.mark.parametrize(
    ("refunded", "outcome", "status", "amount_refunded"),
    [
        (0, "won", Status.CAPTURED, 0),
        (3_000, "won", Status.PARTIALLY_REFUNDED, 3_000),
        (0, "lost", Status.REFUNDED, 8_000),
        (3_000, "lost", Status.REFUNDED, 8_000),
    ],
)
def test_a_dispute_opens_then_closes(
    refunded: int, outcome: str, status: Status, amount_refunded: int
) -> None:
    repo, clock = FakeIntentRepository(), FakeClock()
    intent = _captured(repo, clock, refunded=refunded)
    opened = handle_gateway_event(
        event("evt_1", "dispute.created", intent.payment_intent_id), intents=repo, clock=clock
    )
    assert (opened, repo.get(intent.payment_intent_id).status) == ("applied", Status.DISPUTED)
    at_stake = repo.get_transaction(movement_id_for("evt_1")).amount.amount
    assert at_stake == 8_000 - refunded
    closed = handle_gateway_event(
        event("evt_2", "dispute.closed", intent.payment_intent_id, outcome), intents=repo, clock=clock
    )
    stored = repo.get(intent.payment_intent_id)
    assert (closed, stored.status, stored.amount_refunded) == ("applied", status, amount_refunded)


def test_a_replayed_event_changes_nothing() -> None:
    repo, clock = FakeIntentRepository(), FakeClock()
    intent = _captured(repo, clock)
    handle_gateway_event(
        event("evt_1", "dispute.created", intent.payment_intent_id), intents=repo, clock=clock
    )
    version = repo.get(intent.payment_intent_id).version
    again = handle_gateway_event(
        event("evt_1", "dispute.created", intent.payment_intent_id), intents=repo, clock=clock
    )
    assert (again, repo.get(intent.payment_intent_id).version) == ("replayed", version)


def test_a_close_before_its_open_is_refused_so_the_gateway_retries_it() -> None:
    repo, clock = FakeIntentRepository(), FakeClock()
    intent = _captured(repo, clock)
    with pytest.raises(InvalidState):
        handle_gateway_event(
            event("evt_2", "dispute.closed", intent.payment_intent_id, "won"), intents=repo, clock=clock
        )


def test_unknown_payments_and_types() -> None:
    repo, clock = FakeIntentRepository(), FakeClock()
    with pytest.raises(NotFound):
        handle_gateway_event(event("evt_1", "dispute.created", "pi_nope"), intents=repo, clock=clock)
    assert (
        handle_gateway_event(event("evt_1", "charge.updated", "pi_nope"), intents=repo, clock=clock)
        == "ignored"
    )


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"id": "evt_1", "type": "dispute.created"},
        {"id": "evt 1", "type": "dispute.created", "data": {}},
        {"id": 7, "type": "dispute.created", "data": {}},
        {"id": "evt_1", "type": "dispute.closed", "data": {"outcome": "maybe"}},
    ],
)
def test_malformed_events_are_invalid(body: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_event(body)
