"""Reconciliation rules: a settlement file's rows against what the ledger booked.

Every row is one of: **matched** (the ledger booked that movement, of that kind, for the same amount and
currency), **missing in the ledger** (the gateway settled a movement we never booked), or an **amount
mismatch** (booked, but for another amount, currency or kind). Every movement the ledger booked in the
file's window that no settlement file has carried is **missing in the settlement**. Fees are summed per
currency. Pure: the caller looks the ledger up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from payments.domain.ledger import Account, LedgerEntry
from payments.settlement.rows import LEDGER_KIND, SettlementRow


class Outcome(StrEnum):
    MATCHED = "matched"
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_SETTLEMENT = "missing_in_settlement"
    AMOUNT_MISMATCH = "amount_mismatch"


@dataclass(frozen=True, slots=True)
class Booked:
    """A movement as the ledger booked it: the amount that went through the gateway's clearing account."""

    movement_id: str
    payment_intent_id: str
    kind: str
    amount: int
    currency: str
    booked_at: datetime


@dataclass(frozen=True, slots=True)
class Line:
    movement_id: str
    payment_intent_id: str
    outcome: Outcome
    kind: str
    settled_amount: int | None
    booked_amount: int | None
    currency: str
    fee: int
    detail: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    lines: tuple[Line, ...]
    rows: int
    fees: Mapping[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for line in self.lines if line.outcome is outcome)

    @property
    def clean(self) -> bool:
        return all(line.outcome is Outcome.MATCHED for line in self.lines)

    def summary(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "matched": self.count(Outcome.MATCHED),
            "missingInLedger": self.count(Outcome.MISSING_IN_LEDGER),
            "missingInSettlement": self.count(Outcome.MISSING_IN_SETTLEMENT),
            "amountMismatches": self.count(Outcome.AMOUNT_MISMATCH),
            "fees": dict(sorted(self.fees.items())),
            "status": "MATCHED" if self.clean else "MISMATCHED",
        }


def _row_line(row: SettlementRow, booked: Booked | None) -> Line:
    kind = LEDGER_KIND[row.type]
    if booked is None:
        detail = f"the gateway settled {row.type} {row.transaction_id}; the ledger has no entry"
        return Line(
            row.movement_id,
            row.payment_intent_id,
            Outcome.MISSING_IN_LEDGER,
            kind,
            row.amount,
            None,
            row.currency,
            row.fee,
            detail,
        )
    differences = [
        f"{name} {settled!r} settled, {ledger!r} booked"
        for name, settled, ledger in (
            ("kind", kind, booked.kind),
            ("amount", row.amount, booked.amount),
            ("currency", row.currency, booked.currency),
        )
        if settled != ledger
    ]
    return Line(
        row.movement_id,
        row.payment_intent_id,
        Outcome.AMOUNT_MISMATCH if differences else Outcome.MATCHED,
        kind,
        row.amount,
        booked.amount,
        row.currency,
        row.fee,
        "; ".join(differences),
    )


def reconcile(
    rows: Iterable[SettlementRow], booked: Mapping[str, Booked], unsettled: Iterable[Booked]
) -> Reconciliation:
    """`booked`: the ledger's movements by movement id (those the rows name); `unsettled`: what the
    ledger booked in the file's window that no settlement file carried (this one's rows excluded here)."""
    rows = list(rows)
    lines = [_row_line(row, booked.get(row.movement_id)) for row in rows]
    in_file = {row.movement_id for row in rows}
    for movement in sorted(unsettled, key=lambda b: (b.booked_at, b.movement_id)):
        if movement.movement_id in in_file:
            continue
        lines.append(
            Line(
                movement.movement_id,
                movement.payment_intent_id,
                Outcome.MISSING_IN_SETTLEMENT,
                movement.kind,
                None,
                movement.amount,
                movement.currency,
                0,
                f"booked at {movement.booked_at.isoformat()}; no settlement file carries it",
            )
        )
    fees: dict[str, int] = {}
    for row in rows:
        fees[row.currency] = fees.get(row.currency, 0) + row.fee
    return Reconciliation(tuple(lines), len(rows), fees)


def booked_from(entry: LedgerEntry) -> Booked | None:
    """The movement a ledger entry booked: what went through the gateway's clearing account (None for
    entries that move nothing through the gateway, such as holds)."""
    clearing = [leg for leg in entry.legs if leg.account is Account.GATEWAY_CLEARING]
    if not clearing:
        return None
    amount = clearing[0].amount
    return Booked(
        entry.entry_id,
        entry.payment_intent_id,
        entry.kind,
        amount.amount,
        amount.currency.code,
        entry.created_at,
    )
