"""Refund batches: a merchant's file of refunds, each row checked before anything is queued.

A file is CSV with the header `merchantId,paymentIntentId,amount,reason`. `amount` is in minor units
(empty: all that is left to refund); `reason` is optional free text. A row that cannot be valid is
reported with its line number and never queued; the rest become one job each, named by the batch and
the line (`<batch id>:<line>`), which is also the refund's request id: however often a job is
delivered, it refunds once.

One physical line is one row, always. The text is split into lines here (at `\\n`, a `\\r` before it
dropped; one final line ending ends the last line and starts no other), and each line is parsed on
its own by the csv module in strict mode. One csv reader over the whole file let a quote that never
closed swallow every following line into one field (one such quote silently lost six rows); parsed
line by line, it is an error of its own line and the next line is a row again. A field that would
need a line break inside quotes is that same error. So `total` is always the number of data lines,
and each data line is either a row or a row error with its line number:

- row errors (counted in `total` and `failed`): a blank line, an unterminated quote or other CSV
  fault, a byte-order mark anywhere but as the file's very first character, a carriage return inside
  a line, a wrong number of fields, a field that is not valid, another merchant than the API key's;
- file errors (`InvalidRequest` naming the line; nothing is recorded): not UTF-8, no header or
  another one, no data rows, more than `MAX_ROWS` rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from payments.domain.cards import contains_card_number
from payments.domain.errors import InvalidRequest, NotFound

HEADER: Final = ("merchantId", "paymentIntentId", "amount", "reason")
MAX_ROWS: Final = 100_000
MAX_AMOUNT: Final = 99_999_999_999
MAX_REASON: Final = 500
BOM: Final = "\ufeff"
OTHER_MERCHANT: Final = "merchantId must be the API key's own merchant"
UNTERMINATED_QUOTE: Final = (
    "a quoted field is not closed on this line (a field cannot hold a line break: one line is one row)"
)

_MERCHANT = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
_INTENT = re.compile(r"^pi_[0-9A-HJKMNP-TV-Z]{26}$")
_AMOUNT = re.compile(r"^[0-9]{1,11}$")


class RowState(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # can never succeed (refused at import, unknown payment, nothing left, ...)
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
    message: str  # never echoes the line (it may hold a card number)


@dataclass(frozen=True, slots=True)
class RowFailure:
    """A row that was not refunded, and why: FAILED for good, or DEAD_LETTERED (a redrive may still
    settle it)."""

    line: int
    state: RowState
    message: str


@dataclass(frozen=True, slots=True)
class RefundFile:
    rows: list[RefundRow]
    errors: list[RowError]

    @property
    def total(self) -> int:
        """Every data line of the file: each is a row or a row error."""
        return len(self.rows) + len(self.errors)


class _Refused(Exception):
    """One line's problem, carried to where it becomes a RowError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def job_id(batch_id: str, line: int) -> str:
    return f"{batch_id}:{line}"


def no_batch(batch_id: str) -> NotFound:
    """The one answer for a batch a caller cannot have: unknown, or another merchant's."""
    return NotFound(f"no refund batch {batch_id}")


def decode_refund_file(body: bytes) -> str:
    """The file's text; bytes that are not UTF-8 refuse it whole, naming the line they are on."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        line = body.count(b"\n", 0, error.start) + 1
        raise InvalidRequest(f"line {line} is not UTF-8 text: the file must be UTF-8") from None


def split_lines(text: str) -> list[str]:
    """The physical lines: split at `\\n` only (`str.splitlines` would also split at form feeds and
    Unicode separators inside a field), one `\\r` before it dropped; a final line ending is no line."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def parse_refund_file(text: str, *, merchant_id: str | None = None) -> RefundFile:
    """Every data line a row or a row error; raise InvalidRequest only when the file as a whole is
    unusable. With `merchant_id` (a merchant key's upload), a row of any other merchant is an error."""
    data = _data_lines(text.removeprefix(BOM))
    if not data:
        raise InvalidRequest("the file has no data rows: nothing follows the header (line 1)")
    if not any(line.strip() for _, line in data):
        blank = "line 2 is" if len(data) == 1 else f"lines 2 to {data[-1][0]} are"
        raise InvalidRequest(f"the file has no data rows: {blank} blank")
    rows: list[RefundRow] = []
    errors: list[RowError] = []
    for number, line in data:
        try:
            row = _row(number, line)
            if merchant_id is not None and row.merchant_id != merchant_id:
                raise _Refused(OTHER_MERCHANT)
        except _Refused as refused:
            errors.append(RowError(number, refused.message))
        else:
            rows.append(row)
    return RefundFile(rows, errors)


def kept_copy(parsed: RefundFile) -> str:
    """The file as it is stored: the header and exactly the rows import accepted, each on its own line
    number, every refused line left blank. A refused line may hold anything (a card number, say), so
    it is never written to the bucket; `kept_rows` reads the same rows back, on the same lines."""
    lines = [",".join(HEADER), *([""] * parsed.total)]
    for row in parsed.rows:
        lines[row.line - 1] = _csv_line(
            [
                row.merchant_id,
                row.payment_intent_id,
                "" if row.amount is None else str(row.amount),
                row.reason or "",
            ]
        )
    return "\n".join(lines) + "\n"


def kept_rows(text: str) -> list[RefundRow]:
    """The rows of a stored copy (`kept_copy`): its blank lines are the lines refused at import.
    Anything else that does not parse is no merchant's mistake but a broken copy: raise."""
    rows = []
    for number, line in _data_lines(text):
        if not line:
            continue
        try:
            rows.append(_row(number, line))
        except _Refused as refused:
            raise ValueError(
                f"the stored refund file is broken at line {number}: {refused.message}"
            ) from None
    return rows


def _data_lines(text: str) -> list[tuple[int, str]]:
    """The lines after the header, numbered from 2; the header checked, the row limit kept."""
    lines = split_lines(text)
    if lines and BOM in lines[0]:
        raise InvalidRequest(
            "line 1 holds a byte-order mark (U+FEFF) after its first character: a file may start with"
            " one, and hold no other"
        )
    try:
        header = _fields(lines[0]) if lines else []
    except _Refused:
        header = []
    if tuple(cell.strip() for cell in header) != HEADER:
        raise InvalidRequest(f"line 1 must be the header {','.join(HEADER)}")
    if len(lines) - 1 > MAX_ROWS:
        raise InvalidRequest(f"line {MAX_ROWS + 2}: a file holds at most {MAX_ROWS} rows")
    return list(enumerate(lines[1:], start=2))


def _row(number: int, line: str) -> RefundRow:
    if BOM in line:
        raise _Refused("a byte-order mark (U+FEFF) is allowed only as the file's very first character")
    if "\r" in line:
        raise _Refused("a carriage return is allowed only at the end of a line")
    if not line.strip():
        raise _Refused("the line is blank: every line after the header is a row")
    cells = _fields(line)
    problem = _problem(cells)
    if problem:
        raise _Refused(problem)
    merchant_id, payment_intent_id, amount, reason = (cell.strip() for cell in cells)
    return RefundRow(number, merchant_id, payment_intent_id, int(amount) if amount else None, reason or None)


def _fields(line: str) -> list[str]:
    """The one record of one line, parsed strictly: a quote left open ends at the end of this line."""
    try:
        return next(csv.reader([line], strict=True))
    except csv.Error as error:
        raise _Refused(_csv_problem(line, error)) from None


def _csv_problem(line: str, error: csv.Error) -> str:
    """Name the common fault plainly: a line that parses once a closing quote is added left one open."""
    try:
        next(csv.reader([line + '"'], strict=True))
    except csv.Error:
        return f"not valid CSV: {error}"
    return UNTERMINATED_QUOTE


def _csv_line(cells: list[str]) -> str:
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(cells)
    return line.getvalue()


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
