"""The local stack's merchant API key: what `payments local up` accepts and its clients send.

A documented sandbox value, like the webhook secret, unless PAYMENTS_API_KEY names another; in AWS
keys are made with `payments api-keys create` and only their hashes are kept.
"""

from __future__ import annotations

import os
from typing import Final

DEFAULT_API_KEY: Final = "sk_local_sandbox"


def local_api_key() -> str:
    return os.environ.get("PAYMENTS_API_KEY") or DEFAULT_API_KEY


def authorization(api_key: str | None = None) -> dict[str, str]:
    """The header a client sends."""
    return {"authorization": f"Bearer {api_key or local_api_key()}"}
