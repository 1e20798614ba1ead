"""The checkout's audit record: the workflow's history without stack traces, paths or personal data.

The history below is shaped as Step Functions answers GetExecutionHistory for the checkout: a gateway
authorization that failed once with a Python exception (its cause is the Lambda error payload, with
the stack trace), caught and retried, a step-up waiting on its task token, the receipt's address in
the validated intent.
"""

from __future__ import annotations

import json
from typing import Any

from payments.service.audit_record import REDACTED, audit_events, error_cause, error_message
from payments.service.checkout import write_audit
from payments.service.ports import AuditArchive, ExecutionStatus, Workflow
from tests.unit.fakes import FakeClock

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:payments-checkout-local:chk_1"
STACK_TRACE = [
    '  File "/var/task/payments/functions/observability.py", line 58, in wrapper\n'
    "    return handler(event, context)\n",
    '  File "/var/task/payments/adapters/gateway_client.py", line 131, in authorize\n'
    '    raise UpstreamUnavailable(f"the gateway answered {status}")\n',
]
LAMBDA_CAUSE = json.dumps(
    {
        "errorMessage": "the gateway answered 503",
        "errorType": "UpstreamUnavailable",
        "requestId": "4b1f7c0e-9d0a-4c53-9a0e-3f3f2d7c1a11",
        "stackTrace": STACK_TRACE,
    }
)
INTENT = {
    "amount": 4999,
    "currency": "USD",
    "merchantId": "mer_1",
    "customerId": "cus_1",
    "paymentMethod": "pm_card_visa",
    "email": "ana@example.com",
    "amountTier": "MEDIUM",
}
STARTED = {
    "trackingId": "chk_1",
    "paymentIntentId": "pi_1",
    "deviceFingerprint": "fp_3c9e",
    "ipAddress": "203.0.113.9",
    "threeDSecurePassed": False,
    "stepUpTimeoutSeconds": 900,
}


def history() -> list[dict[str, Any]]:
    at = "2026-11-24 12:00:00.123000+00:00"
    caught = {**STARTED, "intent": INTENT, "error": {"Error": "UpstreamUnavailable", "Cause": LAMBDA_CAUSE}}
    return [
        {
            "id": 1,
            "type": "ExecutionStarted",
            "timestamp": at,
            "executionStartedEventDetails": {
                "input": json.dumps(STARTED),
                "inputDetails": {"truncated": False},
                "roleArn": "arn:aws:iam::123456789012:role/payments-checkout-local",
            },
        },
        {
            "id": 2,
            "previousEventId": 1,
            "type": "TaskStateExited",
            "timestamp": at,
            "stateExitedEventDetails": {
                "name": "ValidateIntent",
                "output": json.dumps({**STARTED, "intent": INTENT}),
            },
        },
        {
            "id": 3,
            "previousEventId": 2,
            "type": "TaskScheduled",
            "timestamp": at,
            "taskScheduledEventDetails": {
                "resourceType": "lambda",
                "resource": "invoke.waitForTaskToken",
                "region": "us-east-1",
                "parameters": json.dumps(
                    {
                        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:payments-step-up",
                        "Payload": {"trackingId": "chk_1", "taskToken": "AQCEAAAAKgAAAAMAAAAA..."},
                    }
                ),
            },
        },
        {
            "id": 4,
            "previousEventId": 3,
            "type": "LambdaFunctionFailed",
            "timestamp": at,
            "lambdaFunctionFailedEventDetails": {"error": "UpstreamUnavailable", "cause": LAMBDA_CAUSE},
        },
        {
            "id": 5,
            "previousEventId": 4,
            "type": "TaskStateEntered",
            "timestamp": at,
            "stateEnteredEventDetails": {"name": "Compensate", "input": json.dumps(caught)},
        },
    ]


def by_id(events: list[dict[str, Any]], event_id: int) -> dict[str, Any]:
    return next(event for event in events if event["id"] == event_id)


def test_a_failed_lambda_keeps_its_error_type_and_message_without_the_stack_trace() -> None:
    events = audit_events(history())

    details = by_id(events, 4)["lambdaFunctionFailedEventDetails"]
    assert details["error"] == "UpstreamUnavailable"
    assert json.loads(details["cause"]) == {
        "errorType": "UpstreamUnavailable",
        "errorMessage": "the gateway answered 503",
    }
    assert "/var/task" not in json.dumps(events)
    assert "stackTrace" not in json.dumps(events)


def test_an_error_caught_into_a_states_input_is_reduced_to_its_type_and_message() -> None:
    events = audit_events(history())

    state = json.loads(by_id(events, 5)["stateEnteredEventDetails"]["input"])
    assert state["error"]["Error"] == "UpstreamUnavailable"
    assert json.loads(state["error"]["Cause"]) == {
        "errorType": "UpstreamUnavailable",
        "errorMessage": "the gateway answered 503",
    }


def test_the_customers_email_address_ip_and_device_are_redacted_and_the_payment_is_kept() -> None:
    events = audit_events(history())

    started = json.loads(by_id(events, 1)["executionStartedEventDetails"]["input"])
    assert (started["ipAddress"], started["deviceFingerprint"]) == (REDACTED, REDACTED)
    intent = json.loads(by_id(events, 2)["stateExitedEventDetails"]["output"])["intent"]
    assert intent == {**INTENT, "email": REDACTED}
    assert "ana@example.com" not in json.dumps(events)
    assert "203.0.113.9" not in json.dumps(events)


def test_every_event_stays_in_order_with_its_id_type_time_and_state() -> None:
    events = audit_events(history())

    assert [(e["id"], e["type"], e["timestamp"]) for e in events] == [
        (e["id"], e["type"], e["timestamp"]) for e in history()
    ]
    assert by_id(events, 5)["stateEnteredEventDetails"]["name"] == "Compensate"
    assert by_id(events, 1)["executionStartedEventDetails"]["inputDetails"] == {"truncated": False}


def test_the_step_up_task_token_is_not_archived() -> None:
    events = audit_events(history())

    parameters = json.loads(by_id(events, 3)["taskScheduledEventDetails"]["parameters"])
    assert parameters["Payload"] == {"trackingId": "chk_1", "taskToken": REDACTED}


def test_a_plain_text_traceback_keeps_only_its_last_line_without_paths() -> None:
    cause = (
        "Traceback (most recent call last):\n"
        '  File "/var/lang/lib/python3.12/runpy.py", line 198, in _run_module_as_main\n'
        "    return _run_code(code, main_globals, None,\n"
        "FileNotFoundError: [Errno 2] No such file or directory: '/var/task/payments/missing.json'\n"
    )

    assert error_cause(cause) == "FileNotFoundError: [Errno 2] No such file or directory: '<path>'"


def test_a_message_naming_an_address_loses_the_address() -> None:
    assert error_message("could not send the receipt to ana@example.com") == (
        f"could not send the receipt to {REDACTED}"
    )


def test_urls_arns_and_object_keys_in_a_message_are_not_taken_for_paths() -> None:
    message = (
        "https://gateway.example/v1/authorizations/auth_1 refused; "
        "arn:aws:events:us-east-1:1:rule/payments/hourly; audit/checkouts/2026/11/24/chk_1.json"
    )

    assert error_message(message) == message


def test_a_cause_that_is_not_an_error_payload_is_kept_as_text() -> None:
    assert error_cause("the customer failed the 3-D Secure challenge") == (
        "the customer failed the 3-D Secure challenge"
    )
    assert error_cause('{"reason": "x"}') == '{"reason": "x"}'


class RecordedWorkflow(Workflow):
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    def execution_arn(self, name: str) -> str:
        return f"{EXECUTION.rsplit(':', 1)[0]}:{name}"

    def start(self, name: str, payload: dict[str, object]) -> None:
        raise NotImplementedError

    def status(self, execution_arn: str) -> ExecutionStatus:
        return ExecutionStatus.RUNNING

    def resume(self, task_token: str, output: dict[str, object]) -> None:
        raise NotImplementedError

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        raise NotImplementedError

    def history(self, execution_arn: str) -> list[dict[str, object]]:
        assert execution_arn == EXECUTION
        return list(self.events)


class MemoryArchive(AuditArchive):
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, object]] = {}

    def store(self, key: str, document: dict[str, object]) -> None:
        self.documents[key] = document


def test_write_audit_archives_the_cleaned_history_under_the_days_prefix() -> None:
    # Given a checkout whose history holds a stack trace and the receipt's address
    archive = MemoryArchive()

    # When its audit record is written
    key = write_audit(
        "chk_1", EXECUTION, workflow=RecordedWorkflow(history()), archive=archive, clock=FakeClock()
    )

    # Then it is the history, every event, with neither in it
    assert key == "audit/checkouts/2026/11/24/chk_1.json"
    document = archive.documents[key]
    assert (document["trackingId"], document["executionArn"]) == ("chk_1", EXECUTION)
    assert document["events"] == audit_events(history())
    text = json.dumps(document)
    assert "Traceback" not in text
    assert "/var/task" not in text
    assert "ana@example.com" not in text
