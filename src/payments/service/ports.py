"""The ports the use cases depend on. Adapters (DynamoDB, HTTP, Lambda) implement them; unit tests
use in-memory fakes that subclass them."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from payments.domain.fraud import FraudAssessment, FraudSignals
from payments.domain.intents import PaymentIntent
from payments.domain.money import Money

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
    def list_for_customer(
        self, customer_id: str, *, limit: int, next_token: str | None
    ) -> Page[PaymentIntent]:
        """The customer's intents, newest first."""


class GatewayOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    AUTHENTICATION_REQUIRED = "authentication_required"


@dataclass(frozen=True, slots=True)
class GatewayResult:
    outcome: GatewayOutcome
    reference: str | None = None  # the gateway's id of the authorization / capture / void / refund
    decline_code: str | None = None


class PaymentGateway(abc.ABC):
    """The upstream processor. Every call carries an idempotency key, so a retry never moves money twice.
    Raise UpstreamUnavailable(upstream="gateway") when it cannot be reached after bounded retries."""

    @abc.abstractmethod
    def authorize(
        self,
        *,
        idempotency_key: str,
        amount: Money,
        payment_method: str,
        reference: str,
        three_d_secure_passed: bool = False,
    ) -> GatewayResult: ...

    @abc.abstractmethod
    def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayResult: ...

    @abc.abstractmethod
    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayResult: ...

    @abc.abstractmethod
    def refund(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayResult: ...


class FraudScreen(abc.ABC):
    """Scores one attempt. Raise UpstreamUnavailable(upstream="fraud") when it cannot answer."""

    @abc.abstractmethod
    def assess(self, signals: FraudSignals) -> FraudAssessment: ...


class VelocityCounter(abc.ABC):
    """Counts attempts per key in fixed windows; `hit` adds one and returns the window's count."""

    @abc.abstractmethod
    def hit(self, keys: list[str], *, window_seconds: int) -> dict[str, int]: ...
