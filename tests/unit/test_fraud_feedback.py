"""Fraud feedback: an AUTHORIZED event adds to its customer's approval history, once per event."""

from __future__ import annotations

from payments.service.fraud import remember_approval
from payments.service.ports import ApprovalHistory


class FakeHistory(ApprovalHistory):
    def __init__(self) -> None:
        self.approvals: dict[str, set[str]] = {}

    def record(self, *, customer_id: str, event_id: str, approved_at: str) -> bool:
        seen = self.approvals.setdefault(customer_id, set())
        if event_id in seen:
            return False
        seen.add(event_id)
        return True


def test_each_authorization_counts_once_for_its_customer() -> None:
    history = FakeHistory()
    event = {"eventId": "txn_1_auth", "customerId": "cus_1", "occurredAt": "2026-11-24T12:00:00.000Z"}
    assert remember_approval(event, history=history) is True
    assert remember_approval(event, history=history) is False  # redelivered
    assert remember_approval({**event, "eventId": "txn_2_auth"}, history=history) is True
    assert history.approvals == {"cus_1": {"txn_1_auth", "txn_2_auth"}}
