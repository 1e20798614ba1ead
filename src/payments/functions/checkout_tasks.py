"""The checkout workflow's task states, one handler each (each is its own function in the template).

A task raises a typed error (its class name is the state's error, which Retry / Catch match on) or
returns what the next state needs. None of them retries: the state machine does.
"""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.adapters.event_topic import event_body
from payments.domain.errors import CardDeclined
from payments.domain.events import event_for
from payments.functions.observability import observed
from payments.service import checkout, checkout_alerts, receipts
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.ledger import post_hold_ahead


@observed
def validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return checkout.validate_for_checkout(
        event["paymentIntentId"], intents=bootstrap.intent_repository(), clock=bootstrap.now
    )


@observed
def step_up(event: dict[str, Any], context: Any) -> None:
    """Waits on a task token: the challenge endpoint answers it (SendTaskSuccess / SendTaskFailure)."""
    checkout.require_step_up(
        event["trackingId"], event["taskToken"], checkouts=bootstrap.checkout_repository()
    )


@observed
def decline(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The fraud check blocked the payment: a decline like the issuer's, and counted as one."""
    checkout.decline_checkout(
        event["paymentIntentId"],
        event["trackingId"],
        code=event["code"],
        message=event["message"],
        intents=bootstrap.intent_repository(),
        checkouts=bootstrap.checkout_repository(),
        clock=bootstrap.now,
    )
    stage = bootstrap.settings().stage
    emf_metrics.record_authorization(declined=True, stage=stage)
    emf_metrics.record_checkout_outcome("DECLINED", stage=stage)
    return {"code": event["code"]}


@observed
def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The gateway authorization; its answer carries the AUTHORIZED event as recorded, which the
    PublishEvent state sends as is (the very body the transactions stream publishes)."""
    intents = bootstrap.intent_repository()
    stage = bootstrap.settings().stage
    try:
        intent = authorize_intent(
            AuthorizeIntent(
                payment_intent_id=event["paymentIntentId"],
                three_d_secure_passed=bool(event.get("threeDSecurePassed")),
                capture_if_automatic=False,
                request_id=event.get("trackingId"),
            ),
            intents=intents,
            fraud=None,  # the workflow's FraudCheck state screened this attempt
            gateway=bootstrap.checkout_gateway(),
            clock=bootstrap.now,
        )
    except CardDeclined:
        emf_metrics.record_authorization(declined=True, stage=stage)
        raise
    emf_metrics.record_authorization(declined=False, stage=stage)
    assert intent.transaction_id is not None, "an authorized payment has its authorization"
    authorization = intents.get_transaction(intent.transaction_id)
    return {
        "status": intent.status.value,
        "transactionId": intent.transaction_id,
        "event": event_body(event_for(authorization)),
    }


@observed
def record_ledger(event: dict[str, Any], context: Any) -> dict[str, Any]:
    intent = bootstrap.intent_repository().get(event["paymentIntentId"], consistent=True)
    posted = post_hold_ahead(intent, ledger=bootstrap.ledger(), clock=bootstrap.now)
    return {"holdPosted": posted}


def _count_failure(error: dict[str, Any]) -> None:
    """A checkout ending in failure: DECLINED when the card was, else FAILED; a fault also counts as
    a checkout error (what the rollback alarm watches)."""
    stage = bootstrap.settings().stage
    declined = error.get("Error") == "CardDeclined"
    emf_metrics.record_checkout_outcome("DECLINED" if declined else "FAILED", stage=stage)
    if checkout.is_unexpected_failure(error):
        emf_metrics.record_checkout_error(stage=stage)


@observed
def compensate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    error = event.get("error") or {}
    code, message = checkout.failure_from(error)
    _count_failure(error)
    return checkout.compensate(
        event["paymentIntentId"],
        event["trackingId"],
        code=code,
        message=message,
        intents=bootstrap.intent_repository(),
        gateway=bootstrap.checkout_gateway(),
        ledger=bootstrap.ledger(),
        checkouts=bootstrap.checkout_repository(),
        alerts=bootstrap.ops_alerts(),
        clock=bootstrap.now,
    )


@observed
def send_receipt(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return receipts.send_payment_receipt(
        event["paymentIntentId"],
        intents=bootstrap.intent_repository(),
        mailer=bootstrap.mailer(),
        suppressions=bootstrap.suppression_list(),
        clock=bootstrap.now,
        order_page_url_template=bootstrap.settings().order_page_url_template,
    )


@observed
def write_audit(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The workflow's last step. It also reports the steps after the authorization that failed (their
    Catch left an error where their result would be): on the happy path a separate state for that
    would cost a transition per checkout."""
    key = checkout.write_audit(
        event["trackingId"],
        event["executionArn"],
        workflow=bootstrap.workflow(),
        archive=bootstrap.audit_archive(),
        clock=bootstrap.now,
    )
    failed = checkout_alerts.failed_steps(event.get("steps") or {})
    if failed:
        _report_incident(event, failed)
    # The audit record is the workflow's last step: the checkout has succeeded.
    emf_metrics.record_checkout_outcome("SUCCEEDED", stage=bootstrap.settings().stage)
    return {"auditKey": key}


def _report_incident(event: dict[str, Any], failed: dict[str, str]) -> None:
    checkout_alerts.report_incident(
        event["trackingId"],
        event["paymentIntentId"],
        event["executionArn"],
        failed,
        alerts=bootstrap.ops_alerts(),
    )
    emf_metrics.record_checkout_error(stage=bootstrap.settings().stage)


@observed
def alert_ops(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The workflow's catch-all. With no `error`, the checkout succeeded (ReportIncident: the audit
    record failed, maybe more); with one, the checkout failed and handling that failed too
    (EscalateCompensation, EscalateRecordFailure)."""
    failed = checkout_alerts.failed_steps(event.get("steps") or {})
    error = event.get("error")
    if not error:
        _report_incident(event, failed)
        emf_metrics.record_checkout_outcome("SUCCEEDED", stage=bootstrap.settings().stage)
        return {"reported": sorted(failed)}
    checkout_alerts.escalate_failure(
        event["trackingId"],
        event["paymentIntentId"],
        event["executionArn"],
        error,
        failed,
        intents=bootstrap.intent_repository(),
        checkouts=bootstrap.checkout_repository(),
        alerts=bootstrap.ops_alerts(),
    )
    emf_metrics.record_checkout_error(stage=bootstrap.settings().stage)
    return {"escalated": sorted(failed)}


@observed
def record_failure(event: dict[str, Any], context: Any) -> None:
    """The intent was not fit for a checkout (unknown, not PENDING, expired), or reading it failed:
    nothing to undo. (An execution started on the previous definition sends no paymentIntentId.)"""
    error = event.get("error") or {}
    checkout_alerts.record_failure(
        event["trackingId"],
        str(event.get("paymentIntentId", "")),
        error,
        checkouts=bootstrap.checkout_repository(),
        alerts=bootstrap.ops_alerts(),
    )
    _count_failure(error)
