"""What a settlement file says, in plain Python: its rows, where files live, and which of our movements
a row is. pyarrow stays out of this module (see `parquet.py`), so the rules are cheap to test and import.

The schema (one row per money movement the gateway settled):

| column | type | meaning |
|---|---|---|
| transaction_id | string | the gateway's id of the movement (cap_..., re_..., cb_...) |
| payment_intent_id | string | the payment (the authorization's reference) |
| merchant_reference | string | the key we sent (`<payment>:capture`, `<payment>:refund:<n>`) |
| type | string | capture, refund or chargeback |
| amount | int64 | the movement, in the currency's minor units, positive |
| currency | string | ISO 4217 |
| fee | int64 | the gateway's fee on the movement, minor units, >= 0 |
| settled_at | timestamp[ms, UTC] | when the gateway settled it |
| batch_id | string | the settlement batch (one per file) |
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from payments.domain.intents import TransactionKind, refund_id_for, transaction_id_for

RAW_PREFIX: Final = "raw/"
ENRICHED_PREFIX: Final = "enriched/"
REPORTS_PREFIX: Final = "reports/"
PARQUET_CONTENT_TYPE: Final = "application/vnd.apache.parquet"
_RAW_KEY: Final = re.compile(r"^raw/(\d{4}/\d{2}/\d{2}/\d{2})/([^/]+)\.parquet$")
_REFERENCE: Final = re.compile(r"^(pi_[A-Za-z0-9]+):(capture|refund:(\d+))$")


class MovementType(StrEnum):
    CAPTURE = "capture"
    REFUND = "refund"
    CHARGEBACK = "chargeback"


# The ledger entry kind each settled movement is booked as.
LEDGER_KIND: Final = {
    MovementType.CAPTURE: "CAPTURED",
    MovementType.REFUND: "REFUNDED",
    MovementType.CHARGEBACK: "DISPUTED",
}


@dataclass(frozen=True, slots=True)
class SettlementRow:
    transaction_id: str
    payment_intent_id: str
    merchant_reference: str
    type: MovementType
    amount: int
    currency: str
    fee: int
    settled_at: datetime
    batch_id: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount <= 0:
            raise ValueError(f"{self.transaction_id}: amount must be a positive integer of minor units")
        if isinstance(self.fee, bool) or not isinstance(self.fee, int) or self.fee < 0:
            raise ValueError(f"{self.transaction_id}: fee must be a non-negative integer of minor units")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"{self.transaction_id}: currency must be an ISO 4217 code")

    @property
    def movement_id(self) -> str:
        """Our id of the movement (its ledger entry's id), from the reference we sent the gateway;
        the gateway's own id when the reference is not one of ours."""
        return movement_for_reference(self.merchant_reference) or self.transaction_id


def movement_for_reference(reference: str) -> str | None:
    """`pi_X:capture` -> the capture's transaction id; `pi_X:refund:3` -> the third refund's."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        return None
    payment, number = match[1], match[3]
    return (
        refund_id_for(payment, int(number))
        if number
        else transaction_id_for(payment, TransactionKind.CAPTURE)
    )


def raw_key(settled_at: datetime, batch_id: str) -> str:
    return f"{RAW_PREFIX}{settled_at:%Y/%m/%d/%H}/{batch_id}.parquet"


def partition_of(key: str) -> tuple[str, str]:
    """`raw/2026/11/24/13/stl_x.parquet` -> ("2026/11/24/13", "stl_x"); ValueError for any other key."""
    match = _RAW_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a settlement file key: {key!r} (expected raw/YYYY/MM/DD/HH/<name>.parquet)")
    return match[1], match[2]


def enriched_key(key: str) -> str:
    partition, name = partition_of(key)
    return f"{ENRICHED_PREFIX}{partition}/{name}.parquet"


def report_keys(key: str) -> tuple[str, str]:
    """The reconciliation report of a raw file: (row-level Parquet, JSON summary)."""
    partition, name = partition_of(key)
    return f"{REPORTS_PREFIX}{partition}/{name}.parquet", f"{REPORTS_PREFIX}{partition}/{name}.json"
