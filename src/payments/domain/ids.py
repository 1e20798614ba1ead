"""Identifiers that sort by creation time (a ULID body behind a short type prefix).

Time-ordered ids make "newest first" a plain sort and keep DynamoDB keys spread by their random tail.
"""

from __future__ import annotations

import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """`<prefix>_<26 chars>`: 48 bits of milliseconds then 80 random bits, Crockford base32."""
    millis = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{_encode(millis, 10)}{_encode(secrets.randbits(80), 16)}"
