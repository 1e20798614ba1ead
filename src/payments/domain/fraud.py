"""Fraud scoring: amount, velocity per customer / device / IP, a blocklist, and the risk test methods.

Each signal adds points to a 0-100 score; the score picks the decision. Every threshold is a field of
`FraudRules`, read from configuration at the edge (see docs/fraud.md for the defaults and why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from payments.domain.money import Money


class Decision(StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"  # ask for 3-D Secure
    BLOCK = "block"  # a clean decline, the gateway is never called


@dataclass(frozen=True, slots=True)
class FraudRules:
    step_up_score: int = 40
    block_score: int = 80
    # Amount thresholds in major units of the payment's currency, overridable per currency code.
    amount_review_major: int = 2_000
    amount_high_major: int = 10_000
    amount_overrides_major: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    amount_review_points: int = 25
    amount_high_points: int = 45
    # Attempts allowed per window before a dimension counts as too fast.
    velocity_window_seconds: int = 3600
    customer_limit: int = 10
    device_limit: int = 10
    ip_limit: int = 20
    # Customer or device over its limit steps up on its own, both together block; an IP over its limit
    # only adds weight (many customers share one address behind a NAT).
    customer_points: int = 40
    device_points: int = 40
    ip_points: int = 25
    blocklist: frozenset[str] = frozenset()
    always_block_methods: frozenset[str] = frozenset({"pm_card_risk_highest"})
    always_step_up_methods: frozenset[str] = frozenset({"pm_card_risk_elevated"})

    def __post_init__(self) -> None:
        # Emails match whatever their case: normalise the entries once, as attempts are normalised.
        normalised = frozenset(
            entry.lower() if entry.lower().startswith("email:") else entry for entry in self.blocklist
        )
        object.__setattr__(self, "blocklist", normalised)

    def amount_thresholds_minor(self, money: Money) -> tuple[int, int]:
        review, high = self.amount_overrides_major.get(
            money.currency.code, (self.amount_review_major, self.amount_high_major)
        )
        scale = 10**money.currency.exponent
        return review * scale, high * scale


@dataclass(frozen=True, slots=True)
class FraudSignals:
    """What is known about one attempt. Velocity counts include this attempt."""

    amount: Money
    customer_id: str
    payment_method: str
    device_fingerprint: str | None = None
    ip_address: str | None = None
    email: str | None = None
    customer_attempts: int = 1
    device_attempts: int = 0
    ip_attempts: int = 0


@dataclass(frozen=True, slots=True)
class FraudAssessment:
    decision: Decision
    score: int
    reasons: tuple[str, ...]


def blocklist_keys(signals: FraudSignals) -> tuple[str, ...]:
    """The `kind:value` entries a blocklist may name for this attempt."""
    keys = [f"customer:{signals.customer_id}"]
    if signals.device_fingerprint:
        keys.append(f"device:{signals.device_fingerprint}")
    if signals.ip_address:
        keys.append(f"ip:{signals.ip_address}")
    if signals.email:
        keys.append(f"email:{signals.email.lower()}")
    return tuple(keys)


def assess(signals: FraudSignals, rules: FraudRules) -> FraudAssessment:
    reasons: list[str] = []
    score = 0

    def add(points: int, reason: str) -> None:
        nonlocal score
        score += points
        reasons.append(reason)

    if signals.payment_method in rules.always_block_methods:
        add(100, "risk_test_method_highest")
    elif signals.payment_method in rules.always_step_up_methods:
        add(rules.step_up_score, "risk_test_method_elevated")
    if any(key in rules.blocklist for key in blocklist_keys(signals)):
        add(100, "blocklisted")

    review, high = rules.amount_thresholds_minor(signals.amount)
    if signals.amount.amount >= high:
        add(rules.amount_high_points, "amount_high")
    elif signals.amount.amount >= review:
        add(rules.amount_review_points, "amount_elevated")

    if signals.customer_attempts > rules.customer_limit:
        add(rules.customer_points, "velocity_customer")
    if signals.device_attempts > rules.device_limit:
        add(rules.device_points, "velocity_device")
    if signals.ip_attempts > rules.ip_limit:
        add(rules.ip_points, "velocity_ip")

    score = min(score, 100)
    if score >= rules.block_score:
        decision = Decision.BLOCK
    elif score >= rules.step_up_score:
        decision = Decision.STEP_UP
    else:
        decision = Decision.ALLOW
    return FraudAssessment(decision=decision, score=score, reasons=tuple(reasons))
