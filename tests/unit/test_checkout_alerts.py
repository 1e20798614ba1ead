"""Who hears of a checkout that went wrong: ops once per fault, nobody for a payment outcome."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from payments.domain.checkout import tracking_id_for
from payments.domain.intents import PaymentIntent, Status
from payments.domain.ledger import Balance, LedgerEntry
from payments.domain.money import Money
from payments.service import checkout_alerts
from payments.service.checkout import checkout_view, compensate, failure_from
from payments.service.ports import (
    CheckoutRecord,
    CheckoutRepository,
    ExecutionStatus,
    Ledger,
    Workflow,
    no_checkout,
)
from tests.unit.fakes import FakeAlerts, FakeClock, FakeGateway, FakeIntentRepository

ARN = "arn:aws:states:us-east-1:123456789012:execution:payments-checkout-test:chk_1"


class Checkouts(CheckoutRepository):
    """The checkout records, in memory: only what the failure paths touch."""

    def __init__(self) -> None:
        self.records: dict[str, CheckoutRecord] = {}

    def create_if_absent(self, record: CheckoutRecord) -> CheckoutRecord:
        return self.records.setdefault(record.tracking_id, record)

    def get(self, tracking_id: str) -> CheckoutRecord:
        if tracking_id not in self.records:
            raise no_checkout(tracking_id)
        return self.records[tracking_id]

    def require_action(self, tracking_id: str, task_token: str) -> None:
        raise NotImplementedError

    def waiting_task_token(self, tracking_id: str) -> str:
        raise NotImplementedError

    def clear_task_token(self, tracking_id: str, task_token: str) -> None:
        raise NotImplementedError

    def record_failure(self, tracking_id: str, code: str, message: str) -> None:
        record = self.records[tracking_id]
        self.records[tracking_id] = CheckoutRecord(
            record.tracking_id, record.payment_intent_id, record.execution_arn, None, code, message
        )

    def record_success(self, tracking_id: str) -> None:
        raise NotImplementedError


class EmptyBooks(Ledger):
    """A ledger with nothing on it: no hold to reverse."""

    def post(self, entry: LedgerEntry) -> bool:
        raise NotImplementedError

    def post_unless_declined(self, entry: LedgerEntry) -> bool:
        raise NotImplementedError

    def get(self, entry_id: str) -> LedgerEntry | None:
        return None

    def entries_for(self, payment_intent_id: str) -> list[LedgerEntry]:
        return []

    def balances(self) -> list[Balance]:
        return []


class Execution(Workflow):
    def __init__(self, status: ExecutionStatus) -> None:
        self._status = status

    def execution_arn(self, name: str) -> str:
        return ARN

    def start(self, name: str, payload: dict[str, object]) -> None:
        raise NotImplementedError

    def status(self, execution_arn: str) -> ExecutionStatus:
        return self._status

    def resume(self, task_token: str, output: dict[str, object]) -> None:
        raise NotImplementedError

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        raise NotImplementedError

    def history(self, execution_arn: str) -> list[dict[str, object]]:
        raise NotImplementedError


def lambda_error(error: str, message: str) -> dict[str, str]:
    """A Catch's `{"Error", "Cause"}` for a Lambda task that raised."""
    return {
        "Error": error,
        "Cause": json.dumps({"errorMessage": message, "errorType": error, "stackTrace": []}),
    }


def a_checkout(clock: FakeClock, *, authorized: bool = False) -> tuple[FakeIntentRepository, Checkouts, str]:
    intents, checkouts = FakeIntentRepository(), Checkouts()
    intent = PaymentIntent.create(
        amount=Money.of(2_500, "USD"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    if authorized:
        intent.authorize(authorization_id="auth_1", now=clock())
    intents.add(intent)
    tracking_id = tracking_id_for(intent.payment_intent_id)
    checkouts.create_if_absent(CheckoutRecord(tracking_id, intent.payment_intent_id, ARN))
    return intents, checkouts, intent.payment_intent_id


def run_compensation(error: dict[str, str]) -> tuple[FakeAlerts, Checkouts, str]:
    clock = FakeClock()
    intents, checkouts, intent_id = a_checkout(clock)
    alerts = FakeAlerts()
    code, message = failure_from(error)
    compensate(
        intent_id,
        tracking_id_for(intent_id),
        code=code,
        message=message,
        intents=intents,
        gateway=FakeGateway(),
        ledger=EmptyBooks(),
        checkouts=checkouts,
        alerts=alerts,
        clock=clock,
    )
    return alerts, checkouts, tracking_id_for(intent_id)


@pytest.mark.parametrize(
    "error",
    [
        lambda_error("CardDeclined", "the card was declined (generic_decline)"),
        {"Error": "AuthenticationFailed", "Cause": "the customer failed the 3-D Secure challenge"},
        {"Error": "States.Timeout", "Cause": ""},
    ],
)
def test_a_decline_or_a_failed_challenge_is_settled_without_paging_anyone(error: dict[str, str]) -> None:
    alerts, checkouts, tracking_id = run_compensation(error)
    assert alerts.alerts == []
    assert checkouts.get(tracking_id).failure_code == failure_from(error)[0]


@pytest.mark.parametrize(
    "error",
    [lambda_error("UpstreamUnavailable", "the gateway timed out"), lambda_error("InjectedFault", "boom")],
)
def test_a_fault_is_compensated_and_pages_ops_once(error: dict[str, str]) -> None:
    alerts, _, tracking_id = run_compensation(error)
    [(subject, details)] = alerts.alerts
    assert subject == f"checkout {tracking_id} failed and was compensated"
    assert details["paymentStatus"] == "DECLINED"


@pytest.mark.parametrize(
    ("error", "pages"),
    [
        (lambda_error("InvalidState", "the payment intent has expired"), False),
        (lambda_error("NotFound", "no payment intent pi_1"), False),
        (lambda_error("InjectedFault", "fault injected into CheckoutValidateFunction"), True),
        ({"Error": "Lambda.Unknown", "Cause": "Runtime exited"}, True),
    ],
)
def test_a_checkout_refused_before_any_money_moved_pages_only_on_a_fault(
    error: dict[str, str], pages: bool
) -> None:
    _, checkouts, intent_id = a_checkout(FakeClock())
    alerts = FakeAlerts()
    tracking_id = tracking_id_for(intent_id)
    checkout_alerts.record_failure(tracking_id, intent_id, error, checkouts=checkouts, alerts=alerts)
    assert checkouts.get(tracking_id).failure_code == failure_from(error)[0]
    assert len(alerts.alerts) == (1 if pages else 0)
    if pages:
        assert alerts.alerts[0][1]["paymentIntentId"] == intent_id


def test_only_the_steps_whose_slot_holds_an_error_failed() -> None:
    steps = {
        "PublishEvent": {"MessageId": "m-1"},
        "SendReceipt": lambda_error("InjectedFault", "fault injected into CheckoutReceiptFunction"),
        "WriteAudit": {"Error": "States.TaskFailed", "Cause": "S3 refused the object"},
        "Other": None,
    }
    assert checkout_alerts.failed_steps(steps) == {
        "SendReceipt": "InjectedFault: fault injected into CheckoutReceiptFunction",
        "WriteAudit": "States.TaskFailed: S3 refused the object",
    }


def test_steps_failed_after_the_authorization_are_reported_in_one_alert_with_what_to_do() -> None:
    alerts = FakeAlerts()
    failed = {"SendReceipt": "InjectedFault: x", "WriteAudit": "States.TaskFailed: y"}
    checkout_alerts.report_incident("chk_1", "pi_1", ARN, failed, alerts=alerts)
    [(subject, details)] = alerts.alerts
    assert subject == "checkout chk_1 succeeded, but SendReceipt, WriteAudit failed"
    assert (details["paymentIntentId"], details["executionArn"]) == ("pi_1", ARN)
    assert details["failed SendReceipt"] == "InjectedFault: x"
    assert "NOT_SENT" in str(details["to do (SendReceipt)"])
    assert "audit record is missing" in str(details["to do (WriteAudit)"])


@pytest.mark.parametrize(("authorized", "to_do"), [(True, "void it"), (False, "check the gateway")])
def test_a_compensation_that_failed_is_recorded_and_handed_to_a_person(authorized: bool, to_do: str) -> None:
    # Given a checkout whose ledger write failed, and whose compensation then failed for good
    intents, checkouts, intent_id = a_checkout(FakeClock(), authorized=authorized)
    tracking_id, alerts = tracking_id_for(intent_id), FakeAlerts()
    failed = {"Compensate": "InjectedFault: fault injected into CheckoutCompensateFunction"}

    # When the catch-all escalates it
    checkout_alerts.escalate_failure(
        tracking_id,
        intent_id,
        ARN,
        lambda_error("InjectedFault", "fault injected into CheckoutLedgerFunction"),
        failed,
        intents=intents,
        checkouts=checkouts,
        alerts=alerts,
    )

    # Then the checkout reads FAILED, and one alert says what is left to do
    assert checkouts.get(tracking_id).failure_code == "checkout_failed"
    [(subject, details)] = alerts.alerts
    assert subject == f"checkout {tracking_id} failed and Compensate failed too"
    assert details["paymentStatus"] == ("AUTHORIZED" if authorized else "PENDING")
    assert to_do in str(details["to do"])


def view(execution: ExecutionStatus, *, authorized: bool, failure: str | None = None) -> dict[str, Any]:
    intents, checkouts, intent_id = a_checkout(FakeClock(), authorized=authorized)
    tracking_id = tracking_id_for(intent_id)
    if failure is not None:
        checkouts.record_failure(tracking_id, failure, "why")
    return checkout_view(tracking_id, checkouts=checkouts, workflow=Execution(execution), intents=intents)


def test_a_failed_checkout_whose_execution_succeeded_reads_failed_with_its_reason() -> None:
    seen = view(ExecutionStatus.SUCCEEDED, authorized=False, failure="card_declined")
    assert (seen["status"], seen["error"]) == ("FAILED", {"code": "card_declined", "message": "why"})


@pytest.mark.parametrize(
    "execution", [ExecutionStatus.FAILED, ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT]
)
def test_an_execution_that_broke_off_reads_as_what_the_payment_became(execution: ExecutionStatus) -> None:
    # An authorized payment nothing undid: the checkout succeeded, whatever stopped the execution after
    assert view(execution, authorized=True)["status"] == "SUCCEEDED"
    # No authorization: it failed, and says so in the contract's words
    seen = view(execution, authorized=False)
    assert (seen["status"], seen["error"]["code"], seen["paymentStatus"]) == (
        "FAILED",
        "checkout_failed",
        Status.PENDING.value,
    )


def test_a_running_checkout_reads_running_even_once_its_failure_is_recorded() -> None:
    assert view(ExecutionStatus.RUNNING, authorized=False, failure="card_declined")["status"] == "RUNNING"


class EndsAsItIsAsked(Execution):
    """The workflow records the checkout's failure and ends while the view is between its reads."""

    def __init__(self, checkouts: Checkouts, tracking_id: str) -> None:
        super().__init__(ExecutionStatus.SUCCEEDED)
        self._checkouts, self._tracking_id = checkouts, tracking_id

    def status(self, execution_arn: str) -> ExecutionStatus:
        self._checkouts.record_failure(self._tracking_id, "card_declined", "declined")
        return super().status(execution_arn)


def test_a_failure_recorded_just_before_the_execution_ended_is_read() -> None:
    # Given the view read the record while the checkout was still compensating, and the status after
    intents, checkouts, intent_id = a_checkout(FakeClock())
    tracking_id = tracking_id_for(intent_id)
    workflow = EndsAsItIsAsked(checkouts, tracking_id)
    # Then it reads the failure, not an execution that "succeeded"
    seen = checkout_view(tracking_id, checkouts=checkouts, workflow=workflow, intents=intents)
    assert (seen["status"], seen["error"]["code"]) == ("FAILED", "card_declined")


@pytest.mark.parametrize(
    ("url", "action"),
    [
        (
            "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3Pq",
            {
                "type": "three_d_secure",
                "redirectUrl": "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3Pq",
            },
        ),
        (None, {"type": "three_d_secure"}),
    ],
    ids=["the processor's redirect", "no url: a challenge for Stripe.js"],
)
def test_a_checkout_waiting_for_the_challenge_shows_where_the_customer_completes_it(
    url: str | None, action: dict[str, str]
) -> None:
    # Given a checkout waiting for the customer's challenge, the processor's authentication on the payment
    clock = FakeClock()
    intents, checkouts, intent_id = a_checkout(clock)
    intent = intents.get(intent_id)
    intent.await_authentication(reference="pi_3Pq", url=url, now=clock())
    intents.save(intent)
    tracking_id = tracking_id_for(intent_id)
    checkouts.records[tracking_id] = CheckoutRecord(tracking_id, intent_id, ARN, task_token="token")
    # When the client reads it
    seen = checkout_view(
        tracking_id, checkouts=checkouts, workflow=Execution(ExecutionStatus.RUNNING), intents=intents
    )
    # Then the next action says where the customer goes, when the processor said
    assert (seen["status"], seen["nextAction"]) == ("ACTION_REQUIRED", action)


def test_a_step_up_our_fraud_screen_asked_for_has_no_redirect() -> None:
    intents, checkouts, intent_id = a_checkout(FakeClock())
    tracking_id = tracking_id_for(intent_id)
    checkouts.records[tracking_id] = CheckoutRecord(tracking_id, intent_id, ARN, task_token="token")
    seen = checkout_view(
        tracking_id, checkouts=checkouts, workflow=Execution(ExecutionStatus.RUNNING), intents=intents
    )
    assert seen["nextAction"] == {"type": "three_d_secure"}
