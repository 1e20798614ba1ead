"""The checkout state machine through the Step Functions API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from payments.domain.errors import InvalidState
from payments.service.ports import ExecutionStatus, Workflow

# What Step Functions answers for a token it no longer waits on: answered already, or timed out.
_NOT_WAITING = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


@contextlib.contextmanager
def _still_waited_on() -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NOT_WAITING:
            raise InvalidState("this checkout is not waiting for a 3-D Secure challenge") from None
        raise


class StepFunctionsWorkflow(Workflow):
    def __init__(self, client: Any, *, state_machine_arn: str | None) -> None:
        """Without a state machine ARN it reads and answers executions by their own ARNs only (the
        audit task, which the state machine names, so its template entry cannot name the machine)."""
        self._client = client
        self._state_machine_arn = state_machine_arn

    def _machine(self) -> str:
        if self._state_machine_arn is None:
            raise RuntimeError("this workflow was wired without its state machine's ARN")
        return self._state_machine_arn

    def execution_arn(self, name: str) -> str:
        return f"{self._machine().replace(':stateMachine:', ':execution:')}:{name}"

    def start(self, name: str, payload: dict[str, object]) -> None:
        try:
            self._client.start_execution(
                stateMachineArn=self._machine(), name=name, input=json.dumps(payload)
            )
        except ClientError as error:
            # Same name, other input: the execution exists already, and one per payment is the point.
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise

    def status(self, execution_arn: str) -> ExecutionStatus:
        description = self._client.describe_execution(executionArn=execution_arn)
        return ExecutionStatus(description["status"])

    def resume(self, task_token: str, output: dict[str, object]) -> None:
        with _still_waited_on():
            self._client.send_task_success(taskToken=task_token, output=json.dumps(output))

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        with _still_waited_on():
            self._client.send_task_failure(taskToken=task_token, error=error, cause=cause)

    def history(self, execution_arn: str) -> list[dict[str, object]]:
        events: list[dict[str, object]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self._client.get_execution_history(**kwargs)
            events.extend(json.loads(json.dumps(page["events"], default=str)))
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]
