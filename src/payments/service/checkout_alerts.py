"""What the checkout workflow tells ops when one of its own steps fails for good: one message per
checkout, and none for a payment outcome.

A decline, a fraud block or a failed challenge is the payment's answer; a person cannot change it, so
it pages nobody. A fault pages once, from the state that ends the checkout's handling of it:

- before any money moved, RecordFailure (the intent was not fit for a checkout, or reading it failed);
- once the parallel step failed, Compensate (the authorization voided, the hold reversed);
- after the authorization, WriteAudit or ReportIncident: the payment is authorized and stays so, the
  checkout succeeds, and the steps that failed (the event, the receipt, the audit record) are listed
  with what to do about each;
- when the compensation or the recording itself failed, EscalateCompensation or
  EscalateRecordFailure: a person must finish it.

If that last alert cannot be sent either, the execution fails, and the state machine's
ExecutionsFailed alarm is the page (docs/observability.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from payments.domain.intents import Status
from payments.service.checkout import failure_from, is_payment_outcome
from payments.service.ports import CheckoutRepository, IntentRepository, OpsAlerts

# What the person paged should do about each step that failed (docs/observability.md says more).
WHAT_TO_DO: Mapping[str, str] = MappingProxyType(
    {
        "PublishEvent": (
            "nothing is lost (the transactions stream publishes the same AUTHORIZED event); "
            "find why SNS refused the workflow's publish"
        ),
        "SendReceipt": "the receipt was not sent (receiptStatus NOT_SENT): send it again once fixed",
        "WriteAudit": "the audit record is missing: write it again while Step Functions keeps the history",
        "RecordSuccess": (
            "the checkout.succeeded webhook was not announced: set `succeeded` (true) on the checkout's "
            "item in the checkouts table, and its stream announces it"
        ),
    }
)


def failed_steps(steps: Mapping[str, Any]) -> dict[str, str]:
    """The states whose slot holds a Catch's `{"Error", "Cause"}` rather than their own result, each
    as "<error>: <message>"."""
    failed = {}
    for state, result in steps.items():
        if isinstance(result, Mapping) and "Error" in result:
            _, message = failure_from(dict(result))
            failed[state] = f"{result['Error']}: {message}"
    return failed


def report_incident(
    tracking_id: str,
    payment_intent_id: str,
    execution_arn: str,
    failed: Mapping[str, str],
    *,
    alerts: OpsAlerts,
) -> dict[str, object]:
    """The payment is authorized but steps after it failed: the checkout still succeeds (the money is
    rightly held and the merchant may capture it), and ops hear of it once, with every failed step."""
    details: dict[str, object] = {
        "paymentIntentId": payment_intent_id,
        "trackingId": tracking_id,
        "executionArn": execution_arn,
        **{f"failed {state}": error for state, error in failed.items()},
        **{f"to do ({state})": WHAT_TO_DO.get(state, "see the execution") for state in failed},
    }
    alerts.alert(f"checkout {tracking_id} succeeded, but {', '.join(failed)} failed", details)
    return details


def record_failure(
    tracking_id: str,
    payment_intent_id: str,
    error: dict[str, Any],
    *,
    checkouts: CheckoutRepository,
    alerts: OpsAlerts,
) -> tuple[str, str]:
    """RecordFailure: the intent was not fit for a checkout (an outcome: nobody is paged), or reading
    it failed (a fault: ops hear of it once). Nothing moved, so nothing is undone."""
    code, message = failure_from(error)
    checkouts.record_failure(tracking_id, code, message)
    if not is_payment_outcome(code):
        alerts.alert(
            f"checkout {tracking_id} failed before any money moved",
            {
                "paymentIntentId": payment_intent_id,
                "trackingId": tracking_id,
                "error": code,
                "message": message,
            },
        )
    return code, message


def escalate_failure(
    tracking_id: str,
    payment_intent_id: str,
    execution_arn: str,
    error: dict[str, Any],
    failed: Mapping[str, str],
    *,
    intents: IntentRepository,
    checkouts: CheckoutRepository,
    alerts: OpsAlerts,
) -> dict[str, object]:
    """The checkout failed and handling that failed too (the compensation, or recording the failure):
    record the failure, so the checkout reads FAILED, and ask a person to finish what the workflow
    could not. Recorded first: if even that fails, the execution fails and its alarm pages instead."""
    code, message = failure_from(error)
    status = intents.get(payment_intent_id, consistent=True).status
    checkouts.record_failure(tracking_id, code, message)
    if status is Status.AUTHORIZED:
        to_do = (
            "the authorization still holds the customer's money: void it "
            f"(POST /v1/payment-intents/{payment_intent_id}/void)"
        )
    else:
        to_do = "check the gateway for a hold still open under the payment's id, and the payment's ledger"
    details: dict[str, object] = {
        "paymentIntentId": payment_intent_id,
        "trackingId": tracking_id,
        "executionArn": execution_arn,
        "error": code,
        "message": message,
        "paymentStatus": status.value,
        **{f"failed {state}": step_error for state, step_error in failed.items()},
        "to do": to_do,
    }
    alerts.alert(f"checkout {tracking_id} failed and {', '.join(failed)} failed too", details)
    return details
