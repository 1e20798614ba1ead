"""A checkout's execution drawn on its workflow: each state's outcome read from the execution history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from payments.local.console_api import FAILED_CHECKOUT_END, execution_view

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Next": "Route",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
        },
        "Route": {"Type": "Choice", "Choices": [{"Next": "StepUp"}], "Default": "Both"},
        "StepUp": {"Type": "Task", "Next": "Both"},
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Authorize", "States": {"Authorize": {"Type": "Task", "End": True}}},
                {"StartAt": "Ledger", "States": {"Ledger": {"Type": "Task", "End": True}}},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Compensate"}],
            "Next": "Done",
        },
        "Compensate": {"Type": "Task", "Next": "Failed"},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail"},
    },
}


class History:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, name: str | None = None, previous: int | None = None) -> int:
        event: dict[str, Any] = {"id": len(self.events) + 1, "type": kind}
        if previous is not None:
            event["previousEventId"] = previous
        if name and kind.endswith("Entered"):
            event["stateEnteredEventDetails"] = {"name": name}
        if name and kind.endswith("Exited"):
            event["stateExitedEventDetails"] = {"name": name}
        self.events.append(event)
        return int(event["id"])

    def task(self, name: str, *, fail: bool = False) -> None:
        entered = self.add("TaskStateEntered", name)
        started = self.add("LambdaFunctionStarted", previous=entered)
        if fail:
            self.add("LambdaFunctionFailed", previous=started)
        else:
            self.add("LambdaFunctionSucceeded", previous=started)
            self.add("TaskStateExited", name)


def _validated_and_routed() -> History:
    history = History()
    history.task("Validate")
    history.add("ChoiceStateEntered", "Route")
    history.add("ChoiceStateExited", "Route")
    return history


def _outcomes(view: dict[str, Any]) -> dict[str, str]:
    return {state["name"]: state["outcome"] for state in view["states"]}


def test_a_declined_card_fails_its_branch_and_the_parallel_state_and_ends_in_the_fail_state() -> None:
    history = _validated_and_routed()
    history.add("ParallelStateEntered", "Both")
    history.task("Ledger")
    history.task("Authorize", fail=True)  # the card was declined
    history.add("ParallelStateExited", "Both")
    history.task("Compensate")
    history.add("FailStateEntered", "Failed")
    view = execution_view(DEFINITION, history.events, "FAILED")
    assert _outcomes(view) == {
        "Validate": "succeeded",
        "Route": "succeeded",
        "StepUp": "not_reached",
        "Both": "failed",
        "Compensate": "succeeded",
        "Done": "not_reached",
        "Failed": "failed",
    }
    (both,) = [state for state in view["states"] if state["name"] == "Both"]
    assert [[inner["outcome"] for inner in branch] for branch in both["branches"]] == [
        ["failed"],
        ["succeeded"],
    ]
    assert view["failedStates"] == ["Authorize", "Failed"]
    assert both["next"] == ["Done", "Compensate"]


def test_a_checkout_waiting_for_its_challenge_is_running_in_the_step_up_state() -> None:
    history = _validated_and_routed()
    history.add("TaskStateEntered", "StepUp")  # waits on its task token
    view = execution_view(DEFINITION, history.events, "RUNNING")
    assert view["currentStates"] == ["StepUp"]
    assert _outcomes(view)["StepUp"] == "running"
    assert view["visited"] == ["Validate", "Route", "StepUp"]
    (route,) = [state for state in view["states"] if state["name"] == "Route"]
    assert route["next"] == ["StepUp", "Both"]


def test_an_error_a_catch_handled_is_caught_while_the_execution_goes_on_and_gone_once_retried() -> None:
    history = _validated_and_routed()
    history.add("ParallelStateEntered", "Both")
    history.task("Ledger")
    history.task("Authorize", fail=True)  # AuthenticationRequired: the Catch goes to the step-up
    history.add("ParallelStateExited", "Both")
    history.add("TaskStateEntered", "StepUp")
    waiting = execution_view(DEFINITION, history.events, "RUNNING")
    assert (_outcomes(waiting)["Both"], _outcomes(waiting)["StepUp"]) == ("caught", "running")
    assert waiting["failedStates"] == []
    # The challenge passed: the authorization runs again and succeeds.
    history.add("TaskStateExited", "StepUp")
    history.add("ParallelStateEntered", "Both")
    history.task("Ledger")
    history.task("Authorize")
    history.add("ParallelStateExited", "Both")
    history.add("SucceedStateEntered", "Done")
    done = execution_view(DEFINITION, history.events, "SUCCEEDED")
    assert (_outcomes(done)["Both"], _outcomes(done)["StepUp"], _outcomes(done)["Done"]) == (
        "succeeded",
        "succeeded",
        "succeeded",
    )


def test_a_checkout_that_ended_with_its_failure_recorded_marks_the_state_that_failed() -> None:
    # Given the real workflow, whose failed checkouts end in a Succeed state (the execution did its job)
    workflow = json.loads((ROOT / "statemachines" / "checkout.asl.json").read_text())
    assert workflow["States"][FAILED_CHECKOUT_END]["Type"] == "Succeed"
    # When a declined checkout's history reaches it
    definition = {
        **DEFINITION,
        "States": {**DEFINITION["States"], "Compensate": {"Type": "Task", "Next": FAILED_CHECKOUT_END}},
    }
    definition["States"][FAILED_CHECKOUT_END] = {"Type": "Succeed"}
    history = _validated_and_routed()
    history.add("ParallelStateEntered", "Both")
    history.task("Ledger")
    history.task("Authorize", fail=True)
    history.add("ParallelStateExited", "Both")
    history.task("Compensate")
    history.add("SucceedStateEntered", FAILED_CHECKOUT_END)
    view = execution_view(definition, history.events, "SUCCEEDED")
    # Then the declined branch is the checkout's failure, not an error caught on a way that went on
    assert _outcomes(view)["Both"] == "failed"
    assert view["failedStates"] == ["Authorize"]
