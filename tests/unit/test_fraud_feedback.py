"""Fraud feedback: an AUTHORIZED event adds to its merchant's customer's approval history, once per event."""

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


def approved(event_id: str, *, merchant: str = "mer_1", customer: str = "cus_1") -> dict[str, object]:
    return {
        "eventId": event_id,
        "merchantId": merchant,
        "customerId": customer,
        "occurredAt": "2026-11-24T12:00:00.000Z",
    }


def test_each_authorization_counts_once_for_its_customer() -> None:
    history = FakeHistory()
    assert remember_approval(approved("txn_1_auth"), history=history) is True
    assert remember_approval(approved("txn_1_auth"), history=history) is False  # redelivered
    assert remember_approval(approved("txn_2_auth"), history=history) is True
    assert history.approvals == {"mer_1#cus_1": {"txn_1_auth", "txn_2_auth"}}


def test_two_merchants_customers_of_the_same_id_have_their_own_history() -> None:
    history = FakeHistory()

    remember_approval(approved("txn_1_auth", merchant="mer_a"), history=history)
    remember_approval(approved("txn_2_auth", merchant="mer_b"), history=history)

    assert history.approvals == {"mer_a#cus_1": {"txn_1_auth"}, "mer_b#cus_1": {"txn_2_auth"}}


def test_an_event_that_names_no_merchant_is_not_counted_for_anyone() -> None:
    history = FakeHistory()
    event = approved("txn_1_auth")
    del event["merchantId"]

    assert remember_approval(event, history=history) is False
    assert remember_approval({**event, "merchantId": ""}, history=history) is False
    assert history.approvals == {}
