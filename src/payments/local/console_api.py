"""What the operator console reads from the local runtime besides the public API: a checkout's execution
drawn on its workflow, and dead-letter queues moved back to their source queues.

`execution_view` is pure: the state machine's definition and the execution's history in, the graph
with each state's outcome out (which state is running now, which one failed).
"""

from __future__ import annotations

import json
from typing import Any

# History events that end a task state in failure (Lambda's, a service integration's, or a time-out).
_FAILURE_EVENTS = frozenset(
    {
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "LambdaFunctionScheduleFailed",
        "LambdaFunctionStartFailed",
        "TaskFailed",
        "TaskTimedOut",
        "TaskStartFailed",
        "TaskSubmitFailed",
    }
)


# Where the checkout workflow ends a checkout that failed, its failure recorded (statemachines/).
FAILED_CHECKOUT_END = "FailureRecorded"


def _targets(state: dict[str, Any]) -> list[str]:
    """Every state this one can go to: Next, a Choice's branches and default, its Catch handlers."""
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", []) if "Next" in choice]
    targets += [state["Default"]] if "Default" in state else []
    targets += [catch["Next"] for catch in state.get("Catch", [])]
    return list(dict.fromkeys(targets))


def execution_view(definition: dict[str, Any], history: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """The workflow's states (top level, a Parallel's branch states inside it), each with the edges it
    can take and how this execution went through it: succeeded, running, failed (the execution failed
    there), caught (it raised, a Catch handled it and the execution went on), or not reached."""
    entered, exited, order, errored = _walk(history)
    # A checkout that failed ends its execution in FAILED_CHECKOUT_END (the execution did its job):
    # the errors on its way there are the checkout's failure, as in an execution that failed.
    execution_failed = status in {"FAILED", "TIMED_OUT", "ABORTED"} or FAILED_CHECKOUT_END in entered

    def outcome(name: str) -> str:
        if name in errored:
            # An error a Catch handled while the checkout went on (a step-up) is not its failure.
            return "failed" if execution_failed else "caught"
        if name not in entered:
            return "not_reached"
        if entered[name] > exited.get(name, 0) and status == "RUNNING":
            return "running"
        return "succeeded"

    def describe(states: dict[str, Any]) -> list[dict[str, Any]]:
        described = []
        for name, state in states.items():
            node: dict[str, Any] = {
                "name": name,
                "type": state["Type"],
                "next": _targets(state),
                "end": bool(state.get("End")) or state["Type"] in {"Succeed", "Fail"},
                "outcome": outcome(name),
                "entered": entered.get(name, 0),
            }
            if state["Type"] == "Parallel":
                node["branches"] = [describe(branch["States"]) for branch in state.get("Branches", [])]
                # A branch's error is the Parallel state's, whatever it did next.
                inner_outcomes = {inner["outcome"] for branch in node["branches"] for inner in branch}
                for worst in ("failed", "caught"):
                    if worst in inner_outcomes:
                        node["outcome"] = worst
                        break
            described.append(node)
        return described

    return {
        "status": status,
        "startAt": definition["StartAt"],
        "states": describe(definition["States"]),
        "visited": order,
        "failedStates": sorted(errored) if execution_failed else [],
        "currentStates": [name for name in order if outcome(name) == "running"],
    }


def _walk(history: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int], list[str], set[str]]:
    """(times each state was entered, times exited, states in the order first entered, states whose
    latest attempt raised an error or that are Fail states)."""
    by_id = {event["id"]: event for event in history}
    entered: dict[str, int] = {}
    exited: dict[str, int] = {}
    order: list[str] = []
    errored: dict[str, bool] = {}  # state -> its latest attempt raised
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = entered.get(name, 0) + 1
            if name not in order:
                order.append(name)
            errored[name] = kind == "FailStateEntered"
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            exited[name] = exited.get(name, 0) + 1
        elif kind in _FAILURE_EVENTS:
            # Follow the event's chain back to the state it happened in.
            previous = event.get("previousEventId")
            while previous in by_id and not by_id[previous]["type"].endswith("StateEntered"):
                previous = by_id[previous].get("previousEventId")
            if previous in by_id:
                errored[by_id[previous]["stateEnteredEventDetails"]["name"]] = True
    return entered, exited, order, {name for name, raised in errored.items() if raised}


def checkout_execution(
    tracking_id: str, *, dynamodb: Any, stepfunctions: Any, checkouts_table: str
) -> dict[str, Any]:
    """The execution behind a checkout (by its tracking id), as `execution_view` draws it."""
    item = dynamodb.get_item(
        TableName=checkouts_table, Key={"trackingId": {"S": tracking_id}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        raise LookupError(f"no checkout {tracking_id}")
    execution_arn = item["executionArn"]["S"]
    execution = stepfunctions.describe_execution(executionArn=execution_arn)
    machine = stepfunctions.describe_state_machine(stateMachineArn=execution["stateMachineArn"])
    events: list[dict[str, Any]] = []
    for page in stepfunctions.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    view = execution_view(json.loads(machine["definition"]), events, execution["status"])
    return {"trackingId": tracking_id, "executionArn": execution_arn, **view}
