"""The fraud-check use case: count this attempt's velocity, then score it with the domain rules."""

from __future__ import annotations

from dataclasses import replace

from payments.domain.fraud import FraudAssessment, FraudRules, FraudSignals, assess
from payments.service.ports import ApprovalHistory, VelocityCounter


def screen(signals: FraudSignals, *, velocity: VelocityCounter, rules: FraudRules) -> FraudAssessment:
    keys = {"customer": f"customer#{signals.customer_id}"}
    if signals.device_fingerprint:
        keys["device"] = f"device#{signals.device_fingerprint}"
    if signals.ip_address:
        keys["ip"] = f"ip#{signals.ip_address}"
    counts = velocity.hit(list(keys.values()), window_seconds=rules.velocity_window_seconds)
    counted = replace(
        signals,
        customer_attempts=counts.get(keys["customer"], 1),
        device_attempts=counts.get(keys.get("device", ""), 0),
        ip_attempts=counts.get(keys.get("ip", ""), 0),
    )
    return assess(counted, rules)


def remember_approval(event: dict[str, object], *, history: ApprovalHistory) -> bool:
    """Fraud feedback: an AUTHORIZED payment event adds to its customer's approval history, once."""
    return history.record(
        customer_id=str(event["customerId"]),
        event_id=str(event["eventId"]),
        approved_at=str(event["occurredAt"]),
    )
