"""The ports the use cases depend on. Adapters (DynamoDB, HTTP, Lambda) implement them; unit tests
use in-memory fakes that subclass them."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Generic, TypeAlias, TypeVar

from payments.domain.errors import NotFound
from payments.domain.events import PaymentEvent
from payments.domain.fraud import FraudAssessment, FraudSignals
from payments.domain.intents import PaymentIntent, Processor, Transaction
from payments.domain.ledger import Balance, LedgerEntry
from payments.domain.money import Money
from payments.domain.processor_rules import ProcessorRule
from payments.domain.receipts import Feedback
from payments.domain.refund_batches import RefundRow, RowError, RowFailure, RowState
from payments.settlement.reconcile import Booked

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


class IntentRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, payment_intent_id: str, *, consistent: bool = True) -> PaymentIntent:
        """The intent, or raise NotFound. `consistent` reads see every write that came before."""

    @abc.abstractmethod
    def add(self, intent: PaymentIntent) -> None:
        """Store a new intent; it must not exist yet."""

    @abc.abstractmethod
    def save(self, intent: PaymentIntent) -> PaymentIntent:
        """Write the intent if its stored version is still `intent.version`, together with its
        `new_transactions`, atomically. Return the saved intent; raise ConcurrentUpdate if another
        writer got there first."""

    @abc.abstractmethod
    def get_transaction(self, transaction_id: str) -> Transaction:
        """A recorded movement (authorization, capture, void, refund), or raise NotFound."""

    @abc.abstractmethod
    def list_for_customer(
        self, customer_id: str, *, merchant_id: str | None, limit: int, next_token: str | None
    ) -> Page[PaymentIntent]:
        """The customer's intents, newest first: that merchant's customer, or (None) every merchant's
        customer of that id."""


class ProcessorNotConfigured(RuntimeError):
    """A payment's processor has no gateway here: a deployment's configuration, never the caller's."""


def no_intent(payment_intent_id: str) -> NotFound:
    """The one answer for a payment intent a caller cannot have: unknown, or another merchant's."""
    return NotFound(f"no payment intent {payment_intent_id}")


def no_transaction(transaction_id: str) -> NotFound:
    return NotFound(f"no transaction {transaction_id}")


def no_checkout(tracking_id: str) -> NotFound:
    return NotFound(f"no checkout {tracking_id}")


class GatewayOutcome(StrEnum):
    """The gateway's `status` field on the wire; each one has its own result type below."""

    APPROVED = "approved"
    DECLINED = "declined"
    AUTHENTICATION_REQUIRED = "authentication_required"


# One type per answer, so nothing can read a decline as an approval: an approved answer always has the
# gateway's id of the movement, a declined one always has its decline code. Code that takes a
# `GatewayResult` `match`es it to the end (`typing.assert_never`), so `mypy --strict` rejects code that
# forgets an answer, and a capture, void or refund is typed to return `GatewayApproved` only (anything
# else the gateway says to one is an exception in the adapter, never a movement to record).


@dataclass(frozen=True, slots=True)
class GatewayApproved:
    outcome: ClassVar[GatewayOutcome] = GatewayOutcome.APPROVED
    reference: str  # the gateway's id of the authorization / capture / void / refund


@dataclass(frozen=True, slots=True)
class GatewayDeclined:
    outcome: ClassVar[GatewayOutcome] = GatewayOutcome.DECLINED
    reference: str  # the gateway's id of the declined authorization
    decline_code: str


@dataclass(frozen=True, slots=True)
class GatewayAuthenticationRequired:
    outcome: ClassVar[GatewayOutcome] = GatewayOutcome.AUTHENTICATION_REQUIRED
    reference: str  # the gateway's id of the attempt that waits for 3-D Secure
    next_action_url: str | None = None  # where the customer completes the challenge, when the gateway says


# What an authorization can come back as.
GatewayResult: TypeAlias = GatewayApproved | GatewayDeclined | GatewayAuthenticationRequired


@dataclass(frozen=True, slots=True)
class GatewayCapture:
    reference: str  # the gateway's capture id
    amount: int  # minor units, in the authorization's currency


class GatewayRouting(abc.ABC):
    """What the use cases are given: the gateway of each payment's processor. They never move money
    without asking it for the payment's own gateway first (`for_payment`), so a payment can only be
    moved at the processor that holds its authorization."""

    @abc.abstractmethod
    def for_payment(self, intent: PaymentIntent) -> PaymentGateway: ...


class PaymentGateway(GatewayRouting):
    """The upstream processor. Every call carries an idempotency key, so a retry never moves money twice.
    Raise UpstreamUnavailable(upstream="gateway") when it cannot be reached after bounded retries."""

    processor: ClassVar[Processor] = Processor.SANDBOX  # whose payments this gateway moves

    def for_payment(self, intent: PaymentIntent) -> PaymentGateway:
        """The gateway that moves this payment's money. A gateway of one processor is it only for that
        processor's payments: another's is refused, never sent to the wrong processor."""
        if intent.processor is not self.processor:
            raise ProcessorNotConfigured(
                f"payment {intent.payment_intent_id} is {intent.processor}'s; "
                f"this gateway is {self.processor}'s"
            )
        return self

    @abc.abstractmethod
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
        """Authorize `amount` for the payment `reference`. After a passed 3-D Secure challenge
        (`three_d_secure_passed`), `authentication` is the processor's reference of the authentication
        the customer answered (the `GatewayAuthenticationRequired.reference` it asked with); None when
        the processor never asked (our fraud screen did). The outcome is the processor's to tell."""

    # A capture, void or refund either happens (its approved answer) or raises: a payment error for a
    # refusal, UpstreamUnavailable when no answer came or the answer is of a shape we do not know.

    @abc.abstractmethod
    def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved: ...

    @abc.abstractmethod
    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved: ...

    @abc.abstractmethod
    def refund(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved: ...

    @abc.abstractmethod
    def captured(self, *, authorization_id: str) -> GatewayCapture | None:
        """What the gateway captured of this authorization, if anything: the truth when an earlier
        capture's answer never arrived."""

    @abc.abstractmethod
    def open_authorizations(self, *, reference: str) -> list[str]:
        """The ids of approved authorizations made for `reference` that still hold money (neither
        captured nor voided): how a payment finds a hold whose answer never reached it."""


class FraudScreen(abc.ABC):
    """Scores one attempt. Raise UpstreamUnavailable(upstream="fraud") when it cannot answer."""

    @abc.abstractmethod
    def assess(self, signals: FraudSignals) -> FraudAssessment: ...


class VelocityCounter(abc.ABC):
    """Counts attempts per key in fixed windows; `hit` adds one and returns the window's count."""

    @abc.abstractmethod
    def hit(self, keys: list[str], *, window_seconds: int) -> dict[str, int]: ...


@dataclass(slots=True)
class CheckoutRecord:
    """What the API keeps of one checkout beside its execution: the step-up's task token, and why
    it failed (in the contract's words)."""

    tracking_id: str
    payment_intent_id: str
    execution_arn: str
    task_token: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


class CheckoutRepository(abc.ABC):
    @abc.abstractmethod
    def create_if_absent(self, record: CheckoutRecord) -> CheckoutRecord:
        """Store the record unless one exists for its tracking id; return the stored one."""

    @abc.abstractmethod
    def get(self, tracking_id: str) -> CheckoutRecord:
        """The record, or raise NotFound."""

    @abc.abstractmethod
    def require_action(self, tracking_id: str, task_token: str) -> None:
        """The workflow waits on a 3-D Secure challenge: keep its task token, and count the wait once
        (the same token kept again counts nothing): its number names its `checkout.action_required`."""

    @abc.abstractmethod
    def waiting_task_token(self, tracking_id: str) -> str:
        """The task token the workflow waits on (InvalidState if none waits; NotFound if no checkout)."""

    @abc.abstractmethod
    def clear_task_token(self, tracking_id: str, task_token: str) -> None:
        """Forget the token once answered; only that token (a newer wait keeps its own)."""

    @abc.abstractmethod
    def record_failure(self, tracking_id: str, code: str, message: str) -> None: ...

    @abc.abstractmethod
    def record_success(self, tracking_id: str) -> None:
        """The checkout succeeded (its payment is authorized and stays so): kept, so its
        `checkout.succeeded` webhook is announced from the record (service/webhook_outcomes.py)."""


class ExecutionStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"


class Workflow(abc.ABC):
    """The checkout state machine (Step Functions)."""

    @abc.abstractmethod
    def execution_arn(self, name: str) -> str:
        """The ARN the execution named `name` has (or will have)."""

    @abc.abstractmethod
    def start(self, name: str, payload: dict[str, object]) -> None:
        """Start the execution named `name`; starting a name again starts nothing."""

    @abc.abstractmethod
    def status(self, execution_arn: str) -> ExecutionStatus: ...

    @abc.abstractmethod
    def resume(self, task_token: str, output: dict[str, object]) -> None:
        """Raise InvalidState if the token is no longer waited on (answered, or timed out)."""

    @abc.abstractmethod
    def fail_task(self, task_token: str, error: str, cause: str) -> None: ...

    @abc.abstractmethod
    def history(self, execution_arn: str) -> list[dict[str, object]]: ...


class Ledger(abc.ABC):
    @abc.abstractmethod
    def post(self, entry: LedgerEntry) -> bool:
        """Write the entry and its balance changes atomically, once (by its id); False if it was
        already on the books."""

    @abc.abstractmethod
    def post_unless_declined(self, entry: LedgerEntry) -> bool:
        """`post`, refused once the entry's payment is DECLINED or EXPIRED (settled without an
        authorization): a hold posted ahead of the gateway's answer then never lands after its reversal."""

    @abc.abstractmethod
    def get(self, entry_id: str) -> LedgerEntry | None: ...

    @abc.abstractmethod
    def entries_for(self, payment_intent_id: str) -> list[LedgerEntry]:
        """The payment's entries, oldest first."""

    @abc.abstractmethod
    def balances(self) -> list[Balance]:
        """Every account's balance per currency."""


class Mailer(abc.ABC):
    @abc.abstractmethod
    def send(
        self, template: str, *, to: str, locale: str, data: dict[str, object], tags: dict[str, str]
    ) -> str:
        """Send the template's `locale` version, rendered with `data`; return the message id. The tags
        come back with the message's bounces and complaints."""


@dataclass(frozen=True, slots=True)
class SuppressedAddress:
    address: str
    suppressed: bool
    reason: str  # the last bounce or complaint, as SES described it
    bounces: int
    complaints: int
    updated_at: str


class SuppressionList(abc.ABC):
    """Addresses receipts are no longer sent to, and how often each bounced or complained."""

    @abc.abstractmethod
    def is_suppressed(self, address: str) -> bool: ...

    @abc.abstractmethod
    def record(self, address: str, feedback: Feedback, *, at: str) -> SuppressedAddress | None:
        """Count this feedback for the address once (by message), suppressing the address when the
        feedback is permanent; the entry after it, or None when this message was already counted."""

    @abc.abstractmethod
    def lift(self, address: str) -> bool:
        """Mail the address again (its counts stay); False if it was not suppressed."""

    @abc.abstractmethod
    def get(self, address: str) -> SuppressedAddress | None: ...


class AuditArchive(abc.ABC):
    @abc.abstractmethod
    def store(self, key: str, document: dict[str, object]) -> None: ...


class OpsAlerts(abc.ABC):
    @abc.abstractmethod
    def alert(self, subject: str, details: dict[str, object]) -> None: ...


class EventPublisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, event: PaymentEvent) -> None:
        """Announce the event (at least once: subscribers deduplicate by its id)."""


class EventLog(abc.ABC):
    @abc.abstractmethod
    def record(self, event: PaymentEvent) -> bool:
        """Keep the event once; False when it was kept already."""

    @abc.abstractmethod
    def for_payment(
        self, payment_intent_id: str, *, limit: int, next_token: str | None
    ) -> Page[dict[str, object]]:
        """The payment's events as published, oldest first."""


class ApprovalHistory(abc.ABC):
    """Each customer's approved authorizations, fed back to fraud scoring."""

    @abc.abstractmethod
    def record(self, *, customer_id: str, event_id: str, approved_at: str) -> bool:
        """Count the approval once per event id; False when this event was counted already."""


@dataclass(frozen=True, slots=True)
class RefundBatch:
    batch_id: str
    total: int  # every data row of the file
    succeeded: int = 0
    failed: int = 0  # rejected at import, or refused for good when run
    dead_lettered: int = 0
    queued: int = 0
    errors: tuple[RowError, ...] = ()  # the first of the import's errors
    merchant_id: str | None = None  # the uploading key's merchant; None: a platform key's batch

    @property
    def pending(self) -> int:
        return self.total - self.succeeded - self.failed - self.dead_lettered


class RefundBatchRepository(abc.ABC):
    @abc.abstractmethod
    def create(self, batch: RefundBatch, *, refused: Sequence[RowError] = ()) -> None:
        """Record the batch, and every row refused at import (`refused`, all of them: `failures`
        lists them)."""

    @abc.abstractmethod
    def get(self, batch_id: str) -> RefundBatch:
        """The batch, or raise NotFound."""

    @abc.abstractmethod
    def mark_queued(self, batch_id: str, count: int) -> None: ...

    @abc.abstractmethod
    def settle_row(self, batch_id: str, line: int, state: RowState, detail: str | None) -> bool:
        """Record a row's outcome and count it, once: True when this call changed the counts. A
        DEAD_LETTERED row may settle again (after a redrive); a SUCCEEDED or FAILED one never does."""

    @abc.abstractmethod
    def failures(self, batch_id: str, *, limit: int, next_token: str | None) -> Page[RowFailure]:
        """The rows not refunded, by line: refused at import or when run (FAILED), or waiting in the
        dead-letter queue (DEAD_LETTERED), each with its reason; read from the batch's own items."""


class FileStore(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, body: bytes, *, content_type: str) -> None: ...

    @abc.abstractmethod
    def get(self, key: str) -> bytes: ...

    @abc.abstractmethod
    def put_once(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        """Write the file unless one exists under the key; False when it did (nothing written)."""

    @abc.abstractmethod
    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]: ...

    @abc.abstractmethod
    def metadata(self, key: str) -> dict[str, str]:
        """The file's user metadata, without reading the file."""


class RefundJobQueue(abc.ABC):
    @abc.abstractmethod
    def send(self, batch_id: str, rows: list[RefundRow]) -> int:
        """Queue one job per row (grouped by merchant, deduplicated by job id); return how many."""


class PaymentDirectory(abc.ABC):
    @abc.abstractmethod
    def lookup(self, payment_intent_ids: list[str]) -> dict[str, dict[str, str]]:
        """Each known payment's `merchant_id`, `customer_id`, `order_id`, `payment_status` (absent
        ones are left out), read in batches."""


class SettlementBooks(abc.ABC):
    """What the ledger booked, as reconciliation reads it, and which movements a file has settled."""

    @abc.abstractmethod
    def booked(self, movement_ids: list[str]) -> dict[str, Booked]: ...

    @abc.abstractmethod
    def chargebacks(self, payment_intent_ids: list[str]) -> dict[str, Booked]:
        """Each payment's booked chargeback (DISPUTED entry), by payment."""

    @abc.abstractmethod
    def unsettled(self, start: str, end: str) -> list[Booked]:
        """Captures and refunds booked in [start, end) that no settlement file has carried yet."""

    @abc.abstractmethod
    def mark_settled(self, movement_ids: list[str], settlement_key: str) -> None: ...


class SettlementReports(abc.ABC):
    @abc.abstractmethod
    def add(self, report: dict[str, object]) -> bool:
        """Keep the report (once per settlement key); False when it was already kept."""

    @abc.abstractmethod
    def get(self, settlement_key: str) -> dict[str, object] | None: ...

    @abc.abstractmethod
    def newest(self, *, limit: int, next_token: str | None) -> Page[dict[str, object]]: ...


class MerchantProcessorRules(abc.ABC):
    """Each merchant's processor rules (`domain/processor_rules.py`), by merchant id."""

    @abc.abstractmethod
    def rules_for(self, merchant_id: str) -> MerchantRules | None:
        """The merchant's rules, in order, or None when it has none (its payments go to the default).
        Rules stored in a shape that cannot be read exactly raise, never route by a guess."""

    @abc.abstractmethod
    def put(self, merchant_id: str, rules: Sequence[ProcessorRule], *, now: datetime) -> MerchantRules:
        """Replace the merchant's rules."""

    @abc.abstractmethod
    def remove(self, merchant_id: str) -> bool:
        """Drop the merchant's rules (its payments go to the default); False when it had none."""


@dataclass(frozen=True, slots=True)
class MerchantRules:
    merchant_id: str
    rules: tuple[ProcessorRule, ...]
    updated_at: str  # UTC, ISO 8601
