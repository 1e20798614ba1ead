"""Gateway webhook signatures: `Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The signed payload is `"<t>.<raw body>"` with the shared secret; comparison is constant-time, and a
signature older (or newer) than the tolerance is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

from payments.domain.errors import InvalidSignature

TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, raw_body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw_body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    header: str | None, raw_body: bytes, *, secret: str, now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    if not header:
        raise InvalidSignature("the Gateway-Signature header is missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise InvalidSignature("the Gateway-Signature header has no valid timestamp") from None
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("the signature is outside the allowed time window")
    expected = sign(secret, timestamp, raw_body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise InvalidSignature("the signature does not match")
