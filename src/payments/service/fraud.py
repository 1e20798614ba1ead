"""The fraud-check use case: count this attempt's velocity, then score it with the domain rules.

Velocity keys: `customer#<merchantId>#<customerId>` (customer ids are each merchant's own),
`device#<fingerprint>` and `ip#<address>` (the shopper's, as the merchant sent them; absent when not
sent: the API caller's own address is never one).
"""

from __future__ import annotations

from dataclasses import replace

from payments.domain.fraud import FraudAssessment, FraudRules, FraudSignals, assess, merchant_customer
from payments.service.ports import ApprovalHistory, VelocityCounter


def screen(signals: FraudSignals, *, velocity: VelocityCounter, rules: FraudRules) -> FraudAssessment:
    keys = {"customer": f"customer#{signals.customer}"}
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
    """Fraud feedback: an AUTHORIZED payment event adds to its customer's approval history, once.

    The history is the merchant's customer's (`merchant_customer`). An event that does not name its
    merchant cannot say whose customer it is, so it is not counted: better no history than one
    merged with another merchant's customer of the same id."""
    merchant_id = event.get("merchantId")
    if not isinstance(merchant_id, str) or not merchant_id:
        return False
    return history.record(
        customer_id=merchant_customer(merchant_id, str(event["customerId"])),
        event_id=str(event["eventId"]),
        approved_at=str(event["occurredAt"]),
    )
