"""The checkout workflow's domain: its statuses, tracking ids and the amount tiers events carry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from payments.domain.money import Money


class CheckoutStatus(StrEnum):
    RUNNING = "RUNNING"
    ACTION_REQUIRED = "ACTION_REQUIRED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class AmountTier(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


# Tier bounds in major units of the payment's currency: LOW below 100, MEDIUM below 1,000, else HIGH.
TIER_BOUNDS_MAJOR: Final = MappingProxyType({AmountTier.LOW: 100, AmountTier.MEDIUM: 1_000})


def amount_tier(amount: Money) -> AmountTier:
    scale = 10**amount.currency.exponent
    for tier, bound in TIER_BOUNDS_MAJOR.items():
        if amount.amount < bound * scale:
            return tier
    return AmountTier.HIGH


def tracking_id_for(payment_intent_id: str) -> str:
    """One checkout per payment: the tracking id (and the execution's name) derives from the intent,
    so starting twice finds the first execution instead of running a second."""
    return f"chk_{payment_intent_id.removeprefix('pi_')}"


@dataclass(frozen=True, slots=True)
class CheckoutFailure:
    code: str
    message: str
