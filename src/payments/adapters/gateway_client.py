"""The payment gateway over HTTP (the sandbox locally, a processor with the same API elsewhere).

Why retrying is safe: every POST carries the caller's Idempotency-Key, so the gateway answers a
repeated call with its first answer instead of moving money twice. Only failures that say nothing
about the outcome (connection errors, timeouts, 429, 5xx) are retried, a bounded number of times
with capped, jittered backoff, so a dead gateway costs a known amount of time.

Why a refused connection is told apart (`ProcessorUnreachable`): it is the one failure that proves the
gateway never received the request, which is what lets a payment fail over to another processor.
urllib3 raises NewConnectionError (refused; NameResolutionError when the name does not resolve) and
ConnectTimeoutError (the TCP connection never made) from `HTTPConnection._new_conn`, before a byte of
the request is written, and with `retries=False` raises them as they are, not inside MaxRetryError.
Every other failure (a read timeout, a reset, a 5xx, an SSL error) may follow a request that arrived,
so the call is unreachable only when every attempt failed to connect.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any, Final, assert_never
from urllib.parse import quote

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    PaymentsError,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.money import Money
from payments.service.ports import (
    GatewayApproved,
    GatewayAuthenticationRequired,
    GatewayCapture,
    GatewayDeclined,
    GatewayOutcome,
    GatewayResult,
    PaymentGateway,
)

MAX_BACKOFF_SECONDS: Final = 1.0
POOL_SIZE: Final = 16

# 422 is the gateway refusing a key it saw with another request: with keys derived from the payment,
# that is a concurrent, different movement of the same payment, and a retry resolves it.
_ERRORS_BY_STATUS: Final[dict[int, type[PaymentsError]]] = {
    404: NotFound,
    409: InvalidState,
    422: ConcurrentUpdate,
}


class UnexpectedGatewayAnswer(UpstreamUnavailable):
    """The gateway answered in a shape we do not know: an unknown status, no id, a capture, void or
    refund answered as anything but approved. Nothing is recorded from it. At the API it is an
    upstream failure (503, like its base); in the checkout workflow it fails the task under its own
    name, which no Retry matches and the alarms count as a fault, not as a payment outcome."""

    def __init__(self, message: str) -> None:
        super().__init__(message, upstream="gateway")


class HttpGateway(PaymentGateway):
    """`PaymentGateway` over the gateway's JSON API; one instance is safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 0.5,
        read_timeout: float = 1.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.05,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the gateway base URL must be http(s)://..., got {base_url!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        # Connections open on first use and stay open (keep-alive) across calls and warm invocations.
        self._pool = pool if pool is not None else urllib3.PoolManager(maxsize=POOL_SIZE)

    def authorize(
        self,
        *,
        idempotency_key: str,
        amount: Money,
        payment_method: str,
        reference: str,
        three_d_secure_passed: bool = False,
        authentication: str | None = None,  # noqa: ARG002 (the sandbox decides by `threeDSecure` alone)
    ) -> GatewayResult:
        body: dict[str, Any] = {
            **_money(amount),
            "paymentMethod": payment_method,
            "reference": reference,
        }
        if three_d_secure_passed:
            body["threeDSecure"] = "passed"
        return authorization_result(*self._post("/v1/authorizations", body, idempotency_key))

    def capture(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        path = f"/v1/authorizations/{quote(authorization_id, safe='')}/capture"
        return movement_result("capture", *self._post(path, _money(amount), idempotency_key))

    def void(self, *, idempotency_key: str, authorization_id: str) -> GatewayApproved:
        path = f"/v1/authorizations/{quote(authorization_id, safe='')}/void"
        return movement_result("void", *self._post(path, {}, idempotency_key))

    def refund(self, *, idempotency_key: str, authorization_id: str, amount: Money) -> GatewayApproved:
        body = {"authorizationId": authorization_id, **_money(amount)}
        return movement_result("refund", *self._post("/v1/refunds", body, idempotency_key))

    def captured(self, *, authorization_id: str) -> GatewayCapture | None:
        status, answer = self._send("GET", f"/v1/authorizations/{quote(authorization_id, safe='')}", b"", {})
        if status != 200 or not isinstance(answer, dict):
            raise UpstreamUnavailable(
                f"the gateway could not read the authorization ({status})", upstream="gateway"
            )
        capture_id, amount = answer.get("captureId"), answer.get("capturedAmount")
        if capture_id is None:
            return None  # nothing captured
        if not isinstance(capture_id, str) or not capture_id or type(amount) is not int or amount <= 0:
            raise UnexpectedGatewayAnswer(
                f"the gateway described a capture of {authorization_id} as "
                f"captureId={capture_id!r}, capturedAmount={amount!r}"
            )
        return GatewayCapture(capture_id, amount)

    def open_authorizations(self, *, reference: str) -> list[str]:
        status, answer = self._send(
            "GET", f"/v1/authorizations?reference={quote(reference, safe='')}", b"", {}
        )
        found = answer.get("data") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(found, list):
            raise UpstreamUnavailable(
                f"the gateway could not search its authorizations ({status})", upstream="gateway"
            )
        if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in found):
            raise UnexpectedGatewayAnswer("the gateway listed an authorization without an id")
        return [
            str(authorization["id"])
            for authorization in found
            if authorization.get("status") == GatewayOutcome.APPROVED.value
            and not authorization.get("voided")
            and not authorization.get("captureId")
        ]

    def settlement_file(self, *, idempotency_key: str, bucket: str, kms_key: str) -> dict[str, Any]:
        """Ask the gateway to close a settlement batch and deliver its file into our bucket:
        `{key, rows, batchId}`. The same key answers the same file."""
        body = json.dumps({"bucket": bucket, "kmsKeyId": kms_key}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        status, answer = self._send("POST", "/v1/settlement-files", body, headers)
        if status != 200 or not isinstance(answer, dict):
            raise UpstreamUnavailable(
                f"the gateway refused the settlement file ({status}: {answer})", upstream="gateway"
            )
        return answer

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str) -> tuple[int, Any]:
        """The final status and body; a refusal (4xx) raised as the domain error it is."""
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        status, answer = self._send("POST", path, json.dumps(body).encode(), headers)
        _raise_refusal(status, answer)
        return status, answer

    def _send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """The final status and decoded JSON body, after retrying what may be retried."""
        url = self._base_url + path
        failure = ""
        never_received = True  # every attempt so far failed before a byte of the request left
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                time.sleep(self._backoff(attempt - 1))
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                )
            except HTTPError as error:  # refused, reset, connect or read timeout
                failure = type(error).__name__
                never_received = never_received and connection_never_made(error)
                continue
            if response.status == 429 or response.status >= 500:
                failure = f"HTTP {response.status}"
                never_received = False
                continue
            return response.status, _decode(response.data)
        if never_received:
            raise ProcessorUnreachable(
                f"the gateway never received the request: none of {self._max_attempts} attempt(s) "
                f"could connect ({failure})",
                upstream="gateway",
            )
        raise UpstreamUnavailable(
            f"the gateway did not answer after {self._max_attempts} attempt(s) ({failure})",
            upstream="gateway",
        )

    def _backoff(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(retry-1))], so retries do not march in step."""
        return random.uniform(0, min(MAX_BACKOFF_SECONDS, self._backoff_seconds * 2 ** (retry - 1)))


def connection_never_made(error: BaseException | None) -> bool:
    """Whether urllib3's `error` proves no byte of the request left: the connection was refused, the
    name did not resolve, or connecting timed out (NewConnectionError and its NameResolutionError
    subclass ConnectTimeoutError). Anything else, a ProxyError or SSLError included, may not."""
    return isinstance(error, ConnectTimeoutError)


def _money(amount: Money) -> dict[str, Any]:
    return {"amount": amount.amount, "currency": amount.currency.code}


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _raise_refusal(status: int, answer: Any) -> None:
    if 400 <= status < 500:
        error = answer.get("error") if isinstance(answer, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        error_type = _ERRORS_BY_STATUS.get(status, InvalidRequest)
        raise error_type(f"the gateway refused the request: {message or f'HTTP {status}'}", gatewayCode=code)


def authorization_result(status: int, answer: Any) -> GatewayResult:
    """An authorization's answer as the one result type its `status` names; any other shape (an
    unknown status, no id, a decline code that is not a string) raises UnexpectedGatewayAnswer."""
    reference, outcome = _answered(status, answer)
    match outcome:
        case GatewayOutcome.APPROVED:
            return GatewayApproved(reference)
        case GatewayOutcome.DECLINED:
            decline_code = answer.get("declineCode")
            if decline_code is None or decline_code == "":
                decline_code = "generic_decline"  # a decline that gives no reason is still a decline
            if not isinstance(decline_code, str):
                raise UnexpectedGatewayAnswer(f"the gateway declined with declineCode={decline_code!r}")
            return GatewayDeclined(reference, decline_code)
        case GatewayOutcome.AUTHENTICATION_REQUIRED:
            return GatewayAuthenticationRequired(reference)
        case _:
            assert_never(outcome)


def movement_result(movement: str, status: int, answer: Any) -> GatewayApproved:
    """A capture's, void's or refund's answer: approved, with the movement's id. The gateway refuses
    these with an HTTP error; a 200 saying anything but approved is no movement we could record."""
    reference, outcome = _answered(status, answer)
    if outcome is not GatewayOutcome.APPROVED:
        raise UnexpectedGatewayAnswer(f"the gateway answered a {movement} with status {outcome.value!r}")
    return GatewayApproved(reference)


def _answered(status: int, answer: Any) -> tuple[str, GatewayOutcome]:
    """The id and status of a 200 answer; UnexpectedGatewayAnswer for anything else."""
    if status != 200:
        raise UnexpectedGatewayAnswer(f"the gateway answered unexpectedly: HTTP {status}")
    if not isinstance(answer, dict):
        raise UnexpectedGatewayAnswer(
            f"the gateway answered unexpectedly: {type(answer).__name__}, not an object"
        )
    reference, wire_status = answer.get("id"), answer.get("status")
    if not isinstance(reference, str) or not reference:
        raise UnexpectedGatewayAnswer(f"the gateway answered without an id (id={reference!r})")
    known = {outcome.value: outcome for outcome in GatewayOutcome}
    if not isinstance(wire_status, str) or wire_status not in known:
        raise UnexpectedGatewayAnswer(f"the gateway answered with an unknown status {wire_status!r}")
    return reference, known[wire_status]
