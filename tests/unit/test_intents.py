"""The payment intent aggregate: creation, the transition table, commands and their records."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise, product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from payments.domain.errors import Conflict, InvalidRequest, InvalidState
from payments.domain.intents import (
    ONCE_PER_PAYMENT,
    SUPPORTED_LOCALES,
    TERMINAL,
    TRANSITIONS,
    CaptureMethod,
    PaymentIntent,
    ReceiptStatus,
    Status,
    Transaction,
    TransactionKind,
    to_millis,
    transaction_id_for,
)
from payments.domain.money import Money

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
TTL = timedelta(hours=24)
LATER = NOW + timedelta(minutes=5)
EXPECTED_TERMINAL = {Status.REFUNDED, Status.VOIDED, Status.DECLINED, Status.EXPIRED}
EDGES = {(source, target) for source, targets in TRANSITIONS.items() for target in targets}


def make_intent(amount: int = 5_000, code: str = "USD", **overrides: object) -> PaymentIntent:
    arguments: dict[str, object] = {
        "amount": Money.of(amount, code),
        "customer_id": "cus_123",
        "merchant_id": "mer_456",
        "payment_method": "pm_card_visa",
        "now": NOW,
        "time_to_live": TTL,
    }
    arguments.update(overrides)
    return PaymentIntent.create(**arguments)  # type: ignore[arg-type]


def authorized_intent(amount: int = 5_000, code: str = "USD") -> PaymentIntent:
    intent = make_intent(amount, code)
    intent.authorize(authorization_id="auth_1", now=LATER)
    return intent


def intent_in(status: Status) -> PaymentIntent:
    """An intent placed directly in `status`, with amounts that fit it."""
    intent = make_intent()
    money_moved = status not in {Status.PENDING, Status.DECLINED}
    captured = status in {Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}
    return dataclasses.replace(
        intent,
        status=status,
        amount_authorized=intent.amount.amount if money_moved else 0,
        amount_captured=intent.amount.amount if captured else 0,
    )


def state_of(intent: PaymentIntent) -> tuple[PaymentIntent, list[Transaction]]:
    """A detached copy of everything an intent holds, to compare before and after a command."""
    return dataclasses.replace(intent), list(intent.new_transactions)


# -- creation ------------------------------------------------------------------------------------


def test_create_starts_pending_at_version_one_and_expires_after_the_ttl() -> None:
    # When
    intent = make_intent(
        amount=1250,
        code="EUR",
        receipt_email="ana@example.com",
        locale="es-MX",
        description="two coffees",
        order_id="ord_9",
    )

    # Then
    assert intent.status is Status.PENDING
    assert intent.version == 1
    assert intent.created_at == NOW
    assert intent.updated_at == NOW
    assert intent.expires_at == NOW + TTL
    assert intent.amount == Money.of(1250, "EUR")
    assert intent.customer_id == "cus_123"
    assert intent.merchant_id == "mer_456"
    assert intent.payment_method == "pm_card_visa"
    assert intent.receipt_email == "ana@example.com"
    assert intent.locale == "es-MX"
    assert intent.description == "two coffees"
    assert intent.order_id == "ord_9"
    assert (intent.amount_authorized, intent.amount_captured, intent.amount_refunded) == (0, 0, 0)
    assert intent.authorization_id is None
    assert intent.transaction_id is None
    assert intent.decline_code is None
    assert intent.new_transactions == []


def test_create_defaults() -> None:
    intent = make_intent()
    assert intent.capture_method is CaptureMethod.MANUAL
    assert intent.locale == "en-US"
    assert intent.receipt_status is ReceiptStatus.NOT_SENT
    assert intent.receipt_email is None


@pytest.mark.parametrize("ttl", [timedelta(seconds=1), timedelta(minutes=15), timedelta(days=7)])
def test_expires_at_is_now_plus_the_time_to_live(ttl: timedelta) -> None:
    intent = make_intent(time_to_live=ttl)
    assert intent.expires_at - intent.created_at == ttl


def test_create_gives_each_intent_its_own_prefixed_id() -> None:
    ids = {make_intent().payment_intent_id for _ in range(50)}
    assert len(ids) == 50
    assert all(i.startswith("pi_") and len(i) == 29 for i in ids)


@pytest.mark.parametrize("amount", [0, -1, -5_000])
def test_create_refuses_zero_and_negative_amounts(amount: int) -> None:
    with pytest.raises(InvalidRequest, match="greater than zero"):
        make_intent(amount=amount)


@pytest.mark.parametrize("locale", ["fr-FR", "en-us", "en_US", "EN-US", "es", "", "es-ES"])
def test_create_refuses_unknown_locales(locale: str) -> None:
    with pytest.raises(InvalidRequest, match="locale must be one of"):
        make_intent(locale=locale)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_create_accepts_each_supported_locale(locale: str) -> None:
    assert make_intent(locale=locale).locale == locale


def test_supported_locales_are_the_documented_ones() -> None:
    assert set(SUPPORTED_LOCALES) == {"en-US", "es-MX"}


@pytest.mark.parametrize("code", ["JPY", "USD", "KWD", "CLF"])
def test_create_keeps_the_amount_in_any_currency(code: str) -> None:
    assert make_intent(amount=1, code=code).amount == Money.of(1, code)


@given(micros=st.integers(min_value=0, max_value=999_999))
@settings(max_examples=100)
def test_to_millis_drops_only_the_sub_millisecond_part(micros: int) -> None:
    moment = NOW.replace(microsecond=micros)

    kept = to_millis(moment)

    assert kept.microsecond == micros // 1000 * 1000
    assert timedelta(0) <= moment - kept < timedelta(milliseconds=1)
    assert to_millis(kept) == kept
    assert kept.tzinfo is moment.tzinfo


def test_times_are_kept_to_the_millisecond() -> None:
    # Given a clock reading with microseconds
    created = NOW.replace(microsecond=123_456)

    # When an intent is created and later authorized
    intent = make_intent(now=created)
    transaction = intent.authorize(authorization_id="auth_1", now=LATER.replace(microsecond=987_654))

    # Then every stored time is whole milliseconds
    assert intent.created_at == NOW.replace(microsecond=123_000)
    assert intent.expires_at == NOW.replace(microsecond=123_000) + TTL
    assert intent.updated_at == LATER.replace(microsecond=987_000)
    assert transaction.created_at == LATER.replace(microsecond=987_000)


# -- expiry --------------------------------------------------------------------------------------


def test_is_expired_from_the_exact_expiry_instant() -> None:
    intent = make_intent()
    assert not intent.is_expired(NOW)
    assert not intent.is_expired(intent.expires_at - timedelta(microseconds=1))
    assert intent.is_expired(intent.expires_at)
    assert intent.is_expired(intent.expires_at + timedelta(days=1))


# -- the transition table ------------------------------------------------------------------------


def test_statuses_are_the_documented_strings() -> None:
    assert {s.value for s in Status} == {
        "PENDING",
        "AUTHORIZED",
        "CAPTURED",
        "PARTIALLY_REFUNDED",
        "REFUNDED",
        "VOIDED",
        "DECLINED",
        "EXPIRED",
        "DISPUTED",
    }


def test_every_status_has_an_entry_and_targets_only_known_statuses() -> None:
    assert set(TRANSITIONS) == set(Status)
    for targets in TRANSITIONS.values():
        assert isinstance(targets, frozenset)
        assert targets <= set(Status)


@pytest.mark.parametrize("status", sorted(EXPECTED_TERMINAL))
def test_terminal_statuses_have_no_exits(status: Status) -> None:
    assert TRANSITIONS[status] == frozenset()


def test_terminal_set_is_exactly_the_statuses_without_exits() -> None:
    assert TERMINAL == EXPECTED_TERMINAL
    assert {s for s in Status if not TRANSITIONS[s]} == EXPECTED_TERMINAL


@pytest.mark.parametrize("status", sorted(set(Status) - EXPECTED_TERMINAL))
def test_non_terminal_statuses_have_an_exit(status: Status) -> None:
    assert TRANSITIONS[status]


def test_documented_edges_out_of_pending_and_authorized() -> None:
    assert TRANSITIONS[Status.PENDING] == {Status.AUTHORIZED, Status.DECLINED, Status.EXPIRED}
    assert TRANSITIONS[Status.AUTHORIZED] == {Status.CAPTURED, Status.VOIDED, Status.EXPIRED}


def test_nothing_ever_returns_to_pending_or_authorized() -> None:
    for source, target in EDGES:
        assert target is not Status.PENDING, source
        assert target is not Status.AUTHORIZED or source is Status.PENDING


def test_every_status_is_reachable_from_pending() -> None:
    # Given the table as a graph, When walking it from PENDING
    seen = {Status.PENDING}
    frontier = [Status.PENDING]
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)

    # Then every status can happen
    assert seen == set(Status)


def test_transition_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[Status.VOIDED] = frozenset({Status.PENDING})  # type: ignore[index]


@pytest.mark.parametrize(("source", "target"), list(product(Status, Status)))
def test_can_move_to_reads_the_table(source: Status, target: Status) -> None:
    assert intent_in(source).can_move_to(target) is ((source, target) in EDGES)


# -- authorize -----------------------------------------------------------------------------------


def test_authorize_from_pending_records_one_authorization() -> None:
    # Given
    intent = make_intent(amount=4_200, code="JPY")

    # When
    transaction = intent.authorize(authorization_id="auth_abc", now=LATER)

    # Then
    assert intent.status is Status.AUTHORIZED
    assert intent.amount_authorized == 4_200
    assert intent.amount_captured == 0
    assert intent.authorization_id == "auth_abc"
    assert intent.updated_at == LATER
    assert intent.version == 1
    assert intent.new_transactions == [transaction]
    assert transaction.kind is TransactionKind.AUTHORIZATION
    assert transaction.status is Status.AUTHORIZED
    assert transaction.amount == Money.of(4_200, "JPY")
    assert transaction.created_at == LATER
    assert transaction.gateway_reference == "auth_abc"
    assert transaction.decline_code is None
    assert transaction.payment_intent_id == intent.payment_intent_id
    assert transaction.customer_id == "cus_123"
    assert transaction.merchant_id == "mer_456"
    assert intent.transaction_id == transaction.transaction_id


def test_authorization_transaction_id_is_deterministic() -> None:
    # Given two copies of the same intent
    intent = make_intent()
    twin = dataclasses.replace(intent, new_transactions=[])

    # When each is authorized (as a retried write would)
    first = intent.authorize(authorization_id="auth_1", now=LATER)
    second = twin.authorize(authorization_id="auth_2", now=LATER + timedelta(seconds=3))

    # Then both movements carry the same id, derived from the intent id
    body = intent.payment_intent_id.removeprefix("pi_")
    assert first.transaction_id == second.transaction_id == f"txn_{body}_auth"
    assert first.transaction_id == transaction_id_for(intent.payment_intent_id, TransactionKind.AUTHORIZATION)


def test_transaction_ids_differ_per_kind_and_per_intent() -> None:
    ids = {transaction_id_for(pi, kind) for pi in ("pi_A", "pi_B") for kind in ONCE_PER_PAYMENT}
    assert len(ids) == 2 * len(ONCE_PER_PAYMENT)
    assert transaction_id_for("pi_01ABC", TransactionKind.CAPTURE) == "txn_01ABC_capt"
    assert transaction_id_for("pi_01ABC", TransactionKind.VOID) == "txn_01ABC_void"


@pytest.mark.parametrize("kind", sorted(set(TransactionKind) - ONCE_PER_PAYMENT))
def test_movements_that_repeat_are_not_named_by_the_payment(kind: TransactionKind) -> None:
    with pytest.raises(ValueError, match="named by their own id"):
        transaction_id_for("pi_01ABC", kind)


def test_authorizing_twice_is_invalid_state_and_changes_nothing() -> None:
    # Given an authorized intent
    intent = authorized_intent()
    before, transactions = state_of(intent)

    # When / Then
    with pytest.raises(InvalidState, match="not PENDING") as raised:
        intent.authorize(authorization_id="auth_2", now=LATER + timedelta(seconds=1))
    assert raised.value.details == {"status": "AUTHORIZED"}
    assert intent == before
    assert intent.new_transactions == transactions
    assert intent.authorization_id == "auth_1"


@pytest.mark.parametrize(
    "when",
    [TTL, TTL + timedelta(microseconds=1), TTL + timedelta(days=30)],
    ids=["at", "just-after", "long-after"],
)
def test_authorize_after_expiry_is_invalid_state(when: timedelta) -> None:
    # Given a pending intent whose time is up
    intent = make_intent()
    before, _ = state_of(intent)

    # When / Then
    with pytest.raises(InvalidState, match="expired") as raised:
        intent.authorize(authorization_id="auth_1", now=NOW + when)
    assert raised.value.details == {"status": "EXPIRED"}
    assert intent == before
    assert intent.new_transactions == []


def test_authorize_just_before_expiry_succeeds() -> None:
    intent = make_intent()
    intent.authorize(authorization_id="auth_1", now=NOW + TTL - timedelta(microseconds=1))
    assert intent.status is Status.AUTHORIZED


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.PENDING])
def test_authorize_from_any_non_pending_status_is_invalid_state(status: Status) -> None:
    # Given
    intent = intent_in(status)
    before, _ = state_of(intent)

    # When / Then
    with pytest.raises(InvalidState) as raised:
        intent.authorize(authorization_id="auth_x", now=LATER)
    assert raised.value.code == "invalid_state"
    assert isinstance(raised.value, Conflict)
    assert intent == before
    assert intent.new_transactions == []


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.PENDING])
def test_ensure_authorizable_refuses_non_pending(status: Status) -> None:
    with pytest.raises(InvalidState):
        intent_in(status).ensure_authorizable(LATER)


def test_ensure_authorizable_accepts_a_fresh_pending_intent() -> None:
    intent = make_intent()
    intent.ensure_authorizable(LATER)
    assert intent.status is Status.PENDING


# -- capture -------------------------------------------------------------------------------------


def test_full_capture_without_an_amount_captures_everything_authorized() -> None:
    # Given
    intent = authorized_intent(amount=5_000)
    at = LATER + timedelta(minutes=1)

    # When
    transaction = intent.capture(amount=None, now=at, gateway_reference="gw_cap_1")

    # Then
    assert intent.status is Status.CAPTURED
    assert intent.amount_captured == 5_000
    assert intent.amount_authorized == 5_000
    assert intent.updated_at == at
    assert transaction.kind is TransactionKind.CAPTURE
    assert transaction.status is Status.CAPTURED
    assert transaction.amount == Money.of(5_000, "USD")
    assert transaction.gateway_reference == "gw_cap_1"
    assert transaction.transaction_id == transaction_id_for(intent.payment_intent_id, TransactionKind.CAPTURE)
    assert [t.kind for t in intent.new_transactions] == [
        TransactionKind.AUTHORIZATION,
        TransactionKind.CAPTURE,
    ]


@pytest.mark.parametrize("amount", [1, 2_500, 4_999, 5_000])
def test_partial_capture_records_the_amount_captured(amount: int) -> None:
    intent = authorized_intent(amount=5_000)

    transaction = intent.capture(amount=Money.of(amount, "USD"), now=LATER, gateway_reference="gw")

    assert intent.status is Status.CAPTURED
    assert intent.amount_captured == amount
    assert intent.amount_authorized == 5_000
    assert transaction.amount == Money.of(amount, "USD")


@pytest.mark.parametrize("amount", [0, -1, 5_001, 10**12])
def test_capture_of_zero_negative_or_more_than_authorized_is_refused(amount: int) -> None:
    # Given
    intent = authorized_intent(amount=5_000)
    before, transactions = state_of(intent)

    # When / Then
    with pytest.raises(InvalidRequest, match="between 1 and 5000"):
        intent.capture(amount=Money.of(amount, "USD"), now=LATER, gateway_reference="gw")
    assert intent == before
    assert intent.new_transactions == transactions


@pytest.mark.parametrize("code", ["EUR", "JPY", "KWD"])
def test_capture_in_another_currency_is_refused(code: str) -> None:
    intent = authorized_intent(amount=5_000, code="USD")
    before, transactions = state_of(intent)

    with pytest.raises(InvalidRequest, match="capture must be in USD"):
        intent.capture(amount=Money.of(100, code), now=LATER, gateway_reference="gw")
    assert intent == before
    assert intent.new_transactions == transactions


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.AUTHORIZED])
def test_capture_from_anything_but_authorized_is_invalid_state(status: Status) -> None:
    intent = intent_in(status)
    before, _ = state_of(intent)

    with pytest.raises(InvalidState, match="only an AUTHORIZED payment can be captured"):
        intent.capture(amount=None, now=LATER, gateway_reference="gw")
    assert intent == before
    assert intent.new_transactions == []


def test_capturing_twice_is_invalid_state() -> None:
    intent = authorized_intent(amount=5_000)
    intent.capture(amount=Money.of(1_000, "USD"), now=LATER, gateway_reference="gw1")

    with pytest.raises(InvalidState):
        intent.capture(amount=Money.of(1_000, "USD"), now=LATER, gateway_reference="gw2")
    assert intent.amount_captured == 1_000
    assert len(intent.new_transactions) == 2


# -- void ----------------------------------------------------------------------------------------


def test_void_from_authorized() -> None:
    intent = authorized_intent(amount=750)

    transaction = intent.void(now=LATER, gateway_reference="gw_void")

    assert intent.status is Status.VOIDED
    assert intent.amount_captured == 0
    assert transaction.kind is TransactionKind.VOID
    assert transaction.status is Status.VOIDED
    assert transaction.amount == Money.of(750, "USD")
    assert transaction.gateway_reference == "gw_void"
    assert intent.new_transactions[-1] == transaction


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.AUTHORIZED])
def test_void_from_anything_but_authorized_is_invalid_state(status: Status) -> None:
    intent = intent_in(status)
    before, _ = state_of(intent)

    with pytest.raises(InvalidState, match="only an AUTHORIZED payment can be voided"):
        intent.void(now=LATER, gateway_reference="gw")
    assert intent == before
    assert intent.new_transactions == []


# -- decline -------------------------------------------------------------------------------------


def test_decline_from_pending_sets_the_code_and_records_a_transaction() -> None:
    # Given
    intent = make_intent(amount=300)

    # When
    intent.decline(decline_code="insufficient_funds", now=LATER, gateway_reference="gw_dec")

    # Then
    assert intent.status is Status.DECLINED
    assert intent.decline_code == "insufficient_funds"
    assert intent.updated_at == LATER
    assert intent.amount_authorized == 0
    [transaction] = intent.new_transactions
    assert transaction.kind is TransactionKind.AUTHORIZATION
    assert transaction.status is Status.DECLINED
    assert transaction.decline_code == "insufficient_funds"
    assert transaction.amount == Money.of(300, "USD")
    assert transaction.gateway_reference == "gw_dec"


def test_decline_without_a_gateway_reference() -> None:
    intent = make_intent()
    intent.decline(decline_code="generic_decline", now=LATER)
    assert intent.new_transactions[0].gateway_reference is None


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.PENDING])
def test_decline_from_anything_but_pending_is_invalid_state(status: Status) -> None:
    intent = intent_in(status)
    before, _ = state_of(intent)

    with pytest.raises(InvalidState, match="cannot become DECLINED"):
        intent.decline(decline_code="generic_decline", now=LATER)
    assert intent == before
    assert intent.decline_code is None
    assert intent.new_transactions == []


# -- expire --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.PENDING, Status.AUTHORIZED])
def test_expire_from_pending_or_authorized(status: Status) -> None:
    intent = intent_in(status)
    at = NOW + TTL

    intent.expire(at)

    assert intent.status is Status.EXPIRED
    assert intent.updated_at == at
    assert intent.new_transactions == []


@pytest.mark.parametrize("status", [s for s in Status if s not in {Status.PENDING, Status.AUTHORIZED}])
def test_expire_from_other_statuses_is_invalid_state(status: Status) -> None:
    intent = intent_in(status)
    before, _ = state_of(intent)

    with pytest.raises(InvalidState, match="cannot become EXPIRED"):
        intent.expire(NOW + TTL)
    assert intent == before


# -- saved ---------------------------------------------------------------------------------------


def test_saved_bumps_the_version_and_clears_the_records() -> None:
    # Given an intent with an unsaved authorization
    intent = authorized_intent()
    assert len(intent.new_transactions) == 1

    # When
    stored = intent.saved()

    # Then
    assert stored.version == 2
    assert stored.new_transactions == []
    assert stored.status is Status.AUTHORIZED
    assert stored == dataclasses.replace(intent, version=2)
    # and the original is left as it was
    assert intent.version == 1
    assert len(intent.new_transactions) == 1


def test_saved_twice_counts_each_write() -> None:
    stored = make_intent().saved().saved()
    assert stored.version == 3


def test_records_after_saving_are_only_the_new_ones() -> None:
    stored = authorized_intent().saved()
    stored.capture(amount=None, now=LATER, gateway_reference="gw")
    assert [t.kind for t in stored.new_transactions] == [TransactionKind.CAPTURE]


# -- random command sequences --------------------------------------------------------------------


EXPECTED_TARGET = {
    "authorize": Status.AUTHORIZED,
    "capture": Status.CAPTURED,
    "void": Status.VOIDED,
    "decline": Status.DECLINED,
    "expire": Status.EXPIRED,
}


class IntentLifecycle(RuleBasedStateMachine):
    """Drives one intent with random commands and checks it only ever moves along the table."""

    intent: PaymentIntent
    now: datetime
    terminal: Status | None

    @initialize(
        amount=st.integers(min_value=1, max_value=10**9),
        code=st.sampled_from(["JPY", "USD", "KWD", "CLF"]),
        ttl_seconds=st.integers(min_value=1, max_value=3 * 86_400),
    )
    def create(self, amount: int, code: str, ttl_seconds: int) -> None:
        self.now = NOW
        self.intent = make_intent(amount=amount, code=code, time_to_live=timedelta(seconds=ttl_seconds))
        self.terminal = None

    def _run(self, command: str, action: Callable[[], object], *, allowed: bool) -> None:
        # Given the intent as it stands
        before, transactions = state_of(self.intent)

        # When the command runs
        try:
            action()
        except (InvalidState, InvalidRequest):
            # Then a refused command was one the model also refuses, and it changed nothing
            assert not allowed, f"{command} refused from {before.status}"
            assert self.intent == before
            assert self.intent.new_transactions == transactions
            assert self.intent.status is before.status
            assert self.intent.version == before.version
            return

        # Then a command that went through was allowed and moved along one edge of the table
        assert allowed, f"{command} went through from {before.status}"
        assert (before.status, self.intent.status) in EDGES
        assert self.intent.status is EXPECTED_TARGET[command]
        assert self.intent.version == before.version
        assert self.intent.updated_at == to_millis(self.now)
        recorded = self.intent.new_transactions[len(transactions) :]
        assert self.intent.new_transactions[: len(transactions)] == transactions
        assert len(recorded) == (0 if command == "expire" else 1)
        for transaction in recorded:
            assert transaction.status is self.intent.status
            assert transaction.payment_intent_id == self.intent.payment_intent_id

    @rule(
        seconds=st.integers(min_value=0, max_value=2 * 86_400),
        micros=st.integers(min_value=0, max_value=999_999),
    )
    def advance_clock(self, seconds: int, micros: int) -> None:
        self.now += timedelta(seconds=seconds, microseconds=micros)

    @rule()
    def authorize(self) -> None:
        allowed = self.intent.status is Status.PENDING and self.now < self.intent.expires_at
        self._run(
            "authorize",
            lambda: self.intent.authorize(authorization_id="auth_1", now=self.now),
            allowed=allowed,
        )
        if allowed:
            assert self.intent.amount_authorized == self.intent.amount.amount

    @rule(
        data=st.data(),
        full=st.booleans(),
        foreign=st.booleans(),
    )
    def capture(self, data: st.DataObject, full: bool, foreign: bool) -> None:
        if full:
            amount = None
        else:
            figure = data.draw(
                st.one_of(
                    st.integers(min_value=-2, max_value=2),
                    st.integers(min_value=1, max_value=max(1, self.intent.amount.amount)),
                    st.integers(
                        min_value=self.intent.amount.amount - 1, max_value=self.intent.amount.amount + 2
                    ),
                ),
                label="capture amount",
            )
            code = "EUR" if foreign and self.intent.amount.currency.code != "EUR" else None
            amount = Money.of(figure, code or self.intent.amount.currency.code)
        authorized = self.intent.status is Status.AUTHORIZED
        fits = amount is None or (
            amount.currency == self.intent.amount.currency
            and 1 <= amount.amount <= self.intent.amount_authorized
        )
        self._run(
            "capture",
            lambda: self.intent.capture(amount=amount, now=self.now, gateway_reference="gw_cap"),
            allowed=authorized and fits,
        )
        if authorized and fits:
            expected = self.intent.amount.amount if amount is None else amount.amount
            assert self.intent.amount_captured == expected

    @rule()
    def void(self) -> None:
        self._run(
            "void",
            lambda: self.intent.void(now=self.now, gateway_reference="gw_void"),
            allowed=self.intent.status is Status.AUTHORIZED,
        )

    @rule(code=st.sampled_from(["generic_decline", "insufficient_funds"]))
    def decline(self, code: str) -> None:
        allowed = self.intent.status is Status.PENDING
        self._run("decline", lambda: self.intent.decline(decline_code=code, now=self.now), allowed=allowed)
        if allowed:
            assert self.intent.decline_code == code

    @rule()
    def expire(self) -> None:
        self._run(
            "expire",
            lambda: self.intent.expire(self.now),
            allowed=self.intent.status in {Status.PENDING, Status.AUTHORIZED},
        )

    @precondition(lambda self: self.intent.status is not Status.PENDING)
    @rule()
    def save(self) -> None:
        version = self.intent.version
        status = self.intent.status
        self.intent = self.intent.saved()
        assert self.intent.version == version + 1
        assert self.intent.status is status
        assert self.intent.new_transactions == []

    @invariant()
    def amounts_stay_in_order(self) -> None:
        intent = self.intent
        assert 0 <= intent.amount_captured <= intent.amount_authorized <= intent.amount.amount
        if intent.status is Status.PENDING or intent.status is Status.DECLINED:
            assert intent.amount_authorized == 0
        if intent.status in {Status.AUTHORIZED, Status.CAPTURED, Status.VOIDED}:
            assert intent.amount_authorized == intent.amount.amount
        if intent.status is Status.CAPTURED:
            assert intent.amount_captured > 0

    @invariant()
    def a_terminal_status_never_changes(self) -> None:
        if self.terminal is not None:
            assert self.intent.status is self.terminal
        elif self.intent.status in TERMINAL:
            self.terminal = self.intent.status


IntentLifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestIntentLifecycle = IntentLifecycle.TestCase


@given(
    commands=st.lists(
        st.sampled_from(["authorize", "capture", "void", "decline", "expire", "tick"]),
        min_size=1,
        max_size=12,
    ),
    amount=st.integers(min_value=1, max_value=10**6),
    captures=st.lists(st.integers(min_value=-1, max_value=10**6 + 1), min_size=12, max_size=12),
)
@settings(max_examples=200, deadline=None)
def test_command_sequences_only_follow_the_table(
    commands: list[str], amount: int, captures: list[int]
) -> None:
    # Given a fresh intent and a clock
    intent = make_intent(amount=amount)
    now = NOW
    history = [intent.status]

    for step, command in enumerate(commands):
        before, transactions = state_of(intent)
        try:
            # When
            if command == "tick":
                now += timedelta(hours=13)
                continue
            if command == "authorize":
                intent.authorize(authorization_id="auth", now=now)
            elif command == "capture":
                intent.capture(amount=Money.of(captures[step], "USD"), now=now, gateway_reference="gw")
            elif command == "void":
                intent.void(now=now, gateway_reference="gw")
            elif command == "decline":
                intent.decline(decline_code="generic_decline", now=now)
            else:
                intent.expire(now)
        except (InvalidState, InvalidRequest):
            # Then a refusal changes nothing
            assert intent == before
            assert intent.new_transactions == transactions
        else:
            # Then a change is one edge of the table
            assert (before.status, intent.status) in EDGES
            history.append(intent.status)
        assert intent.amount_captured <= intent.amount_authorized <= intent.amount.amount

    # And once terminal, the status never moved again
    for earlier, later in pairwise(history):
        assert earlier not in TERMINAL, (earlier, later)
