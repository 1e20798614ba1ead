"""The checkout workflow's use cases: the API's start / status / challenge, and each task state.

The state machine owns retries and ordering; each task here does one thing once, and is safe to run
again (every write is conditional or keyed by a deterministic id).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from payments.domain.checkout import CheckoutStatus, amount_tier, tracking_id_for
from payments.domain.errors import InvalidState, NotFound
from payments.domain.intents import PaymentIntent, Status
from payments.service.audit_record import audit_events
from payments.service.intents import Clock
from payments.service.ledger import reverse_hold_if_unauthorized
from payments.service.ports import (
    AuditArchive,
    CheckoutRecord,
    CheckoutRepository,
    ExecutionStatus,
    GatewayRouting,
    IntentRepository,
    Ledger,
    OpsAlerts,
    PaymentGateway,
    Workflow,
    no_checkout,
)


@dataclass(frozen=True, slots=True)
class StartCheckout:
    payment_intent_id: str
    device_fingerprint: str | None = None
    ip_address: str | None = None


def start_checkout(
    command: StartCheckout,
    *,
    intents: IntentRepository,
    checkouts: CheckoutRepository,
    workflow: Workflow,
    clock: Clock,
    step_up_timeout_seconds: int,
) -> CheckoutRecord:
    """Start the workflow once per payment; a second start answers the first checkout."""
    intent = intents.get(command.payment_intent_id, consistent=True)
    tracking_id = tracking_id_for(intent.payment_intent_id)
    try:
        existing = checkouts.get(tracking_id)
    except NotFound:
        existing = None
    if existing is None:
        intent.ensure_authorizable(clock())
    payload: dict[str, object] = {
        "trackingId": tracking_id,
        "paymentIntentId": intent.payment_intent_id,
        "deviceFingerprint": command.device_fingerprint,
        "ipAddress": command.ip_address,
        "threeDSecurePassed": False,
        "stepUpTimeoutSeconds": step_up_timeout_seconds,
    }
    # The record first: the workflow's own tasks (the step-up) write to it as soon as it runs.
    record = checkouts.create_if_absent(
        CheckoutRecord(
            tracking_id, intent.payment_intent_id, execution_arn=workflow.execution_arn(tracking_id)
        )
    )
    workflow.start(tracking_id, payload)
    return record


def checkout_view(
    tracking_id: str, *, checkouts: CheckoutRepository, workflow: Workflow, intents: IntentRepository
) -> dict[str, Any]:
    record, intent = _checkout_and_payment(tracking_id, checkouts=checkouts, intents=intents)
    execution = workflow.status(record.execution_arn)
    if execution is not ExecutionStatus.RUNNING:
        # Read again once the execution is over: a failure is recorded before the execution ends, so
        # this read sees it even when the first one came before it (and the status after the end).
        record = checkouts.get(tracking_id)
    view: dict[str, Any] = {
        "trackingId": tracking_id,
        "paymentIntentId": record.payment_intent_id,
        "paymentStatus": intent.status.value,
    }
    if execution is ExecutionStatus.RUNNING:
        waiting = record.task_token is not None
        view["status"] = (CheckoutStatus.ACTION_REQUIRED if waiting else CheckoutStatus.RUNNING).value
        if waiting:
            view["nextAction"] = next_action(intent)
    elif record.failure_code is not None:
        # A failed checkout's execution succeeds (docs/architecture.md): its record says why it failed.
        view["status"] = CheckoutStatus.FAILED.value
        view["error"] = {"code": record.failure_code, "message": record.failure_message or ""}
    elif execution is ExecutionStatus.SUCCEEDED or intent.status in WENT_THROUGH:
        # An execution that broke off after the authorization (its alert failed, an operator stopped
        # it) leaves an authorized payment nothing undid: that checkout succeeded.
        view["status"] = CheckoutStatus.SUCCEEDED.value
    else:
        view["status"] = CheckoutStatus.FAILED.value
        view["error"] = {"code": "checkout_failed", "message": f"the checkout ended as {execution.value}"}
    return view


def next_action(intent: PaymentIntent) -> dict[str, str]:
    """What the customer must do while the checkout waits: a 3-D Secure challenge, with the URL where
    the processor has them complete it when it gave one (none when our fraud screen asked for the
    step-up, or the processor's challenge runs in its own client library)."""
    action = {"type": "three_d_secure"}
    if intent.authentication_url is not None:
        action["redirectUrl"] = intent.authentication_url
    return action


# The payment's statuses once it was authorized and not undone.
WENT_THROUGH = frozenset(
    {Status.AUTHORIZED, Status.CAPTURED, Status.PARTIALLY_REFUNDED, Status.REFUNDED, Status.DISPUTED}
)


def _checkout_and_payment(
    tracking_id: str, *, checkouts: CheckoutRepository, intents: IntentRepository
) -> tuple[CheckoutRecord, PaymentIntent]:
    """The checkout and its payment, read through the caller's intents: another merchant's checkout
    is answered exactly as an unknown one."""
    record = checkouts.get(tracking_id)
    try:
        return record, intents.get(record.payment_intent_id, consistent=True)
    except NotFound:
        raise no_checkout(tracking_id) from None


def answer_challenge(
    tracking_id: str,
    *,
    passed: bool,
    checkouts: CheckoutRepository,
    workflow: Workflow,
    intents: IntentRepository,
) -> None:
    """Answer the waiting task, then forget its token. In that order, a crash between the two loses
    nothing: the retried answer finds the token again, and Step Functions refuses a token already
    answered (InvalidState), so a challenge still counts once."""
    _checkout_and_payment(tracking_id, checkouts=checkouts, intents=intents)
    token = checkouts.waiting_task_token(tracking_id)
    try:
        if passed:
            workflow.resume(token, {"threeDSecure": "passed"})
        else:
            workflow.fail_task(token, "AuthenticationFailed", "the customer failed the 3-D Secure challenge")
    except InvalidState:  # answered already: forget it too (any other failure keeps it for a retry)
        checkouts.clear_task_token(tracking_id, token)
        raise
    checkouts.clear_task_token(tracking_id, token)


# -- task states -------------------------------------------------------------------------------------


def validate_for_checkout(
    payment_intent_id: str, *, intents: IntentRepository, clock: Clock
) -> dict[str, Any]:
    """ValidateIntent: PENDING and not expired, else the workflow fails with InvalidState / NotFound."""
    intent = intents.get(payment_intent_id, consistent=True)
    intent.ensure_authorizable(clock())
    return {
        "amount": intent.amount.amount,
        "currency": intent.amount.currency.code,
        "merchantId": intent.merchant_id,  # the FraudCheck state scopes the customer id with it
        "customerId": intent.customer_id,
        "paymentMethod": intent.payment_method,
        "email": intent.receipt_email,
        "amountTier": amount_tier(intent.amount).value,
    }


def require_step_up(tracking_id: str, task_token: str, *, checkouts: CheckoutRepository) -> None:
    checkouts.require_action(tracking_id, task_token)


def decline_checkout(
    payment_intent_id: str,
    tracking_id: str,
    *,
    code: str,
    message: str,
    intents: IntentRepository,
    checkouts: CheckoutRepository,
    clock: Clock,
) -> None:
    """A clean decline before any money moved (fraud block): the intent becomes DECLINED."""
    intent = intents.get(payment_intent_id, consistent=True)
    if intent.status is Status.PENDING:
        intent.decline(decline_code=code, now=clock())
        intents.save(intent)
    checkouts.record_failure(tracking_id, code, message)


def compensate(
    payment_intent_id: str,
    tracking_id: str,
    *,
    code: str,
    message: str,
    intents: IntentRepository,
    gateway: GatewayRouting,
    ledger: Ledger,
    checkouts: CheckoutRepository,
    alerts: OpsAlerts,
    clock: Clock,
) -> dict[str, Any]:
    """Undo what the parallel step did: void an authorization (its VOIDED event releases the hold) or
    reverse a hold no authorization followed, settle the intent, and tell ops of a fault (never of a
    payment outcome). Each part is idempotent, so a retried compensation is harmless.

    An authorization the gateway approved but whose answer was lost (a timeout, a crash) is not on
    the intent: once the intent is settled as declined, the gateway is asked for any hold still open
    under the payment's reference, and each is voided."""
    intent = intents.get(payment_intent_id, consistent=True)
    processor = gateway.for_payment(intent)
    voided = False
    if intent.status is Status.AUTHORIZED:
        # `void` answers only an approved void (GatewayApproved, its id); a refused one raises, and a
        # payment AUTHORIZED without a gateway authorization raises InvalidState: never skipped.
        result = processor.void(
            idempotency_key=f"{intent.payment_intent_id}:void",
            authorization_id=intent.gateway_authorization(),
        )
        intent.void(now=clock(), gateway_reference=result.reference)
        intent = intents.save(intent)
        voided = True
    elif intent.status is Status.PENDING:
        intent.decline(decline_code=code, now=clock())
        intent = intents.save(intent)
    if intent.status is Status.DECLINED:
        voided = void_lost_authorizations(payment_intent_id, gateway=processor) or voided
    reversed_entry = reverse_hold_if_unauthorized(intent, ledger=ledger, clock=clock)
    checkouts.record_failure(tracking_id, code, message)
    details: dict[str, object] = {
        "paymentIntentId": payment_intent_id,
        "trackingId": tracking_id,
        "error": code,
        "message": message,
        "authorizationVoided": voided,
        "ledgerReversed": reversed_entry,
        "paymentStatus": intent.status.value,
    }
    if not is_payment_outcome(code):  # a decline or a failed challenge is an answer, not an incident
        alerts.alert(f"checkout {tracking_id} failed and was compensated", details)
    return details


def void_lost_authorizations(payment_intent_id: str, *, gateway: PaymentGateway) -> bool:
    """Void every hold the gateway still has open for a payment that ended without one; True if any.
    A hold voided meanwhile by the late authorization itself (it finds the payment declined and
    voids its own) is already released: that refusal is the outcome wanted."""
    voided = False
    for authorization_id in gateway.open_authorizations(reference=payment_intent_id):
        with contextlib.suppress(InvalidState):
            gateway.void(
                idempotency_key=f"{payment_intent_id}:void:{authorization_id}",
                authorization_id=authorization_id,
            )
            voided = True
    return voided


def write_audit(
    tracking_id: str, execution_arn: str, *, workflow: Workflow, archive: AuditArchive, clock: Clock
) -> str:
    """WriteAudit: the execution's history so far, kept under the audit retention prefix, without
    stack traces, file paths or the customer's personal data (`audit_record`)."""
    now = clock()
    key = f"audit/checkouts/{now:%Y/%m/%d}/{tracking_id}.json"
    events = audit_events(workflow.history(execution_arn))
    archive.store(key, {"trackingId": tracking_id, "executionArn": execution_arn, "events": events})
    return key


# How a failed state's error name reads to the client (the checkout's `error.code`).
FAILURE_CODES = {
    "CardDeclined": "card_declined",
    "UpstreamUnavailable": "upstream_unavailable",
    "AuthenticationFailed": "authentication_failed",
    "AuthenticationRequired": "authentication_required",
    "States.Timeout": "authentication_timed_out",
    "InvalidState": "invalid_state",
    "NotFound": "not_found",
}


# Codes that are the payment's answer (the card, the customer, the fraud check, the intent itself),
# not an incident: a checkout ending with one pages nobody. Any other failure is a fault and pages.
PAYMENT_OUTCOMES = frozenset(
    {
        "card_declined",
        "authentication_failed",
        "authentication_required",
        "authentication_timed_out",
        "fraud_suspected",
        "invalid_state",
        "not_found",
    }
)


def is_payment_outcome(code: str) -> bool:
    return code in PAYMENT_OUTCOMES


def is_unexpected_failure(error: dict[str, Any]) -> bool:
    """The checkout failed on no payment outcome we know (a crash, an unknown error): a fault, which
    the deployment alarms count, unlike a decline or an unreachable gateway."""
    return str(error.get("Error", "States.TaskFailed")) not in FAILURE_CODES


def failure_from(error: dict[str, Any]) -> tuple[str, str]:
    """(code, message) from a Catch's `{"Error", "Cause"}`; a Lambda's Cause is its JSON error payload."""
    name = str(error.get("Error", "States.TaskFailed"))
    cause = str(error.get("Cause", ""))
    try:
        message = str(json.loads(cause).get("errorMessage", cause))
    except (ValueError, AttributeError):
        message = cause or name
    return FAILURE_CODES.get(name, "checkout_failed"), message or name
