"""Who a request acts for: one merchant (a merchant key), or any merchant it names (a platform key).

A merchant key reaches only its own merchant's data; anything of another merchant is answered as if it
did not exist (`NotFound`), so a key learns nothing about what others have. A platform key (the
operator's own servers, the local stack's default key) acts for whichever merchant a request names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from payments.domain.errors import InvalidRequest, NotFound

PLATFORM: Final = "platform"
# What a merchant id may be (as the API's other identifiers): never `#`, which joins keys.
MERCHANT_ID: Final = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: `merchant_id` is None for a platform key."""

    merchant_id: str | None

    @classmethod
    def platform(cls) -> Caller:
        return cls(None)

    @property
    def is_platform(self) -> bool:
        return self.merchant_id is None

    def can_see(self, merchant_id: str | None) -> bool:
        """A platform key sees everything; a merchant key only what is its own merchant's."""
        return self.merchant_id is None or self.merchant_id == merchant_id

    def require_platform(self, what: str) -> None:
        """The platform's own books (every merchant's money in one trial balance, the processor's
        settlement files) are not a merchant's to read: for a merchant key they do not exist."""
        if self.merchant_id is not None:
            raise NotFound(f"{what} are the platform's: a merchant key has none")

    def acting_for(self, named: str | None) -> str:
        """The merchant a request acts for: a merchant key's own (naming another is refused), or the
        one a platform key names (it must name one)."""
        if self.merchant_id is None:
            if not named:
                raise InvalidRequest("merchantId is required with a platform key")
            return named
        if named is not None and named != self.merchant_id:
            raise InvalidRequest("merchantId must be the API key's own merchant")
        return self.merchant_id

    @property
    def scope(self) -> str:
        """What idempotency keys (and anything else a caller names freely) are scoped to."""
        return PLATFORM if self.merchant_id is None else f"merchant#{self.merchant_id}"
