"""Opaque page tokens: a DynamoDB LastEvaluatedKey, accepted back only as this API issued it."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from payments.domain.errors import InvalidRequest


def encode(last_key: dict[str, Any]) -> str:
    plain = {name: value["S"] for name, value in last_key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def decode(token: str, *, scope: tuple[str, str], keys: frozenset[str]) -> dict[str, Any]:
    """The key behind `token`, if it has exactly `keys` (strings) and belongs to `scope` (name, value)."""
    try:
        padded = token + "=" * (-len(token) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("nextToken is not valid") from None
    name, value = scope
    if (
        not isinstance(plain, dict)
        or set(plain) != keys
        or not all(isinstance(item, str) for item in plain.values())
        or plain[name] != value
    ):
        raise InvalidRequest("nextToken is not valid")
    return {key: {"S": item} for key, item in plain.items()}
