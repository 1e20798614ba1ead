"""Merchant API keys: random secrets a merchant's server sends as `Authorization: Bearer <key>`.

Only a key's SHA-256 is ever stored: a key is 192 random bits, so a fast hash cannot be reversed or
guessed, and looking the hash up is the comparison (nothing to time). What a person may see of a key
afterwards is its id: the prefix and the last four characters, as on a card statement.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "sk_"
MAX_KEY_LENGTH: Final = 128
_STAGE: Final = re.compile(r"[a-z0-9]{1,16}")
_BEARER: Final = re.compile(rf"Bearer ([!-~]{{1,{MAX_KEY_LENGTH}}})")


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: never the secret itself. A merchant key acts for `merchant_id` only; a
    platform key (`merchant_id` None) acts for any merchant a request names."""

    key_hash: str
    key_id: str
    merchant_id: str | None
    active: bool = True

    @property
    def is_platform(self) -> bool:
        return self.merchant_id is None

    def authorizer_context(self) -> dict[str, str]:
        """What reaches every function as `requestContext.authorizer.lambda` (strings only, as API
        Gateway passes them): the scope, and the merchant of a merchant key."""
        if self.merchant_id is None:
            return {"scope": "platform", "keyId": self.key_id}
        return {"scope": "merchant", "merchantId": self.merchant_id, "keyId": self.key_id}


def new_secret(stage: str) -> str:
    """`sk_<stage>_<32 url-safe characters>`: the stage shows where a key works at a glance."""
    if not _STAGE.fullmatch(stage):
        raise ValueError("a stage is 1 to 16 lower-case letters or digits")
    return f"{PREFIX}{stage}_{secrets.token_urlsafe(24)}"


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id(secret: str) -> str:
    """What may be shown of a key: `sk_live_…a1b2`."""
    stage = secret.removeprefix(PREFIX).split("_", 1)[0]
    return f"{PREFIX}{stage}_…{secret[-4:]}"


def bearer_secret(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer sk_...` header, or None when there is none to check."""
    found = _BEARER.fullmatch((authorization or "").strip())
    if found is None or not found.group(1).startswith(PREFIX):
        return None
    return found.group(1)
