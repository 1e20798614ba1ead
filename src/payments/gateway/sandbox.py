"""The sandbox gateway's rules: in memory, thread-safe, no I/O.

Every answer depends only on the request and on earlier requests with the same Idempotency-Key, so
tests and the local stack can count on it. The HTTP server (`payments.gateway.server`) only moves
bytes; a stall is returned as `delay_seconds` for the server to sleep, which keeps this module
instant to test.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, assert_never
from urllib.parse import parse_qs

from payments.domain.cards import contains_card_number
from payments.settlement.rows import MovementType, SettlementRow

APPROVED: Final = "approved"
DECLINED: Final = "declined"
AUTHENTICATION_REQUIRED: Final = "authentication_required"

FLAKY: Final = "pm_card_gateway_flaky"
DOWN: Final = "pm_card_gateway_down"
THREE_DS: Final = "pm_card_3ds_required"
FLAKY_FAILURES: Final = 2  # a flaky key fails this many attempts, then is approved

# Test payment method -> decline code (None: approved). The risk cards are approved here on purpose:
# the fraud check, not the gateway, blocks them or asks for a step-up.
_DECLINE_CODES: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "pm_card_visa": None,
        "pm_card_mastercard": None,
        "pm_card_risk_highest": None,
        "pm_card_risk_elevated": None,
        "pm_card_declined": "generic_decline",
        "pm_card_insufficient_funds": "insufficient_funds",
        THREE_DS: None,
        FLAKY: None,
        DOWN: None,
    }
)
TEST_PAYMENT_METHODS: Final = frozenset(_DECLINE_CODES)

MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
MAX_REFERENCE_LENGTH: Final = 255

_AUTHORIZE_REQUIRED: Final = frozenset({"amount", "currency", "paymentMethod", "reference"})
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
_CAPTURE: Final = re.compile(r"/v1/authorizations/([^/]+)/capture")
_VOID: Final = re.compile(r"/v1/authorizations/([^/]+)/void")
_AUTHORIZATION: Final = re.compile(r"/v1/authorizations/([^/]+)")
AUTHORIZATIONS: Final = "/v1/authorizations"
SETTLEMENT_FILES: Final = "/v1/settlement-files"
CHARGEBACK_FEE: Final = 1_500  # minor units


def capture_fee(amount: int) -> int:
    """The sandbox's price: 2.9 % (rounded half up) + 30 minor units per capture; refunds are free."""
    return (amount * 29 + 500) // 1000 + 30


def fee_for(movement: MovementType, amount: int) -> int:
    """What the sandbox charges for each kind of movement it settles (a kind left out is a mypy error)."""
    match movement:
        case MovementType.CAPTURE:
            return capture_fee(amount)
        case MovementType.REFUND:
            return 0
        case MovementType.CHARGEBACK:
            return CHARGEBACK_FEE
        case _:
            assert_never(movement)


@dataclass(slots=True)
class _Movement:
    """A capture or refund the gateway will settle, with the key the merchant sent it under."""

    id: str
    type: MovementType
    authorization: str
    reference: str  # the authorization's reference: the merchant's payment id
    merchant_reference: str
    amount: int
    currency: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Settlement:
    batch_id: str
    rows: tuple[SettlementRow, ...]
    window_start: datetime
    window_end: datetime


# Where a closed settlement goes (the local stack writes it to S3 as Parquet): its key.
SettlementSink = Callable[[Settlement, dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class SandboxResponse:
    """One answer: `delay_seconds` is how long the server waits before sending it (a stall)."""

    status: int
    body: dict[str, Any]
    delay_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SandboxStats:
    """Counters for tests. `requests` counts calls to the /v1 API (health and stats excluded);
    `authorizations` counts approved and declined ones (a 3-D Secure step-up is not one yet)."""

    requests: int = 0
    authorizations: int = 0
    captures: int = 0
    voids: int = 0
    refunds: int = 0
    # Faults drawn at the configured rate (`/_sandbox/faults`), by kind: refused (503, nothing done),
    # timed_out (a stall past the client's timeout, nothing done), lost (done, the answer lost).
    faults_refused: int = 0
    faults_timed_out: int = 0
    faults_lost: int = 0

    def as_dict(self) -> dict[str, int]:
        """As the stats endpoint answers it: camelCase names."""
        return {_camel(name): value for name, value in asdict(self).items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


FAULT_KINDS: Final = ("refused", "timed_out", "lost")


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    def response(self) -> SandboxResponse:
        return SandboxResponse(self.status, _error(self.code, str(self)))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _invalid(message: str) -> _Refusal:
    return _Refusal(400, "invalid_request", message)


def _invalid_state(message: str) -> _Refusal:
    return _Refusal(409, "invalid_state", message)


@dataclass(slots=True)
class _Authorization:
    id: str
    status: str
    amount: int
    currency: str
    reference: str
    decline_code: str | None = None
    capture_id: str | None = None
    captured: int = 0
    void_id: str | None = None
    refunds: dict[str, int] = field(default_factory=dict)

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())

    @property
    def state(self) -> str:
        """In words, for error messages."""
        if self.void_id:
            return "voided"
        if self.capture_id:
            return "captured"
        return self.status

    def summary(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "reference": self.reference,
        }
        if self.decline_code:
            body["declineCode"] = self.decline_code
        return body

    def view(self) -> dict[str, Any]:
        return self.summary() | {
            "captureId": self.capture_id,
            "capturedAmount": self.captured,
            "voided": self.void_id is not None,
            "voidId": self.void_id,
            "refundedAmount": self.refunded,
            "refunds": [{"id": refund_id, "amount": amount} for refund_id, amount in self.refunds.items()],
        }


@dataclass(slots=True)
class _KeyState:
    """What one Idempotency-Key has seen: its request, its attempts, and its answer once final."""

    fingerprint: str
    attempts: int = 0
    response: SandboxResponse | None = None


Operation = Callable[[dict[str, Any], int], SandboxResponse]


class SandboxGateway:
    """The upstream processor, simulated. One lock guards all state; nothing inside it sleeps."""

    def __init__(
        self,
        *,
        stall_seconds: float = 1.5,
        settlement_sink: SettlementSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.stall_seconds = stall_seconds
        self.settlement_sink = settlement_sink
        self._clock = clock
        self._movements: list[_Movement] = []  # not yet settled, oldest first
        self._last_cutoff = datetime(1970, 1, 1, tzinfo=UTC)
        self._omit: set[str] = set()  # merchant references the next settlement leaves out (tests)
        self._misstate: dict[str, int] = {}  # ... and amounts it misstates, by merchant reference
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}
        self._authorizations: dict[str, _Authorization] = {}
        self._stats = SandboxStats()
        self._outage = 0  # the next requests to answer 503 (an outage a test asks for)
        self._lost_answers = 0  # the next money-moving calls done with their answers lost (tests)
        self._fault_rate = 0.0  # the share of money-moving calls that fail (chaos campaigns)
        self._fault_draws = random.Random(0)

    def stats(self) -> SandboxStats:
        with self._lock:
            return self._stats

    def handle(
        self, method: str, path: str, body: bytes = b"", *, idempotency_key: str | None = None
    ) -> SandboxResponse:
        """Answer one request as the HTTP API would (status, JSON body, stall)."""
        path, _, query = path.partition("?")
        controls: dict[tuple[str, str], Callable[[], SandboxResponse]] = {
            ("GET", "/healthz"): lambda: SandboxResponse(200, {"status": "ok"}),
            ("GET", "/_sandbox/stats"): lambda: SandboxResponse(200, self.stats().as_dict()),
            ("POST", "/_sandbox/outage"): lambda: self._start_outage(body),
            ("POST", "/_sandbox/faults"): lambda: self._set_faults(body),
            ("POST", "/_sandbox/settlement-faults"): lambda: self._settlement_faults(body),
        }
        if (method, path) in controls:
            return controls[(method, path)]()
        with self._lock:
            self._count(requests=1)
            if self._outage > 0:  # answered before anything is looked at: no effect at all
                self._outage -= 1
                return SandboxResponse(503, _error("service_unavailable", "the gateway is unavailable"))
            try:
                return self._handle(method, path, query, body, idempotency_key)
            except _Refusal as refusal:
                return refusal.response()

    def _start_outage(self, body: bytes) -> SandboxResponse:
        """`{"requests": n}`: the next n requests (of any kind, for any payment) answer 503.
        `{"requests": n, "kind": "lost"}`: the next n authorize, capture, void or refund calls are
        done, and their answers lost (502), as when a connection drops on the way back."""
        try:
            request = json.loads(body or b"{}")
            requests, kind = request.get("requests"), request.get("kind", "refused")
        except (ValueError, AttributeError):
            requests, kind = None, None
        if not isinstance(requests, int) or isinstance(requests, bool) or requests < 0:
            return SandboxResponse(400, _error("invalid_request", "requests must be a whole number >= 0"))
        if kind not in ("refused", "lost"):
            return SandboxResponse(400, _error("invalid_request", 'kind is "refused" or "lost"'))
        with self._lock:
            if kind == "lost":
                self._lost_answers = requests
            else:
                self._outage = requests
        return SandboxResponse(200, {"outage": requests, "kind": kind})

    def _set_faults(self, body: bytes) -> SandboxResponse:
        """`{"rate": 0.1, "seed": 7}`: from now on each authorize, capture, void and refund call fails
        with that probability, drawn from a generator seeded with `seed`; the kind of failure is drawn
        too (see `SandboxStats`). A rate of 0 turns faults off."""
        try:
            request = json.loads(body or b"{}")
            rate, seed = request.get("rate"), request.get("seed", 0)
        except (ValueError, AttributeError):
            rate, seed = None, None
        if (
            not isinstance(rate, int | float)
            or isinstance(rate, bool)
            or not 0 <= rate <= 1
            or not isinstance(seed, int)
            or isinstance(seed, bool)
        ):
            return SandboxResponse(
                400, _error("invalid_request", "rate is a number from 0 to 1, seed an integer")
            )
        self.set_faults(float(rate), seed)
        return SandboxResponse(200, {"rate": rate, "seed": seed})

    def set_faults(self, rate: float, seed: int) -> None:
        """What `POST /_sandbox/faults` sets, for a caller in this process (the local runtime)."""
        if not 0 <= rate <= 1:
            raise ValueError("the gateway's fault rate is a number from 0 to 1")
        with self._lock:
            self._fault_rate = rate
            self._fault_draws = random.Random(seed)

    def _draw_fault(self) -> str | None:
        if self._lost_answers > 0:
            self._lost_answers -= 1
            return "lost"
        if self._fault_rate and self._fault_draws.random() < self._fault_rate:
            return self._fault_draws.choice(FAULT_KINDS)
        return None

    def _handle(self, method: str, path: str, query: str, body: bytes, key: str | None) -> SandboxResponse:
        # Refused before anything is parsed or kept, so a card number is never stored.
        texts = (path, query, key or "", body.decode("utf-8", "replace"))
        if any(_looks_like_card_number(text) for text in texts):
            raise _invalid("card numbers are not accepted: use a test payment method (pm_...)")
        if method == "GET" and path == AUTHORIZATIONS:
            return self._search(query)
        if method == "GET" and (match := _AUTHORIZATION.fullmatch(path)):
            return SandboxResponse(200, self._find(match[1]).view())
        operation = self._operation(method, path, key or "")
        if not key:
            raise _invalid("the Idempotency-Key header is required")
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise _invalid(f"the Idempotency-Key header is longer than {MAX_IDEMPOTENCY_KEY_LENGTH}")
        payload = _parse(body)
        fingerprint = f"{method} {path} {json.dumps(payload, sort_keys=True, separators=(',', ':'))}"
        state = self._keys.setdefault(key, _KeyState(fingerprint))
        if state.fingerprint != fingerprint:
            raise _Refusal(422, "idempotency_conflict", "this Idempotency-Key was used with another request")
        return self._answer(
            state, lambda attempt: operation(payload, attempt), faulty=path != SETTLEMENT_FILES
        )

    def _answer(
        self, state: _KeyState, operation: Callable[[int], SandboxResponse], *, faulty: bool
    ) -> SandboxResponse:
        """The key's stored answer, or the operation's first final one; a drawn fault on the way."""
        fault = self._draw_fault() if faulty else None
        if fault == "refused":
            self._count(faults_refused=1)
            return SandboxResponse(503, _error("service_unavailable", "the gateway is unavailable"))
        if fault == "timed_out":
            self._count(faults_timed_out=1)
            timeout = _error("gateway_timeout", "the issuer did not answer in time")
            return SandboxResponse(504, timeout, delay_seconds=self.stall_seconds)
        if state.response is None:
            state.attempts += 1
            try:
                response = operation(state.attempts)
            except _Refusal as refusal:
                response = refusal.response()
            if response.status >= 500:  # a failure is not an answer: the next attempt is evaluated again
                return response
            state.response = response
        if fault == "lost":  # done and kept under the key; only the answer goes missing
            self._count(faults_lost=1)
            return SandboxResponse(502, _error("bad_gateway", "the answer was lost on the way back"))
        return state.response

    def _operation(self, method: str, path: str, key: str) -> Operation:
        """The request's operation; capture and refund keep `key`, the merchant's reference for them."""
        if method == "POST":
            if path == "/v1/authorizations":
                return self._authorize
            if path == "/v1/refunds":
                return lambda payload, _attempt: self._refund(payload, key)
            if path == SETTLEMENT_FILES:
                return lambda payload, _attempt: self._settlement_file(payload)
            if match := _CAPTURE.fullmatch(path):
                authorization_id = match[1]
                return lambda payload, _attempt: self._capture(authorization_id, payload, key)
            if match := _VOID.fullmatch(path):
                authorization_id = match[1]
                return lambda payload, _attempt: self._void(authorization_id, payload)
        raise _Refusal(404, "not_found", f"there is no {method} {path}")

    def _authorize(self, payload: dict[str, Any], attempt: int) -> SandboxResponse:
        _fields(payload, required=_AUTHORIZE_REQUIRED, optional={"threeDSecure"})
        amount, currency = _amount(payload), _currency(payload)
        method = payload["paymentMethod"]
        if not isinstance(method, str) or not method.startswith("pm_"):
            raise _invalid("paymentMethod must be a test payment method (pm_...)")
        if method not in TEST_PAYMENT_METHODS:
            raise _invalid("unknown test payment method")
        reference = payload["reference"]
        if not isinstance(reference, str) or not 0 < len(reference) <= MAX_REFERENCE_LENGTH:
            raise _invalid(f"reference must be a string of 1 to {MAX_REFERENCE_LENGTH} characters")
        three_ds = payload.get("threeDSecure")
        if three_ds not in (None, "passed", "failed"):
            raise _invalid('threeDSecure must be "passed" or "failed"')

        failure = self._failure(method, attempt)
        if failure is not None:
            return failure
        status, decline_code = _decide(method, three_ds)
        authorization = _Authorization(_new_id("auth"), status, amount, currency, reference, decline_code)
        self._authorizations[authorization.id] = authorization
        if status != AUTHENTICATION_REQUIRED:
            self._count(authorizations=1)
        return SandboxResponse(200, authorization.summary())

    def _failure(self, method: str, attempt: int) -> SandboxResponse | None:
        unavailable = SandboxResponse(503, _error("service_unavailable", "the gateway is unavailable"))
        if method == FLAKY and attempt <= FLAKY_FAILURES:
            return unavailable
        if method == DOWN:
            if attempt % 2 == 1:  # odd attempts stall, then time out
                timeout = _error("gateway_timeout", "the issuer did not answer in time")
                return SandboxResponse(504, timeout, delay_seconds=self.stall_seconds)
            return unavailable
        return None

    def _capture(self, authorization_id: str, payload: dict[str, Any], key: str) -> SandboxResponse:
        _fields(payload, required={"amount"}, optional={"currency"})
        amount = _amount(payload)
        authorization = self._find(authorization_id)
        _same_currency(payload, authorization)
        if authorization.state != APPROVED:
            raise _invalid_state(f"an authorization that is {authorization.state} cannot be captured")
        if amount > authorization.amount:
            raise _invalid_state(f"the capture exceeds the authorized amount ({authorization.amount})")
        authorization.capture_id, authorization.captured = _new_id("cap"), amount
        self._record(authorization.capture_id, MovementType.CAPTURE, authorization, amount, key)
        self._count(captures=1)
        return SandboxResponse(
            200,
            {
                "id": authorization.capture_id,
                "status": APPROVED,
                "authorizationId": authorization.id,
                "amount": amount,
                "currency": authorization.currency,
            },
        )

    def _void(self, authorization_id: str, payload: dict[str, Any]) -> SandboxResponse:
        _fields(payload, required=set(), optional=set())
        authorization = self._find(authorization_id)
        if authorization.state != APPROVED:
            raise _invalid_state(f"an authorization that is {authorization.state} cannot be voided")
        authorization.void_id = _new_id("void")
        self._count(voids=1)
        return SandboxResponse(
            200, {"id": authorization.void_id, "status": APPROVED, "authorizationId": authorization.id}
        )

    def _refund(self, payload: dict[str, Any], key: str) -> SandboxResponse:
        _fields(payload, required={"authorizationId", "amount"}, optional={"currency"})
        amount = _amount(payload)
        if not isinstance(payload["authorizationId"], str):
            raise _invalid("authorizationId must be a string")
        authorization = self._find(payload["authorizationId"])
        _same_currency(payload, authorization)
        if authorization.capture_id is None:
            raise _invalid_state(f"an authorization that is {authorization.state} cannot be refunded")
        remaining = authorization.captured - authorization.refunded
        if amount > remaining:
            raise _invalid_state(f"the refund exceeds what is left to refund ({remaining})")
        refund_id = _new_id("re")
        authorization.refunds[refund_id] = amount
        self._record(refund_id, MovementType.REFUND, authorization, amount, key)
        self._count(refunds=1)
        return SandboxResponse(
            200,
            {
                "id": refund_id,
                "status": APPROVED,
                "authorizationId": authorization.id,
                "amount": amount,
                "currency": authorization.currency,
            },
        )

    def _record(
        self, movement_id: str, kind: MovementType, authorization: _Authorization, amount: int, key: str
    ) -> None:
        self._movements.append(
            _Movement(
                movement_id,
                kind,
                authorization.id,
                authorization.reference,
                key,
                amount,
                authorization.currency,
                self._clock(),
            )
        )

    def settle(self) -> Settlement:
        """Close a settlement batch: every capture and refund not settled yet, with its fee. Movements
        a test asked to leave out stay unsettled (they come in a later file); misstated ones are
        settled with the wrong amount."""
        now = self._clock()
        batch_id = _new_id("stl")
        rows, kept = [], []
        for movement in self._movements:
            if movement.merchant_reference in self._omit:
                kept.append(movement)
                continue
            amount = movement.amount + self._misstate.get(movement.merchant_reference, 0)
            fee = fee_for(movement.type, movement.amount)
            rows.append(
                SettlementRow(
                    movement.id,
                    movement.reference,
                    movement.merchant_reference,
                    movement.type,
                    amount,
                    movement.currency,
                    fee,
                    now,
                    batch_id,
                )
            )
        settlement = Settlement(batch_id, tuple(rows), self._last_cutoff, now)
        self._movements, self._last_cutoff = kept, now
        self._omit, self._misstate = set(), {}
        return settlement

    def _settlement_file(self, payload: dict[str, Any]) -> SandboxResponse:
        """Deliver the settlement file (to the bucket the payload names): `{key, rows}`."""
        if self.settlement_sink is None:
            raise _Refusal(501, "not_implemented", "this gateway has nowhere to deliver settlement files")
        settlement = self.settle()
        key = self.settlement_sink(settlement, payload)
        return SandboxResponse(
            200, {"key": key, "rows": len(settlement.rows), "batchId": settlement.batch_id}
        )

    def _settlement_faults(self, body: bytes) -> SandboxResponse:
        """`{"omit": [merchant references], "misstate": {reference: delta}}` for the next settlement."""
        try:
            request = json.loads(body or b"{}")
            omit = {str(reference) for reference in request.get("omit", [])}
            misstate = {
                str(reference): int(delta) for reference, delta in request.get("misstate", {}).items()
            }
        except (ValueError, AttributeError, TypeError):
            return SandboxResponse(
                400, _error("invalid_request", "omit is a list, misstate a map of integers")
            )
        with self._lock:
            self._omit |= omit
            self._misstate |= misstate
        return SandboxResponse(200, {"omit": sorted(self._omit), "misstate": self._misstate})

    def _search(self, query: str) -> SandboxResponse:
        """`GET /v1/authorizations?reference=<merchant reference>`: every authorization made for it,
        oldest first, so a merchant that never saw an answer (a lost response) can find and void it."""
        references = parse_qs(query).get("reference", [])
        if len(references) != 1 or not references[0]:
            raise _invalid("give exactly one reference to search by")
        found = [auth.view() for auth in self._authorizations.values() if auth.reference == references[0]]
        return SandboxResponse(200, {"data": found})

    def _find(self, authorization_id: str) -> _Authorization:
        authorization = self._authorizations.get(authorization_id)
        if authorization is None:
            raise _Refusal(404, "not_found", f"no authorization {authorization_id!r}")
        return authorization

    def _count(self, **increments: int) -> None:
        current = asdict(self._stats)
        self._stats = SandboxStats(**{name: current[name] + increments.get(name, 0) for name in current})


def _decide(method: str, three_ds: str | None) -> tuple[str, str | None]:
    if method == THREE_DS:
        if three_ds == "passed":
            return APPROVED, None
        if three_ds == "failed":
            return DECLINED, "authentication_failed"
        return AUTHENTICATION_REQUIRED, None
    decline_code = _DECLINE_CODES[method]
    return (DECLINED, decline_code) if decline_code else (APPROVED, None)


def _looks_like_card_number(text: str) -> bool:
    """The project's one definition: 13 to 19 digits (spaces or dashes between) passing Luhn."""
    return contains_card_number(text)


def _holds_card_number(value: object) -> bool:
    """The raw-body check misses digits written as JSON escapes; this sees the decoded strings."""
    if isinstance(value, str):
        return _looks_like_card_number(value)
    if isinstance(value, dict):
        return any(_holds_card_number(key) or _holds_card_number(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_card_number(item) for item in value)
    return False


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except ValueError:
        raise _invalid("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _invalid("the body must be a JSON object")
    if _holds_card_number(payload):
        raise _invalid("card numbers are not accepted: use a test payment method (pm_...)")
    return payload


def _fields(payload: Mapping[str, Any], *, required: AbstractSet[str], optional: AbstractSet[str]) -> None:
    if missing := sorted(required - payload.keys()):
        raise _invalid(f"missing field(s): {', '.join(missing)}")
    if unknown := sorted(payload.keys() - required - optional):
        raise _invalid(f"unknown field(s): {', '.join(unknown)}")


def _amount(payload: Mapping[str, Any]) -> int:
    amount = payload["amount"]
    # bool is an int subclass and floats invite rounding: only a real positive int is money.
    if type(amount) is not int or amount <= 0:
        raise _invalid("amount must be a positive integer number of minor units")
    return amount


def _currency(payload: Mapping[str, Any]) -> str:
    currency = payload["currency"]
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise _invalid("currency must be an upper-case 3-letter ISO 4217 code")
    return currency


def _same_currency(payload: Mapping[str, Any], authorization: _Authorization) -> None:
    if "currency" in payload and _currency(payload) != authorization.currency:
        raise _invalid(f"the authorization is in {authorization.currency}")


def _new_id(prefix: str) -> str:
    """`<prefix>_<24 hex>`, drawn again if it would look like a card number to our own check."""
    while True:
        candidate = f"{prefix}_{secrets.token_hex(12)}"
        if not contains_card_number(candidate):
            return candidate
