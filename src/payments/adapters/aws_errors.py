"""What an AWS error means to an adapter, read in one place."""

from __future__ import annotations

from typing import Final

from botocore.exceptions import ClientError

CONDITION_FAILED: Final = "ConditionalCheckFailedException"
TRANSACTION_CANCELED: Final = "TransactionCanceledException"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def condition_failed(error: ClientError) -> bool:
    """A conditional write (or a transaction holding one) was refused: someone else got there first."""
    return error_code(error) in {CONDITION_FAILED, TRANSACTION_CANCELED}


def cancellation_codes(error: ClientError) -> list[str]:
    """Why each item of a canceled transaction failed, in the transaction's order ("None": it held)."""
    reasons = error.response.get("CancellationReasons") or []
    return [str(reason.get("Code", "None")) for reason in reasons]
