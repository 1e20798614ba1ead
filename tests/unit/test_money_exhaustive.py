"""Money code fails loudly on anything new: every event type has a posting rule, every transaction
kind an event and (once per payment) an id suffix from a written-out table, every gateway answer its
own type, and an answer of an unknown shape is an exception, never a None or a skipped step.

The rules are exhaustive `match` statements ending in `typing.assert_never`, so under `mypy --strict`
a member added to an enum (or a result type added to `GatewayResult`) without its case is a type
error; `test_mypy_rejects_a_missing_case` runs mypy on copies of the real modules with one case
taken out to show it. At run time `assert_never` is a call, not an `assert`, so `python -O` keeps it.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from payments.adapters import dynamodb_refund_batches
from payments.adapters.gateway_client import (
    HttpGateway,
    UnexpectedGatewayAnswer,
    authorization_result,
    movement_result,
)
from payments.domain import events as events_module
from payments.domain import intents as intents_module
from payments.domain import ledger as ledger_module
from payments.domain.checkout import amount_tier, tracking_id_for
from payments.domain.errors import InvalidRequest, InvalidState, UpstreamUnavailable
from payments.domain.events import EventType, PaymentEvent, event_for, event_type_for
from payments.domain.fraud import Decision, FraudAssessment, FraudSignals
from payments.domain.intents import (
    ONCE_PER_PAYMENT,
    PaymentIntent,
    Status,
    Transaction,
    TransactionKind,
    is_once_per_payment,
    transaction_id_for,
    transaction_id_suffix,
)
from payments.domain.ledger import legs_for, postings_for
from payments.domain.money import Money
from payments.domain.refund_batches import RowState
from payments.gateway.sandbox import CHARGEBACK_FEE, capture_fee, fee_for
from payments.service import authorize as authorize_module
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.checkout import compensate
from payments.service.intents import moves_from
from payments.service.movements import CaptureIntent, RefundIntent, capture_intent, refund_intent, void_intent
from payments.service.ports import (
    CheckoutRecord,
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayDeclined,
    GatewayOutcome,
)
from payments.service.webhooks import GatewayEvent, dispute_won, handle_gateway_event
from payments.settlement.rows import MovementType
from tests.unit.fakes import FakeAlerts, FakeClock, FakeFraud, FakeGateway, FakeIntentRepository
from tests.unit.test_checkout_alerts import Checkouts, EmptyBooks

ROOT = Path(__file__).resolve().parents[2]
USD = Money.of(2_500, "USD")


def an_intent(clock: FakeClock) -> PaymentIntent:
    return PaymentIntent.create(
        amount=USD,
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )


def an_event(event_type: EventType) -> PaymentEvent:
    return PaymentEvent(
        event_id=f"evt_{event_type.value}",
        event_type=event_type,
        payment_intent_id="pi_1",
        customer_id="cus_1",
        amount=USD,
        amount_tier=amount_tier(USD),
        occurred_at=FakeClock()(),
        status=Status.CAPTURED,
        released=USD,
        merchant_id="mer_1",
    )


# -- ledger: every event type has its posting rule ---------------------------------------------------


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_has_a_posting_rule(event_type: EventType) -> None:
    legs = legs_for(an_event(event_type))
    entry = postings_for(an_event(event_type))
    if event_type is EventType.DECLINED:  # the one event that moves no money, said so by its rule
        assert legs == ()
        assert entry is None
    else:
        assert legs, event_type
        assert entry is not None
        assert entry.balances()
        assert entry.kind == event_type.value


def test_an_event_type_without_a_rule_raises_instead_of_being_left_off_the_books() -> None:
    unknown = replace(an_event(EventType.CAPTURED), event_type=cast(EventType, "CHARGEBACK_REVERSED"))
    with pytest.raises(AssertionError, match="CHARGEBACK_REVERSED"):
        legs_for(unknown)
    with pytest.raises(AssertionError, match="CHARGEBACK_REVERSED"):
        postings_for(unknown)


def test_the_guard_survives_python_dash_o() -> None:
    # `python -O` strips `assert` statements; assert_never is a call, so the refusal stays.
    script = (
        "from dataclasses import replace\n"
        "from datetime import UTC, datetime\n"
        "from payments.domain.events import EventType, PaymentEvent\n"
        "from payments.domain.checkout import AmountTier\n"
        "from payments.domain.intents import Status\n"
        "from payments.domain.ledger import legs_for\n"
        "from payments.domain.money import Money\n"
        "money = Money.of(1, 'USD')\n"
        "tier, now = list(AmountTier)[0], datetime.now(UTC)\n"
        "event = PaymentEvent('e', EventType.CAPTURED, 'pi', 'cus', money, tier, now, Status.CAPTURED)\n"
        "try:\n"
        "    legs_for(replace(event, event_type='NEW'))\n"
        "except AssertionError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter, our own script)
        [sys.executable, "-O", "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "refused"


@pytest.mark.parametrize("kind", list(TransactionKind))
def test_every_transaction_kind_announces_an_event(kind: TransactionKind) -> None:
    transaction = Transaction("txn_1", "pi_1", "cus_1", "mer_1", kind, Status.CAPTURED, USD, FakeClock()())
    assert isinstance(event_type_for(transaction), EventType)
    assert event_for(transaction).event_type is event_type_for(transaction)


def test_a_declined_authorization_announces_a_decline() -> None:
    declined = Transaction(
        "txn_1", "pi_1", "cus_1", "mer_1", TransactionKind.AUTHORIZATION, Status.DECLINED, USD, FakeClock()()
    )
    assert event_type_for(declined) is EventType.DECLINED


def test_a_transaction_kind_without_an_event_raises() -> None:
    transaction = Transaction(
        "txn_1",
        "pi_1",
        "cus_1",
        "mer_1",
        cast(TransactionKind, "ADJUSTMENT"),
        Status.CAPTURED,
        USD,
        FakeClock()(),
    )
    with pytest.raises(AssertionError, match="ADJUSTMENT"):
        event_type_for(transaction)


# -- transaction ids: an explicit table, never the kind's spelling ---------------------------------


def test_every_kind_is_named_by_the_payment_or_by_its_own_id() -> None:
    assert {kind for kind in TransactionKind if is_once_per_payment(kind)} == ONCE_PER_PAYMENT
    assert {TransactionKind.AUTHORIZATION, TransactionKind.CAPTURE, TransactionKind.VOID} == ONCE_PER_PAYMENT


def test_every_once_per_payment_kind_has_its_own_suffix() -> None:
    suffixes = {kind: transaction_id_suffix(cast(Any, kind)) for kind in ONCE_PER_PAYMENT}
    # Pinned: ids already stored (and the ledger entries and events named by them) use these.
    assert suffixes == {
        TransactionKind.AUTHORIZATION: "auth",
        TransactionKind.CAPTURE: "capt",
        TransactionKind.VOID: "void",
    }
    assert len(set(suffixes.values())) == len(suffixes)
    ids = {transaction_id_for("pi_01ABC", cast(Any, kind)) for kind in ONCE_PER_PAYMENT}
    assert ids == {"txn_01ABC_auth", "txn_01ABC_capt", "txn_01ABC_void"}


def test_no_id_is_made_from_the_first_letters_of_a_kind() -> None:
    source = inspect.getsource(intents_module)
    assert not re.search(r"kind\.(value|name)[^\n]*\[[^\]]*:", source)


@pytest.mark.parametrize("kind", sorted(set(TransactionKind) - ONCE_PER_PAYMENT))
def test_a_kind_named_by_its_own_id_gets_no_made_up_one(kind: TransactionKind) -> None:
    with pytest.raises(ValueError, match="named by their own id"):
        transaction_id_for("pi_1", cast(Any, kind))


def test_each_once_per_payment_movement_starts_from_a_status() -> None:
    assert {kind: moves_from(cast(Any, kind)) for kind in ONCE_PER_PAYMENT} == {
        TransactionKind.AUTHORIZATION: Status.PENDING,
        TransactionKind.CAPTURE: Status.AUTHORIZED,
        TransactionKind.VOID: Status.AUTHORIZED,
    }
    with pytest.raises(AssertionError):
        moves_from(cast(Any, TransactionKind.REFUND))


# -- other exhaustive tables ------------------------------------------------------------------------


def test_every_row_outcome_has_its_counter() -> None:
    counters = {state: dynamodb_refund_batches.counter_for(state) for state in RowState}
    assert counters == {
        RowState.SUCCEEDED: "succeeded",
        RowState.FAILED: "failed",
        RowState.DEAD_LETTERED: "deadLettered",
    }


def test_every_settled_movement_type_has_a_fee() -> None:
    assert {kind: fee_for(kind, 2_500) for kind in MovementType} == {
        MovementType.CAPTURE: capture_fee(2_500),
        MovementType.REFUND: 0,
        MovementType.CHARGEBACK: CHARGEBACK_FEE,
    }


# -- gateway answers: one type each, anything else an exception --------------------------------------


def test_each_authorization_answer_is_its_own_type() -> None:
    approved = authorization_result(200, {"id": "auth_1", "status": "approved"})
    declined = authorization_result(
        200, {"id": "auth_2", "status": "declined", "declineCode": "do_not_honor"}
    )
    step_up = authorization_result(200, {"id": "auth_3", "status": "authentication_required"})
    assert approved == GatewayApproved("auth_1")
    assert declined == GatewayDeclined("auth_2", "do_not_honor")
    assert step_up == GatewayAuthenticationRequired("auth_3")
    assert [result.outcome for result in (approved, declined, step_up)] == list(GatewayOutcome)


@pytest.mark.parametrize("reason", [{}, {"declineCode": None}, {"declineCode": ""}])
def test_a_decline_without_a_reason_is_a_generic_decline(reason: dict[str, Any]) -> None:
    answer = {"id": "auth_2", "status": "declined", **reason}
    assert authorization_result(200, answer) == GatewayDeclined("auth_2", "generic_decline")


@pytest.mark.parametrize(
    ("status", "answer", "says"),
    [
        (200, {"id": "auth_1", "status": "pending_review"}, "unknown status 'pending_review'"),
        (200, {"id": "auth_1", "status": None}, "unknown status None"),
        (200, {"id": "auth_1", "status": ["approved"]}, "unknown status"),
        (200, {"status": "approved"}, "without an id"),
        (200, {"id": "", "status": "approved"}, "without an id"),
        (200, {"id": 7, "status": "approved"}, "without an id"),
        (200, {"id": "auth_1", "status": "declined", "declineCode": 51}, "declineCode=51"),
        (200, ["approved"], "list, not an object"),
        (200, None, "NoneType, not an object"),
        (201, {"id": "auth_1", "status": "approved"}, "HTTP 201"),
        (302, None, "HTTP 302"),
    ],
)
def test_an_authorization_answer_of_an_unknown_shape_raises(status: int, answer: Any, says: str) -> None:
    with pytest.raises(UnexpectedGatewayAnswer, match=re.escape(says)) as raised:
        authorization_result(status, answer)
    assert isinstance(raised.value, UpstreamUnavailable)  # still a 503 at the API, nothing recorded
    assert raised.value.upstream == "gateway"


@pytest.mark.parametrize("movement", ["capture", "void", "refund"])
@pytest.mark.parametrize("status", ["declined", "authentication_required"])
def test_a_capture_void_or_refund_answered_as_anything_but_approved_raises(
    movement: str, status: str
) -> None:
    with pytest.raises(UnexpectedGatewayAnswer, match=f"answered a {movement} with status '{status}'"):
        movement_result(movement, 200, {"id": "x_1", "status": status, "declineCode": "nope"})
    assert movement_result(movement, 200, {"id": "x_1", "status": "approved"}) == GatewayApproved("x_1")


class _Answer:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.data = json.dumps(body).encode()


class _Pool:
    """Stands in for urllib3's pool: every request gets the one answer."""

    def __init__(self, status: int, body: Any) -> None:
        self.answer = _Answer(status, body)

    def request(self, *_: Any, **__: Any) -> _Answer:
        return self.answer


def _client(status: int, body: Any) -> HttpGateway:
    return HttpGateway("http://gateway.test", pool=cast(Any, _Pool(status, body)), max_attempts=1)


@pytest.mark.parametrize(
    ("call", "movement"),
    [
        (lambda gateway: gateway.void(idempotency_key="k", authorization_id="auth_1"), "void"),
        (
            lambda gateway: gateway.capture(idempotency_key="k", authorization_id="auth_1", amount=USD),
            "capture",
        ),
        (
            lambda gateway: gateway.refund(idempotency_key="k", authorization_id="auth_1", amount=USD),
            "refund",
        ),
    ],
)
def test_the_http_gateway_never_hands_a_declined_movement_on(call: Any, movement: str) -> None:
    gateway = _client(200, {"id": "x_1", "status": "declined", "declineCode": "do_not_honor"})
    with pytest.raises(UnexpectedGatewayAnswer, match=movement):
        call(gateway)


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ({"captureId": None, "capturedAmount": 0}, None),
        ({"captureId": "cap_1", "capturedAmount": 800}, "cap_1"),
    ],
)
def test_what_was_captured_is_none_only_when_nothing_was(view: dict[str, Any], expected: str | None) -> None:
    found = _client(200, view).captured(authorization_id="auth_1")
    assert (found and found.reference) == expected


@pytest.mark.parametrize(
    "view",
    [
        {"captureId": "cap_1", "capturedAmount": None},
        {"captureId": "cap_1", "capturedAmount": "800"},
        {"captureId": "cap_1", "capturedAmount": 0},
        {"captureId": 12, "capturedAmount": 800},
        {"captureId": "", "capturedAmount": 800},
    ],
)
def test_a_capture_described_in_an_unknown_shape_raises_instead_of_reading_as_none(
    view: dict[str, Any],
) -> None:
    with pytest.raises(UnexpectedGatewayAnswer, match="described a capture"):
        _client(200, view).captured(authorization_id="auth_1")


def test_an_open_authorization_without_an_id_raises() -> None:
    listing = {"data": [{"status": "approved", "voided": False, "captureId": None}]}
    with pytest.raises(UnexpectedGatewayAnswer, match="without an id"):
        _client(200, listing).open_authorizations(reference="pi_1")


# -- the service: no assert, no optional id, every outcome handled -------------------------------------


def test_no_assert_statement_guards_the_money_paths() -> None:
    for folder in ("domain", "service", "adapters", "gateway"):
        for path in (ROOT / "src" / "payments" / folder).glob("*.py"):
            lines = path.read_text().splitlines()
            found = [n for n, line in enumerate(lines, 1) if re.match(r"\s*assert\s", line)]
            assert not found, f"{path.name}: assert on line(s) {found}"


def test_the_compensation_cannot_be_given_a_declined_void() -> None:
    # A void answered as declined never reaches the compensation as a result: the gateway raises,
    # nothing is recorded, nothing is reversed, and the task fails under the error's own name.
    clock = FakeClock()
    intents, checkouts = FakeIntentRepository(), Checkouts()
    intent = an_intent(clock)
    intent.authorize(authorization_id="auth_1", now=clock())
    intents.add(intent)
    tracking_id = tracking_id_for(intent.payment_intent_id)
    checkouts.create_if_absent(CheckoutRecord(tracking_id, intent.payment_intent_id, "arn:x"))

    class DeclinesVoids(FakeGateway):
        def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved:
            return movement_result("void", 200, {"id": "void_1", "status": "declined"})

    with pytest.raises(UnexpectedGatewayAnswer, match="void"):
        compensate(
            intent.payment_intent_id,
            tracking_id,
            code="upstream_unavailable",
            message="the ledger was down",
            intents=intents,
            gateway=DeclinesVoids(),
            ledger=EmptyBooks(),
            checkouts=checkouts,
            alerts=FakeAlerts(),
            clock=clock,
        )
    assert intents.get(intent.payment_intent_id).status is Status.AUTHORIZED
    assert checkouts.get(tracking_id).failure_code is None


def _authorized_without_an_authorization_id(
    clock: FakeClock, *, captured: bool = False
) -> FakeIntentRepository:
    """A record that says AUTHORIZED (or CAPTURED) but lost its gateway authorization."""
    intents = FakeIntentRepository()
    intent = an_intent(clock)
    intent.authorize(authorization_id="auth_1", now=clock())
    if captured:
        intent.capture(amount=None, now=clock(), gateway_reference="cap_1")
    intents.add(replace(intent, authorization_id=None, new_transactions=[]))
    return intents


def test_a_payment_without_a_gateway_authorization_moves_no_money() -> None:
    clock, gateway = FakeClock(), FakeGateway()
    intents = _authorized_without_an_authorization_id(clock)
    payment_intent_id = next(iter(intents.intents))
    with pytest.raises(InvalidState, match="no gateway authorization"):
        capture_intent(CaptureIntent(payment_intent_id), intents=intents, gateway=gateway, clock=clock)
    with pytest.raises(InvalidState, match="no gateway authorization"):
        void_intent(payment_intent_id, intents=intents, gateway=gateway, clock=clock)
    with pytest.raises(InvalidState, match="no gateway authorization"):
        compensate(
            payment_intent_id,
            tracking_id_for(payment_intent_id),
            code="upstream_unavailable",
            message="x",
            intents=intents,
            gateway=gateway,
            ledger=EmptyBooks(),
            checkouts=Checkouts(),
            alerts=FakeAlerts(),
            clock=clock,
        )
    captured = _authorized_without_an_authorization_id(clock, captured=True)
    with pytest.raises(InvalidState, match="no gateway authorization"):
        refund_intent(
            RefundIntent(next(iter(captured.intents)), "req_1"),
            intents=captured,
            gateway=gateway,
            clock=clock,
        )
    assert gateway.calls == []


def test_an_unknown_gateway_answer_to_an_authorization_raises_and_records_nothing() -> None:
    clock = FakeClock()
    intents, gateway = FakeIntentRepository(), FakeGateway()
    intent = an_intent(clock)
    intents.add(intent)
    gateway.authorize_result = cast(Any, object())  # a shape no case handles
    with pytest.raises(AssertionError):
        authorize_intent(
            AuthorizeIntent(intent.payment_intent_id),
            intents=intents,
            fraud=None,
            gateway=gateway,
            clock=clock,
        )
    assert intents.get(intent.payment_intent_id).status is Status.PENDING


def test_an_unknown_fraud_decision_is_never_taken_for_an_allow() -> None:
    clock = FakeClock()
    intents, gateway = FakeIntentRepository(), FakeGateway()
    intent = an_intent(clock)
    intents.add(intent)

    class NewDecision(FakeFraud):
        def assess(self, signals: FraudSignals) -> FraudAssessment:
            return FraudAssessment(decision=cast(Decision, "review"), score=50, reasons=())

    with pytest.raises(AssertionError, match="review"):
        authorize_intent(
            AuthorizeIntent(intent.payment_intent_id),
            intents=intents,
            fraud=NewDecision(),
            gateway=gateway,
            clock=clock,
        )
    assert gateway.calls == []


@pytest.mark.parametrize("outcome", [None, "draw", "WON", ""])
def test_a_dispute_closed_with_an_unknown_outcome_is_refused_not_lost(outcome: str | None) -> None:
    event = GatewayEvent("evt_1", "dispute.closed", "pi_1", "dp_1", outcome)
    with pytest.raises(InvalidRequest, match="won or lost"):
        dispute_won(event)


def test_a_dispute_closed_with_an_unknown_outcome_changes_nothing() -> None:
    clock = FakeClock()
    intents = FakeIntentRepository()
    intent = an_intent(clock)
    intent.authorize(authorization_id="auth_1", now=clock())
    intent.capture(amount=None, now=clock(), gateway_reference="cap_1")
    intent.open_dispute(movement_id="whk_evt_0", now=clock(), gateway_reference="dp_1")
    intents.add(replace(intent, new_transactions=[]))
    event = GatewayEvent("evt_1", "dispute.closed", intent.payment_intent_id, "dp_1", "maybe")
    with pytest.raises(InvalidRequest):
        handle_gateway_event(event, intents=intents, clock=clock)
    after = intents.get(intent.payment_intent_id)
    assert (after.status, after.amount_refunded) == (Status.DISPUTED, 0)


# -- mypy: a case taken out is a type error ---------------------------------------------------------


def _without_case(source: str, case_line: str) -> str:
    """The source with the `case` arm that starts with `case_line` (and its body) taken out."""
    lines = source.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == case_line)
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
    ):
        end += 1
    return "\n".join(lines[:start] + lines[end:]) + "\n"


MUTANTS = {
    # module copied, case taken out -> what mypy must say on the assert_never line
    "ledger_without_dispute_lost": (ledger_module, "case EventType.DISPUTE_LOST:", "EventType.DISPUTE_LOST"),
    "ledger_without_declined": (ledger_module, "case EventType.DECLINED:", "EventType.DECLINED"),
    "ids_without_void": (intents_module, "case TransactionKind.VOID:", "TransactionKind.VOID"),
    "events_without_refund": (events_module, "case TransactionKind.REFUND:", "TransactionKind.REFUND"),
    "authorize_without_step_up": (
        authorize_module,
        "case GatewayAuthenticationRequired():",
        "GatewayAuthenticationRequired",
    ),
    "authorize_without_block": (authorize_module, "case Decision.BLOCK:", "Decision.BLOCK"),
}


def test_mypy_rejects_a_missing_case(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    files = []
    for name, (module, case_line, _) in MUTANTS.items():
        path = tmp_path / f"{name}.py"
        path.write_text(_without_case(inspect.getsource(module), case_line))
        files.append(str(path))
    # The compensation's gateway cannot hand it a declined void: such a gateway does not type-check.
    declining = tmp_path / "declining_gateway.py"
    declining.write_text(
        "from payments.service.ports import GatewayDeclined, PaymentGateway\n\n\n"
        "class Declining(PaymentGateway):\n"
        "    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayDeclined:\n"
        "        return GatewayDeclined('void_1', 'do_not_honor')\n"
    )
    files.append(str(declining))
    report, errors, _ = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--follow-imports",
            "silent",
            *files,
        ]
    )
    assert not errors, errors
    for name, (_, _, missing) in MUTANTS.items():
        said = [line for line in report.splitlines() if line.startswith(str(tmp_path / f"{name}.py"))]
        assert any('"assert_never"' in line and missing in line for line in said), (name, report)
    assert re.search(r"declining_gateway\.py:\d+: error: Return type .*GatewayDeclined", report), report
