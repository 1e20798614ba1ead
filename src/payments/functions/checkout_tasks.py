"""The checkout workflow's task states, one handler each (each is its own function in the template,
so each is wired from its own entry's variables: see each `wire_*`).

A task raises a typed error (its class name is the state's error, which Retry / Catch match on) or
returns what the next state needs. None of them retries: the state machine does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments import bootstrap
from payments.adapters import emf_metrics
from payments.adapters.event_topic import event_body
from payments.domain.errors import CardDeclined
from payments.domain.events import event_for
from payments.service import checkout, checkout_alerts, receipts
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.ledger import post_hold_ahead
from payments.service.ports import (
    AuditArchive,
    CheckoutRepository,
    GatewayRouting,
    IntentRepository,
    Ledger,
    Mailer,
    OpsAlerts,
    SuppressionList,
    Workflow,
)


class AuthorizationMissing(RuntimeError):
    """An authorized payment without the id of its authorization: a fault, never a payment outcome
    (the workflow compensates, and the checkout counts as an error)."""


# -- Validate ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ValidateDependencies:
    intents: IntentRepository
    clock: Callable[[], datetime] = bootstrap.now


def wire_validate(env: bootstrap.Environment) -> ValidateDependencies:
    return ValidateDependencies(intents=bootstrap.intent_repository(env))


@bootstrap.lambda_function(wire_validate)
def validate(event: dict[str, Any], context: Any, deps: ValidateDependencies) -> dict[str, Any]:
    return checkout.validate_for_checkout(event["paymentIntentId"], intents=deps.intents, clock=deps.clock)


# -- StepUp: its one dependency is the checkouts table, so the builder is its wiring ------------------


@bootstrap.lambda_function(bootstrap.checkout_repository)
def step_up(event: dict[str, Any], context: Any, checkouts: CheckoutRepository) -> None:
    """Waits on a task token: the challenge endpoint answers it (SendTaskSuccess / SendTaskFailure)."""
    checkout.require_step_up(event["trackingId"], event["taskToken"], checkouts=checkouts)


# -- Decline -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeclineDependencies:
    intents: IntentRepository
    checkouts: CheckoutRepository
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire_decline(env: bootstrap.Environment) -> DeclineDependencies:
    return DeclineDependencies(
        intents=bootstrap.intent_repository(env),
        checkouts=bootstrap.checkout_repository(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_decline)
def decline(event: dict[str, Any], context: Any, deps: DeclineDependencies) -> dict[str, Any]:
    """The fraud check blocked the payment: a decline like the issuer's, and counted as one."""
    checkout.decline_checkout(
        event["paymentIntentId"],
        event["trackingId"],
        code=event["code"],
        message=event["message"],
        intents=deps.intents,
        checkouts=deps.checkouts,
        clock=deps.clock,
    )
    emf_metrics.record_authorization(declined=True, stage=deps.stage)
    emf_metrics.record_checkout_outcome("DECLINED", stage=deps.stage)
    return {"code": event["code"]}


# -- Authorize ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizeDependencies:
    intents: IntentRepository
    gateway: GatewayRouting  # one attempt per call: the state machine retries
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire_authorize(env: bootstrap.Environment) -> AuthorizeDependencies:
    return AuthorizeDependencies(
        intents=bootstrap.intent_repository(env),
        gateway=bootstrap.checkout_gateway(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_authorize)
def authorize(event: dict[str, Any], context: Any, deps: AuthorizeDependencies) -> dict[str, Any]:
    """The gateway authorization; its answer carries the AUTHORIZED event as recorded, which the
    PublishEvent state sends as is (the very body the transactions stream publishes)."""
    try:
        intent = authorize_intent(
            AuthorizeIntent(
                payment_intent_id=event["paymentIntentId"],
                three_d_secure_passed=bool(event.get("threeDSecurePassed")),
                capture_if_automatic=False,
                request_id=event.get("trackingId"),
            ),
            intents=deps.intents,
            fraud=None,  # the workflow's FraudCheck state screened this attempt
            gateway=deps.gateway,
            clock=deps.clock,
        )
    except CardDeclined:
        emf_metrics.record_authorization(declined=True, stage=deps.stage)
        raise
    emf_metrics.record_authorization(declined=False, stage=deps.stage)
    if intent.transaction_id is None:
        raise AuthorizationMissing(
            f"payment {intent.payment_intent_id} is {intent.status.value} without its authorization's id"
        )
    authorization = deps.intents.get_transaction(intent.transaction_id)
    return {
        "status": intent.status.value,
        "transactionId": intent.transaction_id,
        "event": event_body(event_for(authorization)),
    }


# -- RecordLedger ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerDependencies:
    intents: IntentRepository
    ledger: Ledger
    clock: Callable[[], datetime] = bootstrap.now


def wire_record_ledger(env: bootstrap.Environment) -> LedgerDependencies:
    return LedgerDependencies(intents=bootstrap.intent_repository(env), ledger=bootstrap.ledger(env))


@bootstrap.lambda_function(wire_record_ledger)
def record_ledger(event: dict[str, Any], context: Any, deps: LedgerDependencies) -> dict[str, Any]:
    intent = deps.intents.get(event["paymentIntentId"], consistent=True)
    posted = post_hold_ahead(intent, ledger=deps.ledger, clock=deps.clock)
    return {"holdPosted": posted}


def _count_failure(error: dict[str, Any], *, stage: str) -> None:
    """A checkout ending in failure: DECLINED when the card was, else FAILED; a fault also counts as
    a checkout error (what the rollback alarm watches)."""
    declined = error.get("Error") == "CardDeclined"
    emf_metrics.record_checkout_outcome("DECLINED" if declined else "FAILED", stage=stage)
    if checkout.is_unexpected_failure(error):
        emf_metrics.record_checkout_error(stage=stage)


# -- Compensate --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompensateDependencies:
    intents: IntentRepository
    gateway: GatewayRouting
    ledger: Ledger
    checkouts: CheckoutRepository
    alerts: OpsAlerts
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire_compensate(env: bootstrap.Environment) -> CompensateDependencies:
    return CompensateDependencies(
        intents=bootstrap.intent_repository(env),
        gateway=bootstrap.checkout_gateway(env),
        ledger=bootstrap.ledger(env),
        checkouts=bootstrap.checkout_repository(env),
        alerts=bootstrap.ops_alerts(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_compensate)
def compensate(event: dict[str, Any], context: Any, deps: CompensateDependencies) -> dict[str, Any]:
    error = event.get("error") or {}
    code, message = checkout.failure_from(error)
    _count_failure(error, stage=deps.stage)
    return checkout.compensate(
        event["paymentIntentId"],
        event["trackingId"],
        code=code,
        message=message,
        intents=deps.intents,
        gateway=deps.gateway,
        ledger=deps.ledger,
        checkouts=deps.checkouts,
        alerts=deps.alerts,
        clock=deps.clock,
    )


# -- SendReceipt -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptDependencies:
    intents: IntentRepository
    mailer: Mailer
    suppressions: SuppressionList
    order_page_url_template: str  # empty: the receipt links to no order page
    clock: Callable[[], datetime] = bootstrap.now


def wire_send_receipt(env: bootstrap.Environment) -> ReceiptDependencies:
    return ReceiptDependencies(
        intents=bootstrap.intent_repository(env),
        mailer=bootstrap.mailer(env),
        suppressions=bootstrap.suppression_list(env),
        order_page_url_template=env.settings.order_page_url_template,
    )


@bootstrap.lambda_function(wire_send_receipt)
def send_receipt(event: dict[str, Any], context: Any, deps: ReceiptDependencies) -> dict[str, Any]:
    return receipts.send_payment_receipt(
        event["paymentIntentId"],
        intents=deps.intents,
        mailer=deps.mailer,
        suppressions=deps.suppressions,
        clock=deps.clock,
        order_page_url_template=deps.order_page_url_template,
    )


# -- WriteAudit --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditDependencies:
    workflow: Workflow  # only its executions' history is read
    archive: AuditArchive
    alerts: OpsAlerts
    checkouts: CheckoutRepository  # the success is recorded there
    stage: str
    clock: Callable[[], datetime] = bootstrap.now


def wire_write_audit(env: bootstrap.Environment) -> AuditDependencies:
    return AuditDependencies(
        workflow=bootstrap.execution_history(env),
        archive=bootstrap.audit_archive(env),
        alerts=bootstrap.ops_alerts(env),
        checkouts=bootstrap.checkout_repository(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_write_audit)
def write_audit(event: dict[str, Any], context: Any, deps: AuditDependencies) -> dict[str, Any]:
    """The workflow's last step. It also reports the steps after the authorization that failed (their
    Catch left an error where their result would be): on the happy path a separate state for that
    would cost a transition per checkout.

    The success is recorded first (its `checkout.succeeded` webhook goes out from the record): whatever
    fails after it, and ReportIncident when this state fails for good, leave it recorded."""
    deps.checkouts.record_success(event["trackingId"])
    key = checkout.write_audit(
        event["trackingId"],
        event["executionArn"],
        workflow=deps.workflow,
        archive=deps.archive,
        clock=deps.clock,
    )
    failed = checkout_alerts.failed_steps(event.get("steps") or {})
    if failed:
        _report_incident(event, failed, alerts=deps.alerts, stage=deps.stage)
    # The audit record is the workflow's last step: the checkout has succeeded.
    emf_metrics.record_checkout_outcome("SUCCEEDED", stage=deps.stage)
    return {"auditKey": key}


def _report_incident(event: dict[str, Any], failed: dict[str, str], *, alerts: OpsAlerts, stage: str) -> None:
    checkout_alerts.report_incident(
        event["trackingId"],
        event["paymentIntentId"],
        event["executionArn"],
        failed,
        alerts=alerts,
    )
    emf_metrics.record_checkout_error(stage=stage)


# -- ReportIncident / EscalateCompensation / EscalateRecordFailure -----------------------------------


@dataclass(frozen=True, slots=True)
class AlertDependencies:
    intents: IntentRepository
    checkouts: CheckoutRepository
    alerts: OpsAlerts
    stage: str


def wire_alert_ops(env: bootstrap.Environment) -> AlertDependencies:
    return AlertDependencies(
        intents=bootstrap.intent_repository(env),
        checkouts=bootstrap.checkout_repository(env),
        alerts=bootstrap.ops_alerts(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_alert_ops)
def alert_ops(event: dict[str, Any], context: Any, deps: AlertDependencies) -> dict[str, Any]:
    """The workflow's catch-all. With no `error`, the checkout succeeded (ReportIncident: the audit
    record failed, maybe more; the success is recorded here too, as WriteAudit may have failed before
    it did); with one, the checkout failed and handling that failed too (EscalateCompensation,
    EscalateRecordFailure)."""
    failed = checkout_alerts.failed_steps(event.get("steps") or {})
    error = event.get("error")
    if not error:
        failed.update(_record_success(event["trackingId"], deps.checkouts))
        _report_incident(event, failed, alerts=deps.alerts, stage=deps.stage)
        emf_metrics.record_checkout_outcome("SUCCEEDED", stage=deps.stage)
        return {"reported": sorted(failed)}
    checkout_alerts.escalate_failure(
        event["trackingId"],
        event["paymentIntentId"],
        event["executionArn"],
        error,
        failed,
        intents=deps.intents,
        checkouts=deps.checkouts,
        alerts=deps.alerts,
    )
    emf_metrics.record_checkout_error(stage=deps.stage)
    return {"escalated": sorted(failed)}


def _record_success(tracking_id: str, checkouts: CheckoutRepository) -> dict[str, str]:
    """{} once the success is recorded; else why not, for ops to hear of with the other failed steps
    (the alert must still go: it is the workflow's last word)."""
    try:
        checkouts.record_success(tracking_id)
    except Exception as error:  # any: reported to ops with the rest, who finish it
        return {"RecordSuccess": f"{type(error).__name__}: {error}"}
    return {}


# -- RecordFailure -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFailureDependencies:
    checkouts: CheckoutRepository
    alerts: OpsAlerts
    stage: str


def wire_record_failure(env: bootstrap.Environment) -> RecordFailureDependencies:
    return RecordFailureDependencies(
        checkouts=bootstrap.checkout_repository(env),
        alerts=bootstrap.ops_alerts(env),
        stage=env.settings.stage,
    )


@bootstrap.lambda_function(wire_record_failure)
def record_failure(event: dict[str, Any], context: Any, deps: RecordFailureDependencies) -> None:
    """The intent was not fit for a checkout (unknown, not PENDING, expired), or reading it failed:
    nothing to undo. (An execution started on the previous definition sends no paymentIntentId.)"""
    error = event.get("error") or {}
    checkout_alerts.record_failure(
        event["trackingId"],
        str(event.get("paymentIntentId", "")),
        error,
        checkouts=deps.checkouts,
        alerts=deps.alerts,
    )
    _count_failure(error, stage=deps.stage)
