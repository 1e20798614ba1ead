"""A checkout whose own steps fail for good, over HTTP against `payments local up`: the payment ends where
it should, the checkout says so, and ops hear of it exactly once; a payment outcome pages nobody.

Faults are injected with `POST /_local/faults`, each count one more than the state's retries allow
(statemachines/checkout.asl.json): SendReceipt 3, WriteAudit, Compensate, DeclineForFraud, RecordFailure
and the catch-all 4, the ledger branch 3, ValidateIntent 1 (it retries only Lambda's own errors).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Api, RunningStack, net
from tests.e2e.test_checkout_flow import SETTLED, outcome, start, wait_for

Inject = Callable[[str, int], None]


@pytest.fixture
def inject(api: Api) -> Iterator[Inject]:
    def fail_next(function: str, count: int) -> None:
        reply = api.request("POST", "/_local/faults", {"function": function, "count": count})
        assert reply.status == 200, reply.body

    yield fail_next
    api.request("DELETE", "/_local/faults")


def alerts_for(api: Api, intent_id: str) -> list[dict[str, Any]]:
    """The chat messages about this payment, once every asynchronous delivery has landed."""
    api.quiet()
    notifications = api.request("GET", "/_local/notifications").body["data"]
    return [n for n in notifications if intent_id in json.dumps(n)]


def audit_keys(stack: RunningStack, tracking_id: str) -> list[str]:
    s3 = stack.aws("s3")
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "auditbucket" in b["Name"])
    found = s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("Contents", [])
    return [o["Key"] for o in found if tracking_id in o["Key"]]


def execution_status(stack: RunningStack, tracking_id: str) -> str:
    sfn = stack.aws("stepfunctions")
    [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    [execution] = [
        e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["name"] == tracking_id
    ]
    return str(execution["status"])


# -- after the authorization: the payment stays authorized, the checkout succeeds, ops hear once ------


def test_a_receipt_that_cannot_be_sent_leaves_the_checkout_succeeded_and_pages_once(
    api: Api, stack: RunningStack, inject: Inject
) -> None:
    inject("CheckoutReceiptFunction", 3)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("SUCCEEDED", "AUTHORIZED", None), view
    assert api.get_intent(intent_id).body["receiptStatus"] == "NOT_SENT"
    assert len(audit_keys(stack, tracking_id)) == 1  # the audit still ran, and reported the receipt
    [alert] = alerts_for(api, intent_id)
    assert "SendReceipt" in alert["text"]
    assert "NOT_SENT" in json.dumps(alert)


def test_an_audit_record_that_cannot_be_written_leaves_the_checkout_succeeded_and_pages_once(
    api: Api, stack: RunningStack, inject: Inject
) -> None:
    inject("CheckoutAuditFunction", 4)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("SUCCEEDED", "AUTHORIZED", None), view
    assert api.get_intent(intent_id).body["receiptStatus"] == "SENT"
    assert audit_keys(stack, tracking_id) == []
    [alert] = alerts_for(api, intent_id)
    assert "WriteAudit" in alert["text"]
    assert execution_status(stack, tracking_id) == "SUCCEEDED"


def test_every_step_after_the_authorization_failing_still_pages_once(api: Api, inject: Inject) -> None:
    inject("CheckoutReceiptFunction", 3)
    inject("CheckoutAuditFunction", 4)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("SUCCEEDED", "AUTHORIZED", None), view
    [alert] = alerts_for(api, intent_id)
    assert "SendReceipt, WriteAudit failed" in alert["text"]


def test_when_ops_cannot_be_told_the_execution_fails_for_its_alarm_and_the_payment_still_reads_right(
    api: Api, stack: RunningStack, inject: Inject
) -> None:
    # Given the audit fails for good, and so does the catch-all that would report it
    inject("CheckoutAuditFunction", 4)
    inject("CheckoutAlertFunction", 4)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED, timeout=60)
    # Then the execution fails (ExecutionsFailed pages in AWS), and the checkout still reads as what the
    # payment is: authorized, nothing undid it
    assert execution_status(stack, tracking_id) == "FAILED"
    assert outcome(view) == ("SUCCEEDED", "AUTHORIZED", None), view
    assert alerts_for(api, intent_id) == []


def test_a_compensation_that_fails_is_handed_to_ops_once_and_the_hold_can_be_voided_by_hand(
    api: Api, stack: RunningStack, inject: Inject
) -> None:
    # Given the ledger branch fails, and then the compensation that would void the authorization
    inject("CheckoutLedgerFunction", 3)
    inject("CheckoutCompensateFunction", 4)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED, timeout=60)
    # Then the checkout failed, the authorization still holds the money, and ops are told what to do
    assert outcome(view) == ("FAILED", "AUTHORIZED", "checkout_failed"), view
    [alert] = alerts_for(api, intent_id)
    assert "Compensate failed too" in alert["text"]
    assert f"/v1/payment-intents/{intent_id}/void" in json.dumps(alert)
    # ... and doing it releases the hold on the books
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/void").body["status"] == "VOIDED"
    assert net(api.ledger(intent_id, kinds=["AUTHORIZED", "VOIDED"])) == {}


# -- before any money moved: the checkout fails, ops hear of a fault once ---------------------------


def test_a_fraud_block_that_cannot_be_recorded_is_compensated_and_pages_once(
    api: Api, stack: RunningStack, inject: Inject
) -> None:
    inject("CheckoutDeclineFunction", 4)
    before = stack.gateway_stats()["authorizations"]
    tracking_id, intent_id = start(api, "pm_card_risk_highest")
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "DECLINED", "checkout_failed"), view
    assert stack.gateway_stats()["authorizations"] == before
    [alert] = alerts_for(api, intent_id)
    assert "was compensated" in alert["text"]


def test_a_fault_before_any_money_moved_pages_once(api: Api, inject: Inject) -> None:
    inject("CheckoutValidateFunction", 1)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "PENDING", "checkout_failed"), view
    [alert] = alerts_for(api, intent_id)
    assert "before any money moved" in alert["text"]


def test_a_failure_that_cannot_be_recorded_is_escalated_once(api: Api, inject: Inject) -> None:
    inject("CheckoutValidateFunction", 1)
    inject("CheckoutRecordFailureFunction", 4)
    tracking_id, intent_id = start(api)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "PENDING", "checkout_failed"), view
    [alert] = alerts_for(api, intent_id)
    assert "RecordFailure failed too" in alert["text"]


# -- payment outcomes page nobody --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("pm_card_declined", "card_declined"),
        ("pm_card_insufficient_funds", "card_declined"),
        ("pm_card_risk_highest", "fraud_suspected"),
    ],
)
def test_a_decline_or_a_fraud_block_pages_nobody(
    api: Api, stack: RunningStack, method: str, code: str
) -> None:
    tracking_id, intent_id = start(api, method)
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "DECLINED", code), view
    assert alerts_for(api, intent_id) == []
    assert execution_status(stack, tracking_id) == "SUCCEEDED"  # ExecutionsFailed counts no decline


def test_a_step_up_logs_no_error_and_a_failed_challenge_pages_nobody(api: Api, stack: RunningStack) -> None:
    tracking_id, intent_id = start(api, "pm_card_3ds_required")
    assert wait_for(api, tracking_id, {"ACTION_REQUIRED", *SETTLED})["status"] == "ACTION_REQUIRED"
    assert api.request("POST", f"/v1/checkouts/{tracking_id}/challenge", {"outcome": "failed"}).status == 202
    view = wait_for(api, tracking_id, SETTLED)
    assert outcome(view) == ("FAILED", "DECLINED", "authentication_failed"), view
    assert alerts_for(api, intent_id) == []
    # The step-up the gateway asked for is an INFO line, not an ERROR with a traceback
    time.sleep(0.5)  # the stack's output is read by a thread
    lines = [json.loads(line) for line in list(stack.output) if tracking_id in line and line.startswith("{")]
    assert any(line["message"] == "invocation answered with a payment outcome" for line in lines)
    assert [line for line in lines if line["level"] == "ERROR"] == []
