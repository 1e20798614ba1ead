"""Refund batches: a merchant's file of refunds, each row checked before anything is queued.

A file is CSV with the header `merchantId,paymentIntentId,amount,reason`. `amount` is in minor units
(empty: all that is left to refund); `reason` is optional free text. A row that cannot be valid is
reported with its line number and never queued; the rest become one job each, named by the batch and
the line (`<batch id>:<line>`), which is also the refund's request id: however often a job is
delivered, it refunds once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from payments.domain.cards import contains_card_number
from payments.domain.errors import InvalidRequest

HEADER: Final = ("merchantId", "paymentIntentId", "amount", "reason")
MAX_ROWS: Final = 100_000
MAX_AMOUNT: Final = 99_999_999_999
MAX_REASON: Final = 500

_MERCHANT = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_INTENT = re.compile(r"^pi_[0-9A-HJKMNP-TV-Z]{26}$")
_AMOUNT = re.compile(r"^[0-9]{1,11}$")


class RowState(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # can never succeed (unknown payment, nothing left to refund, ...)
    DEAD_LETTERED = "DEAD_LETTERED"  # kept failing for a reason that may pass (a redrive retries it)


@dataclass(frozen=True, slots=True)
class RefundRow:
    line: int  # in the file, the header being line 1
    merchant_id: str
    payment_intent_id: str
    amount: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class RefundFile:
    rows: list[RefundRow]
    errors: list[RowError]

    @property
    def total(self) -> int:
        """Every data row of the file, valid or not."""
        return len(self.rows) + len(self.errors)


def job_id(batch_id: str, line: int) -> str:
    return f"{batch_id}:{line}"


def parse_refund_file(text: str) -> RefundFile:
    """Every row checked; raise InvalidRequest only when the file as a whole is unusable."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None or tuple(cell.strip() for cell in header) != HEADER:
        raise InvalidRequest(f"the first line must be the header {','.join(HEADER)}")
    rows: list[RefundRow] = []
    errors: list[RowError] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line is not a row
        if len(rows) + len(errors) >= MAX_ROWS:
            raise InvalidRequest(f"a file holds at most {MAX_ROWS} rows")
        problem = _problem(cells)
        if problem:
            errors.append(RowError(line, problem))
            continue
        merchant_id, payment_intent_id, amount, reason = (cell.strip() for cell in cells)
        rows.append(
            RefundRow(line, merchant_id, payment_intent_id, int(amount) if amount else None, reason or None)
        )
    return RefundFile(rows, errors)


def _problem(cells: list[str]) -> str | None:
    # First, and in every field: a row holding a card number is refused, and never stored.
    if any(contains_card_number(cell) for cell in cells):
        return "a field must not contain a card number (refund files carry payment ids, never cards)"
    if len(cells) != len(HEADER):
        return f"expected {len(HEADER)} fields ({','.join(HEADER)}), found {len(cells)}"
    merchant_id, payment_intent_id, amount, reason = (cell.strip() for cell in cells)
    checks = (
        (not _MERCHANT.match(merchant_id), "merchantId must be 1 to 128 letters, digits or _.:-"),
        (
            not _INTENT.match(payment_intent_id),
            "paymentIntentId is not a payment intent id (pi_ and 26 characters)",
        ),
        (
            bool(amount) and not (_AMOUNT.match(amount) and 0 < int(amount) <= MAX_AMOUNT),
            f"amount must be a whole number of minor units from 1 to {MAX_AMOUNT}, or empty for all",
        ),
        (len(reason) > MAX_REASON, f"reason must be at most {MAX_REASON} characters"),
    )
    return next((message for failed, message in checks if failed), None)
