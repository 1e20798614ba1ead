"""The checkout workflow's shape (statemachines/checkout.asl.json, as deployed): every failure is caught,
a payment once authorized is never undone by a later step, and the happy path costs what it did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATES: dict[str, Any] = json.loads((ROOT / "statemachines" / "checkout.asl.json").read_text())["States"]
AFTER_AUTHORIZATION = ("PublishEvent", "SendReceipt", "WriteAudit")
ALERT_STATES = ("ReportIncident", "EscalateCompensation", "EscalateRecordFailure")


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    yield from (catch["Next"] for catch in state.get("Catch", []))
    yield from (choice["Next"] for choice in state.get("Choices", []))
    if "Default" in state:
        yield state["Default"]


def _reachable(start: str) -> set[str]:
    seen, pending = set(), [start]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_targets(STATES[name]))
    return seen


def test_the_happy_path_is_the_states_it_was() -> None:
    """Catches add no transition on the happy path (docs/cost.md counts them, bench/checkout.py too)."""
    path, name = [], "ValidateIntent"
    while True:
        path.append(name)
        state = STATES[name]
        if state.get("End"):
            break
        name = state.get("Default") or state["Next"]
    assert path == [
        "ValidateIntent",
        "FraudCheck",
        "RouteOnRisk",
        "AuthorizeAndRecord",
        "PublishEvent",
        "SendReceipt",
        "WriteAudit",
    ]


@pytest.mark.parametrize(
    "name", [name for name, state in STATES.items() if state["Type"] in {"Task", "Parallel"}]
)
def test_every_task_catches_whatever_its_retries_leave(name: str) -> None:
    catches = STATES[name].get("Catch", [])
    assert any(catch["ErrorEquals"] == ["States.ALL"] for catch in catches), name


def test_no_step_after_the_authorization_can_undo_or_fail_the_checkout() -> None:
    """A failed event publish, receipt or audit record does not leave a held payment reading FAILED."""
    reachable = _reachable("PublishEvent")
    assert reachable.isdisjoint({"Compensate", "FailureRecorded", "DeclineForFraud", "RecordFailure"})
    assert reachable == {*AFTER_AUTHORIZATION, "ReportIncident", "OpsNotAlerted"}


def test_each_step_after_the_authorization_leaves_its_result_or_its_error_in_one_slot() -> None:
    slots = {}
    for name in AFTER_AUTHORIZATION:
        state = STATES[name]
        [catch] = state["Catch"]
        assert catch["ResultPath"] == state["ResultPath"], name
        slots[name] = state["ResultPath"]
    # The audit reports what failed before it; the catch-all what failed before it and the audit itself
    assert STATES["WriteAudit"]["Parameters"]["steps"] == {
        f"{name}.$": slots[name] for name in ("PublishEvent", "SendReceipt")
    }
    assert STATES["ReportIncident"]["Parameters"]["steps"] == {
        f"{name}.$": slots[name] for name in AFTER_AUTHORIZATION
    }
    assert "error" not in STATES["ReportIncident"]["Parameters"]  # the checkout succeeded


def test_a_failed_checkout_ends_in_a_succeeded_execution_and_only_an_unsent_alert_fails_one() -> None:
    """ExecutionsFailed pages: it must count only what nobody was told about, never a decline."""
    ends = {name: state["Type"] for name, state in STATES.items() if state["Type"] in {"Succeed", "Fail"}}
    assert ends == {"FailureRecorded": "Succeed", "OpsNotAlerted": "Fail"}
    leading_to_failure = {name for name, state in STATES.items() if "OpsNotAlerted" in set(_targets(state))}
    assert leading_to_failure == set(ALERT_STATES)
    for name in ALERT_STATES:
        assert STATES[name]["Resource"] == "${AlertFunctionArn}"


@pytest.mark.parametrize(
    ("failed", "escalation"),
    [("Compensate", "EscalateCompensation"), ("RecordFailure", "EscalateRecordFailure")],
)
def test_a_failure_whose_handling_failed_is_escalated_with_the_original_error(
    failed: str, escalation: str
) -> None:
    [catch] = STATES[failed]["Catch"]
    assert catch["Next"] == escalation
    parameters = STATES[escalation]["Parameters"]
    assert parameters["error.$"] == "$.error"  # why the checkout failed: what its record will say
    assert parameters["steps"] == {f"{failed}.$": catch["ResultPath"]}
    assert STATES[escalation]["Next"] == "FailureRecorded"


def test_a_fraud_block_that_cannot_be_recorded_is_compensated() -> None:
    [catch] = STATES["DeclineForFraud"]["Catch"]
    assert (catch["Next"], catch["ResultPath"]) == ("Compensate", "$.error")
