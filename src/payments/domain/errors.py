"""The typed errors of the payments domain.

Each error carries the stable `code` clients see in `{"error": {"code", "message"}}`. The HTTP
status of each lives in one table at the edge (`payments.functions.http`), not here: the domain
knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PaymentsError(Exception):
    """Base of every error a client may see; `retryable` ones must never be cached as an answer."""

    code: ClassVar[str] = "internal_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(PaymentsError):
    """Malformed JSON, wrong types, floats for amounts, unknown currency, missing fields."""

    code = "invalid_request"


class InvalidSignature(PaymentsError):
    """A webhook whose signature is missing, wrong or stale."""

    code = "invalid_signature"


class PaymentRefused(PaymentsError):
    """The payment cannot go through as asked (HTTP 402 family)."""


class CardDeclined(PaymentRefused):
    """The issuer (through the gateway) declined; `decline_code` says why."""

    code = "card_declined"

    def __init__(self, decline_code: str, message: str | None = None) -> None:
        super().__init__(message or f"the card was declined ({decline_code})", declineCode=decline_code)
        self.decline_code = decline_code


class AuthenticationRequired(PaymentRefused):
    """A 3-D Secure step-up is needed before the payment can be authorized."""

    code = "authentication_required"


class FraudSuspected(PaymentRefused):
    """The fraud check blocked the payment: a clean decline, the gateway was never called."""

    code = "fraud_suspected"


class NotFound(PaymentsError):
    code = "not_found"


class Conflict(PaymentsError):
    """The request conflicts with the current state (HTTP 409 family)."""


class InvalidState(Conflict):
    """The transition is not allowed from the payment's current status (or it has expired)."""

    code = "invalid_state"


class IdempotencyConflict(Conflict):
    """The same Idempotency-Key was sent with a different request."""

    code = "idempotency_conflict"


class IdempotencyInProgress(Conflict):
    """A request with the same Idempotency-Key is still running; retry shortly."""

    code = "idempotency_in_progress"
    retryable = True


class ConcurrentUpdate(Conflict):
    """Another writer changed the record first (its `version` moved); retry the request."""

    code = "concurrent_update"
    retryable = True


class PayloadTooLarge(PaymentsError):
    code = "payload_too_large"


class UnsupportedMediaType(PaymentsError):
    """A body in another format than the route takes (JSON routes take `application/json`)."""

    code = "unsupported_media_type"


class UpstreamUnavailable(PaymentsError):
    """A dependency (the gateway, the fraud service) did not answer in time; nothing was changed."""

    code = "upstream_unavailable"
    retryable = True

    def __init__(self, message: str, *, upstream: str) -> None:
        super().__init__(message, upstream=upstream)
        self.upstream = upstream


class ProcessorUnreachable(UpstreamUnavailable):
    """The processor provably never received the request: on every attempt the connection was refused,
    its name did not resolve or the connection was never made, so no byte of the request left. Only
    this failure lets a payment go to another processor; any other (a timeout after sending, a reset, a
    5xx) may have moved money there, and is resolved at the same processor with the same key."""
