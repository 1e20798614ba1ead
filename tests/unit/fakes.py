"""In-memory fakes that subclass the ports, with the same contract as the real adapters."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from payments.domain.errors import ConcurrentUpdate, UpstreamUnavailable
from payments.domain.fraud import Decision, FraudAssessment, FraudSignals
from payments.domain.intents import PaymentIntent, Transaction
from payments.domain.money import Money
from payments.domain.receipts import Feedback, FeedbackKind
from payments.service.ports import (
    FraudScreen,
    GatewayApproved,
    GatewayCapture,
    GatewayResult,
    IntentRepository,
    Mailer,
    OpsAlerts,
    Page,
    PaymentGateway,
    SuppressedAddress,
    SuppressionList,
    no_intent,
    no_transaction,
)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeIntentRepository(IntentRepository):
    def __init__(self) -> None:
        self.intents: dict[str, PaymentIntent] = {}
        self.transactions: dict[str, Transaction] = {}
        self.writes = 0

    def get(self, payment_intent_id: str, *, consistent: bool = True) -> PaymentIntent:
        if payment_intent_id not in self.intents:
            raise no_intent(payment_intent_id)
        return copy.deepcopy(self.intents[payment_intent_id])

    def get_transaction(self, transaction_id: str) -> Transaction:
        if transaction_id not in self.transactions:
            raise no_transaction(transaction_id)
        return self.transactions[transaction_id]

    def add(self, intent: PaymentIntent) -> None:
        assert intent.payment_intent_id not in self.intents
        self.intents[intent.payment_intent_id] = copy.deepcopy(intent)
        self.writes += 1

    def save(self, intent: PaymentIntent) -> PaymentIntent:
        stored = self.intents[intent.payment_intent_id]
        if stored.version != intent.version:
            raise ConcurrentUpdate("version moved")
        for transaction in intent.new_transactions:
            if transaction.transaction_id in self.transactions:
                raise ConcurrentUpdate("transaction exists")
        for transaction in intent.new_transactions:
            self.transactions[transaction.transaction_id] = transaction
        saved = intent.saved()
        self.intents[intent.payment_intent_id] = copy.deepcopy(saved)
        self.writes += 1
        return saved

    def list_for_customer(
        self, customer_id: str, *, merchant_id: str | None, limit: int, next_token: str | None
    ) -> Page[PaymentIntent]:
        mine = sorted(
            (
                i
                for i in self.intents.values()
                if i.customer_id == customer_id and merchant_id in (None, i.merchant_id)
            ),
            key=lambda i: i.created_at,
            reverse=True,
        )
        return Page(items=mine[:limit], next_token=None)


class FakeGateway(PaymentGateway):
    """Answers from a script: an outcome, or an exception to raise, per operation."""

    def __init__(self) -> None:
        self.authorize_result: GatewayResult | Exception = GatewayApproved("auth_1")
        self.capture_result: GatewayApproved | Exception = GatewayApproved("cap_1")
        self.refund_result: GatewayApproved | Exception = GatewayApproved("re_1")
        self.calls: list[tuple[str, str]] = []
        self.open: dict[str, list[str]] = {}  # reference -> authorizations holding money
        self.already_captured: GatewayCapture | None = None
        self.authentications: list[str | None] = []  # what each authorize named after a challenge

    def _answer(self, result: GatewayResult | Exception) -> GatewayResult:
        if isinstance(result, Exception):
            raise result
        return result

    def _approved(self, result: GatewayApproved | Exception) -> GatewayApproved:
        if isinstance(result, Exception):
            raise result
        return result

    def authorize(
        self,
        *,
        idempotency_key: str,
        amount: Money,
        payment_method: str,
        reference: str,
        three_d_secure_passed: bool = False,
        authentication: str | None = None,
    ) -> GatewayResult:
        self.calls.append(("authorize", idempotency_key))
        self.authentications.append(authentication)
        return self._answer(self.authorize_result)

    def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        self.calls.append(("capture", idempotency_key))
        return self._approved(self.capture_result)

    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved:
        self.calls.append(("void", idempotency_key))
        return GatewayApproved("void_1")

    def refund(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        self.calls.append(("refund", idempotency_key))
        return self._approved(self.refund_result)

    def captured(self, *, authorization_id: str) -> GatewayCapture | None:
        self.calls.append(("captured", authorization_id))
        return self.already_captured

    def open_authorizations(self, *, reference: str) -> list[str]:
        self.calls.append(("search", reference))
        return list(self.open.get(reference, []))


class FakeFraud(FraudScreen):
    def __init__(self, decision: Decision = Decision.ALLOW) -> None:
        self.decision = decision
        self.seen: list[FraudSignals] = []

    def assess(self, signals: FraudSignals) -> FraudAssessment:
        self.seen.append(signals)
        return FraudAssessment(decision=self.decision, score=0, reasons=())


def unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable("gateway timed out", upstream="gateway")


def pending_copy(intent: PaymentIntent) -> PaymentIntent:
    return replace(intent, new_transactions=[])


def another_writer_after_next_read(
    repo: FakeIntentRepository, change: Callable[[PaymentIntent], None]
) -> None:
    """Right after the next read, another request reads the intent, applies `change` and saves: the
    race a version condition exists for."""
    original_get = repo.get
    raced = {"done": False}

    def get_then_race(payment_intent_id: str, *, consistent: bool = True) -> PaymentIntent:
        current = original_get(payment_intent_id, consistent=consistent)
        if not raced["done"]:
            raced["done"] = True
            other = original_get(payment_intent_id)
            change(other)
            repo.save(other)
        return current

    repo.get = get_then_race  # type: ignore[method-assign]


class FakeMailer(Mailer):
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    def send(
        self, template: str, *, to: str, locale: str, data: dict[str, object], tags: dict[str, str]
    ) -> str:
        message_id = f"msg-{len(self.sent) + 1}"
        self.sent.append(
            {"id": message_id, "template": template, "to": to, "locale": locale, "data": data, "tags": tags}
        )
        return message_id


class FakeSuppressionList(SuppressionList):
    """The DynamoDB list's contract: feedback counted once per (kind, message), permanent suppresses."""

    def __init__(self) -> None:
        self.entries: dict[str, SuppressedAddress] = {}
        self.counted: dict[str, set[str]] = {}

    def is_suppressed(self, address: str) -> bool:
        entry = self.entries.get(address)
        return bool(entry and entry.suppressed)

    def record(self, address: str, feedback: Feedback, *, at: str) -> SuppressedAddress | None:
        key = f"{feedback.kind.value}:{feedback.message_id}"
        counted = self.counted.setdefault(address, set())
        if key in counted:
            return None
        counted.add(key)
        entry = self.entries.get(address) or SuppressedAddress(address, False, "", 0, 0, at)
        bounce = feedback.kind is FeedbackKind.BOUNCE
        entry = replace(
            entry,
            suppressed=entry.suppressed or feedback.permanent,
            reason=f"{feedback.kind.value} {feedback.detail}".strip(),
            bounces=entry.bounces + int(bounce),
            complaints=entry.complaints + int(not bounce),
            updated_at=at,
        )
        self.entries[address] = entry
        return entry

    def lift(self, address: str) -> bool:
        if not self.is_suppressed(address):
            return False
        self.entries[address] = replace(self.entries[address], suppressed=False)
        return True

    def get(self, address: str) -> SuppressedAddress | None:
        return self.entries.get(address)


class FakeAlerts(OpsAlerts):
    def __init__(self) -> None:
        self.alerts: list[tuple[str, dict[str, object]]] = []

    def alert(self, subject: str, details: dict[str, object]) -> None:
        self.alerts.append((subject, details))
