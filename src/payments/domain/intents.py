"""The payment intent aggregate: its statuses, the transitions allowed between them, and expiry.

Every change goes through `_move_to`, which consults `TRANSITIONS` (data, not scattered `if`s).
Each money movement also records a `Transaction`; the repository writes the intent (conditional on
its `version`) and those transactions in one atomic write, so a status change and its record can
never part.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, TypeAlias, assert_never

from payments.domain.errors import InvalidRequest, InvalidState
from payments.domain.ids import new_id
from payments.domain.money import Money


class Status(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    DISPUTED = "DISPUTED"


class CaptureMethod(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


class Processor(StrEnum):
    """Who moves a payment's money: the sandbox gateway, or Stripe. Chosen when the intent is created
    and kept with it, so every later movement goes to the processor that holds the authorization."""

    SANDBOX = "sandbox"
    STRIPE = "stripe"


class ReceiptStatus(StrEnum):
    NOT_SENT = "NOT_SENT"
    SENT = "SENT"
    BOUNCED = "BOUNCED"
    COMPLAINED = "COMPLAINED"
    SUPPRESSED = "SUPPRESSED"


# The only transitions that ever happen. A dispute returns to where it came from when won.
TRANSITIONS: Final[MappingProxyType[Status, frozenset[Status]]] = MappingProxyType(
    {
        Status.PENDING: frozenset({Status.AUTHORIZED, Status.DECLINED, Status.EXPIRED}),
        Status.AUTHORIZED: frozenset({Status.CAPTURED, Status.VOIDED, Status.EXPIRED}),
        Status.CAPTURED: frozenset({Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}),
        Status.PARTIALLY_REFUNDED: frozenset({Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}),
        Status.DISPUTED: frozenset({Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED}),
        Status.REFUNDED: frozenset(),
        Status.VOIDED: frozenset(),
        Status.DECLINED: frozenset(),
        Status.EXPIRED: frozenset(),
    }
)

TERMINAL: Final = frozenset(status for status, targets in TRANSITIONS.items() if not targets)

SUPPORTED_LOCALES: Final = ("en-US", "es-MX")


class TransactionKind(StrEnum):
    AUTHORIZATION = "AUTHORIZATION"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"
    DISPUTE_OPENED = "DISPUTE_OPENED"
    DISPUTE_WON = "DISPUTE_WON"
    DISPUTE_LOST = "DISPUTE_LOST"


@dataclass(frozen=True, slots=True)
class Transaction:
    """One money movement (or refused attempt) against a payment intent, as the gateway saw it."""

    transaction_id: str
    payment_intent_id: str
    customer_id: str
    merchant_id: str
    kind: TransactionKind
    status: Status
    amount: Money
    created_at: datetime
    gateway_reference: str | None = None
    decline_code: str | None = None
    request_id: str | None = None  # which API request asked for it (refunds: tells duplicates apart)
    released: Money | None = None  # the authorization hold a capture or void lets go (all of it)
    reason: str | None = None  # why a refund was asked for, in the merchant's words
    # The payment's version once the movement is recorded (written in the same write), so whoever
    # hears of movements out of order can order them; None on transactions recorded before it was kept.
    intent_version: int | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    """One line of the order the payment is for, as the merchant's cart had it; the receipt lists it.
    `amount` is the line's total (not a unit price), so lines add up to the payment without rounding."""

    description: str
    quantity: int
    amount: Money

    def __post_init__(self) -> None:
        if type(self.quantity) is not int or self.quantity < 1:
            raise InvalidRequest("a line item's quantity must be an integer of at least 1")
        if self.amount.amount < 0:
            raise InvalidRequest("a line item's amount must not be negative")


def check_line_items(line_items: tuple[LineItem, ...], amount: Money) -> None:
    """Lines given must add up to the payment, in its currency: a receipt whose lines disagree with
    the charge is a receipt the customer disputes."""
    if not line_items:
        return
    if any(line.amount.currency != amount.currency for line in line_items):
        raise InvalidRequest(f"line item amounts must be in {amount.currency}")
    total = sum(line.amount.amount for line in line_items)
    if total != amount.amount:
        raise InvalidRequest(f"line item amounts add up to {total}, not the payment's amount {amount.amount}")


def to_millis(moment: datetime) -> datetime:
    """Times are kept to the millisecond, the precision they are stored and shown with."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def refund_id_for(payment_intent_id: str, number: int) -> str:
    """The n-th refund of a payment: deterministic, so a retried or duplicated refund is the same one."""
    return f"re_{payment_intent_id.removeprefix('pi_')}_{number}"


# Movements a payment has at most once get ids from the payment alone; refunds (several) and
# disputes (named by the gateway's event) get theirs from `refund_id_for` and the webhook.
OncePerPayment: TypeAlias = Literal[
    TransactionKind.AUTHORIZATION, TransactionKind.CAPTURE, TransactionKind.VOID
]


def is_once_per_payment(kind: TransactionKind) -> bool:
    """Whether the payment alone names the movement. Every kind is placed on one side or the other:
    a kind added to `TransactionKind` and placed nowhere is a mypy error (assert_never)."""
    match kind:
        case TransactionKind.AUTHORIZATION | TransactionKind.CAPTURE | TransactionKind.VOID:
            return True
        case (
            TransactionKind.REFUND
            | TransactionKind.DISPUTE_OPENED
            | TransactionKind.DISPUTE_WON
            | TransactionKind.DISPUTE_LOST
        ):
            return False
        case _:
            assert_never(kind)


ONCE_PER_PAYMENT: Final = frozenset(kind for kind in TransactionKind if is_once_per_payment(kind))


def transaction_id_suffix(kind: OncePerPayment) -> str:
    """The table of id suffixes, written out: stored ids (and the ledger entries and events named by
    them) never change with a kind's spelling, and a once-per-payment kind without a suffix here is
    a mypy error (assert_never), or an exception if the types were bypassed, never a guessed id."""
    match kind:
        case TransactionKind.AUTHORIZATION:
            return "auth"
        case TransactionKind.CAPTURE:
            return "capt"
        case TransactionKind.VOID:
            return "void"
        case _:
            assert_never(kind)


def transaction_id_for(payment_intent_id: str, kind: OncePerPayment) -> str:
    """Deterministic, so a retried write of the same movement can only ever land once."""
    if not is_once_per_payment(kind):
        raise ValueError(f"{kind} movements are named by their own id, not by the payment")
    return f"txn_{payment_intent_id.removeprefix('pi_')}_{transaction_id_suffix(kind)}"


@dataclass(slots=True)
class PaymentIntent:
    payment_intent_id: str
    amount: Money
    customer_id: str
    merchant_id: str
    payment_method: str
    capture_method: CaptureMethod
    created_at: datetime
    expires_at: datetime
    status: Status = Status.PENDING
    version: int = 1
    updated_at: datetime | None = None
    amount_authorized: int = 0
    amount_captured: int = 0
    amount_refunded: int = 0
    receipt_email: str | None = None
    locale: str = "en-US"
    description: str | None = None
    order_id: str | None = None
    customer_first_name: str | None = None
    line_items: tuple[LineItem, ...] = ()
    authorization_id: str | None = None
    transaction_id: str | None = None
    decline_code: str | None = None
    receipt_status: ReceiptStatus = ReceiptStatus.NOT_SENT
    processor: Processor = Processor.SANDBOX
    # Where the payment may go if `processor` provably never receives its authorization request, in
    # order (the merchant's later matching rules), and how many requests to authorize it were sent to
    # `processor` that may have reached it. Kept only for a payment with fallbacks (see `fail_over`).
    fallback_processors: tuple[Processor, ...] = ()
    authorization_sends: int = 0
    # The 3-D Secure authentication the processor asked the customer to complete (Stripe's
    # PaymentIntent id), and where the customer completes it when the processor says: the authorization
    # after the challenge reads that authentication, and the checkout shows the customer the URL.
    authentication_reference: str | None = None
    authentication_url: str | None = None
    refund_count: int = 0
    # Which request made which refund (by number): a request repeated finds its refund in the intent.
    refund_requests: dict[str, int] = field(default_factory=dict)
    new_transactions: list[Transaction] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        amount: Money,
        customer_id: str,
        merchant_id: str,
        payment_method: str,
        now: datetime,
        time_to_live: timedelta,
        capture_method: CaptureMethod = CaptureMethod.MANUAL,
        receipt_email: str | None = None,
        locale: str = "en-US",
        description: str | None = None,
        order_id: str | None = None,
        customer_first_name: str | None = None,
        line_items: tuple[LineItem, ...] = (),
        processor: Processor = Processor.SANDBOX,
        fallback_processors: tuple[Processor, ...] = (),
    ) -> PaymentIntent:
        if not amount.is_positive:
            raise InvalidRequest("amount must be greater than zero")
        if locale not in SUPPORTED_LOCALES:
            raise InvalidRequest(f"locale must be one of {', '.join(SUPPORTED_LOCALES)}")
        check_line_items(line_items, amount)
        now = to_millis(now)
        return cls(
            payment_intent_id=new_id("pi"),
            amount=amount,
            customer_id=customer_id,
            merchant_id=merchant_id,
            payment_method=payment_method,
            capture_method=capture_method,
            created_at=now,
            updated_at=now,
            expires_at=now + time_to_live,
            receipt_email=receipt_email,
            locale=locale,
            description=description,
            order_id=order_id,
            customer_first_name=customer_first_name,
            line_items=line_items,
            processor=processor,
            fallback_processors=tuple(
                fallback for fallback in fallback_processors if fallback is not processor
            ),
        )

    # -- queries ---------------------------------------------------------------------------------

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def can_move_to(self, target: Status) -> bool:
        return target in TRANSITIONS[self.status]

    def gateway_authorization(self) -> str:
        """The gateway's id of the payment's authorization, which every later movement names; a
        payment without one cannot move money at the gateway (InvalidState, never a None sent on)."""
        if self.authorization_id is None:
            raise InvalidState(
                f"the payment is {self.status} and has no gateway authorization", status=self.status.value
            )
        return self.authorization_id

    # -- commands --------------------------------------------------------------------------------

    def ensure_authorizable(self, now: datetime) -> None:
        """Raise unless the intent is PENDING and not expired (expire it first if it is due)."""
        if self.status is not Status.PENDING:
            raise InvalidState(f"the payment is {self.status}, not PENDING", status=self.status.value)
        if self.is_expired(now):
            raise InvalidState("the payment intent has expired", status=Status.EXPIRED.value)

    def count_authorization_send(self, now: datetime) -> None:
        """Before a request to authorize goes to `processor`: it may reach it from now on. Saved before
        the request is sent, so a crash after sending still leaves the count (and so no failover)."""
        self.ensure_authorizable(now)
        self.authorization_sends += 1
        self.updated_at = to_millis(now)

    def fail_over(self, now: datetime) -> Processor:
        """Move the payment to its next processor, the one it leaves going to the end of its fallbacks.
        Only the request that alone was sent to `processor` may do this, once that processor provably
        never received it (the caller saves on the version it counted its send with, so a send counted
        since by anyone else fails the save): then no processor but the next can hold an authorization.
        The request about to go to the next processor is counted with the move, in the same write."""
        self.ensure_authorizable(now)
        if not self.fallback_processors:
            raise InvalidState("the payment has no other processor to go to", status=self.status.value)
        if self.authorization_sends != 1:
            raise InvalidState(
                f"{self.authorization_sends} requests to authorize the payment went to {self.processor}: "
                "it may hold the authorization, the payment stays there",
                status=self.status.value,
            )
        left = self.processor
        self.processor, self.fallback_processors = (
            self.fallback_processors[0],
            (*self.fallback_processors[1:], left),
        )
        self.authorization_sends = 1
        self.updated_at = to_millis(now)
        return self.processor

    def await_authentication(self, *, reference: str, url: str | None, now: datetime) -> None:
        """The processor asked for the customer's 3-D Secure authentication before it authorizes: keep
        its id of that authentication (what the authorization after the challenge names) and the URL
        where the customer completes it, if it gave one. Only while the payment waits (PENDING)."""
        if self.status is not Status.PENDING:
            raise InvalidState(
                f"a {self.status} payment waits for no authentication", status=self.status.value
            )
        if not reference:
            raise ValueError("an authentication is named by the processor's reference")
        self.authentication_reference, self.authentication_url = reference, url
        self.updated_at = to_millis(now)

    def uncount_authorization_send(self, now: datetime) -> None:
        """A counted request that `processor` provably never received (refused, unresolved): it can
        hold nothing there, so it no longer stands in the way of a later failover."""
        self.ensure_authorizable(now)
        if self.authorization_sends < 1:
            raise InvalidState("no request to authorize the payment is counted", status=self.status.value)
        self.authorization_sends -= 1
        self.updated_at = to_millis(now)

    def expire(self, now: datetime) -> None:
        self._move_to(Status.EXPIRED, now)

    def authorize(
        self, *, authorization_id: str, now: datetime, request_id: str | None = None
    ) -> Transaction:
        self.ensure_authorizable(now)
        self._move_to(Status.AUTHORIZED, now)
        self.amount_authorized = self.amount.amount
        self.authorization_id = authorization_id
        transaction = self._record(
            TransactionKind.AUTHORIZATION,
            self.amount,
            now,
            authorization_id,
            transaction_id=transaction_id_for(self.payment_intent_id, TransactionKind.AUTHORIZATION),
            request_id=request_id,
        )
        self.transaction_id = transaction.transaction_id
        return transaction

    def decline(
        self,
        *,
        decline_code: str,
        now: datetime,
        gateway_reference: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self._move_to(Status.DECLINED, now)
        self.decline_code = decline_code
        self._record(
            TransactionKind.AUTHORIZATION,
            self.amount,
            now,
            gateway_reference,
            transaction_id=transaction_id_for(self.payment_intent_id, TransactionKind.AUTHORIZATION),
            decline_code=decline_code,
            request_id=request_id,
        )

    def capturable(self, amount: Money | None) -> Money:
        """What a capture of `amount` (None: all of it) would take, or why it cannot happen."""
        if self.status is not Status.AUTHORIZED:
            raise InvalidState(f"only an AUTHORIZED payment can be captured; it is {self.status}")
        to_capture = self._hold() if amount is None else amount
        if to_capture.currency != self.amount.currency:
            raise InvalidRequest(f"capture must be in {self.amount.currency}")
        if not 0 < to_capture.amount <= self.amount_authorized:
            raise InvalidRequest(f"capture amount must be between 1 and {self.amount_authorized}")
        return to_capture

    def capture(
        self, *, amount: Money | None, now: datetime, gateway_reference: str, request_id: str | None = None
    ) -> Transaction:
        """Capture all or part of the authorization; the rest is released, never captured later."""
        to_capture = self.capturable(amount)
        self._move_to(Status.CAPTURED, now)
        self.amount_captured = to_capture.amount
        return self._record(
            TransactionKind.CAPTURE,
            to_capture,
            now,
            gateway_reference,
            transaction_id=transaction_id_for(self.payment_intent_id, TransactionKind.CAPTURE),
            released=self._hold(),
            request_id=request_id,
        )

    @property
    def amount_refundable(self) -> int:
        return self.amount_captured - self.amount_refunded

    def refundable(self, amount: Money | None) -> Money:
        """What a refund of `amount` (None: all that is left) would return, or why it cannot happen."""
        if self.status not in {Status.CAPTURED, Status.PARTIALLY_REFUNDED}:
            raise InvalidState(f"only a captured payment can be refunded; it is {self.status}")
        to_refund = Money(self.amount_refundable, self.amount.currency) if amount is None else amount
        if to_refund.currency != self.amount.currency:
            raise InvalidRequest(f"refund must be in {self.amount.currency}")
        if not 0 < to_refund.amount <= self.amount_refundable:
            raise InvalidRequest(
                f"refund amount must be between 1 and {self.amount_refundable}: the refunded total "
                "can never exceed the captured total"
            )
        return to_refund

    def refund(
        self,
        *,
        amount: Money | None,
        now: datetime,
        gateway_reference: str,
        request_id: str | None = None,
        reason: str | None = None,
    ) -> Transaction:
        """Record the next refund; the payment is REFUNDED once everything captured is returned."""
        to_refund = self.refundable(amount)
        refunded = self.amount_refunded + to_refund.amount
        self._move_to(Status.REFUNDED if refunded == self.amount_captured else Status.PARTIALLY_REFUNDED, now)
        self.amount_refunded = refunded
        self.refund_count += 1
        if request_id is not None:
            self.refund_requests[request_id] = self.refund_count
        return self._record(
            TransactionKind.REFUND,
            to_refund,
            now,
            gateway_reference,
            transaction_id=refund_id_for(self.payment_intent_id, self.refund_count),
            request_id=request_id,
            reason=reason,
        )

    def open_dispute(self, *, movement_id: str, now: datetime, gateway_reference: str) -> Transaction:
        """The cardholder disputes the payment: what was captured and not refunded is at stake."""
        if self.status not in {Status.CAPTURED, Status.PARTIALLY_REFUNDED}:
            raise InvalidState(f"only a captured payment can be disputed; it is {self.status}")
        self._move_to(Status.DISPUTED, now)
        at_stake = Money(self.amount_refundable, self.amount.currency)
        return self._record(
            TransactionKind.DISPUTE_OPENED, at_stake, now, gateway_reference, transaction_id=movement_id
        )

    def close_dispute(
        self, *, won: bool, movement_id: str, now: datetime, gateway_reference: str
    ) -> Transaction:
        """Won: the payment stands as before the dispute. Lost: the disputed funds went back."""
        if self.status is not Status.DISPUTED:
            raise InvalidState(f"only a DISPUTED payment can have its dispute closed; it is {self.status}")
        at_stake = Money(self.amount_refundable, self.amount.currency)
        if won:
            self._move_to(Status.PARTIALLY_REFUNDED if self.amount_refunded else Status.CAPTURED, now)
        else:
            self._move_to(Status.REFUNDED, now)
            self.amount_refunded = self.amount_captured
        kind = TransactionKind.DISPUTE_WON if won else TransactionKind.DISPUTE_LOST
        return self._record(kind, at_stake, now, gateway_reference, transaction_id=movement_id)

    def void(self, *, now: datetime, gateway_reference: str, request_id: str | None = None) -> Transaction:
        if self.status is not Status.AUTHORIZED:
            raise InvalidState(f"only an AUTHORIZED payment can be voided; it is {self.status}")
        self._move_to(Status.VOIDED, now)
        return self._record(
            TransactionKind.VOID,
            self.amount,
            now,
            gateway_reference,
            transaction_id=transaction_id_for(self.payment_intent_id, TransactionKind.VOID),
            released=self._hold(),
            request_id=request_id,
        )

    def mark_receipt(self, status: ReceiptStatus, *, now: datetime) -> None:
        """Receipt delivery is tracked beside the payment's status, not as a transition of it."""
        self.receipt_status = status
        self.updated_at = to_millis(now)

    # -- internals -------------------------------------------------------------------------------

    def _hold(self) -> Money:
        return Money(self.amount_authorized, self.amount.currency)

    def _move_to(self, target: Status, now: datetime) -> None:
        if not self.can_move_to(target):
            raise InvalidState(f"a {self.status} payment cannot become {target}", status=self.status.value)
        self.status = target
        self.updated_at = to_millis(now)

    def _record(
        self,
        kind: TransactionKind,
        amount: Money,
        now: datetime,
        gateway_reference: str | None,
        *,
        transaction_id: str,
        decline_code: str | None = None,
        request_id: str | None = None,
        released: Money | None = None,
        reason: str | None = None,
    ) -> Transaction:
        transaction = Transaction(
            transaction_id=transaction_id,
            payment_intent_id=self.payment_intent_id,
            customer_id=self.customer_id,
            merchant_id=self.merchant_id,
            kind=kind,
            status=self.status,
            amount=amount,
            created_at=to_millis(now),
            gateway_reference=gateway_reference,
            decline_code=decline_code,
            request_id=request_id,
            released=released,
            reason=reason,
            intent_version=self.version + 1,  # what the save of this intent writes (IntentRepository)
        )
        self.new_transactions.append(transaction)
        return transaction

    def saved(self) -> PaymentIntent:
        """The intent as it stands after a successful write: next version, nothing left to record."""
        return replace(self, version=self.version + 1, new_transactions=[])
