"""CodeDeploy's lifecycle hooks, run as their containers run them (each hook function wired from its own
template entry) against the stack on the emulator: real function versions, the workflow and the sandbox
gateway. Only CodeDeploy itself is faked, at its port: the deployment's target and the status the hook
reports."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import boto3
import pytest

from payments.bootstrap import Environment, LambdaFunction
from payments.functions import deploy_hooks
from payments.local.invoker import LambdaContext
from payments.local.runtime import LocalStack
from payments.service.canary import DeploymentTarget, LifecycleHooks

PRE_TRAFFIC = "CodeDeployHook_payments-pre-traffic-local"
POST_TRAFFIC = "CodeDeployHook_payments-post-traffic-local"


class FakeCodeDeploy(LifecycleHooks):
    def __init__(self, target: DeploymentTarget) -> None:
        self._target = target
        self.reports: list[tuple[str, str, bool]] = []

    def target(self, deployment_id: str) -> DeploymentTarget:
        return self._target

    def report(self, *, deployment_id: str, execution_id: str, succeeded: bool) -> None:
        self.reports.append((deployment_id, execution_id, succeeded))


@pytest.fixture
def codedeploy() -> FakeCodeDeploy:
    # Version 1 is what a local start publishes for every function (`live` points at it).
    return FakeCodeDeploy(DeploymentTarget("payments-authorize-local", "1"))


def _run_hook(stack: LocalStack, hook: str, codedeploy: FakeCodeDeploy) -> tuple[dict[str, Any], str]:
    """The hook function named `hook`, wired from its own template entry, with CodeDeploy the fake."""
    spec = stack.invoker.spec(hook)
    function: LambdaFunction[deploy_hooks.Dependencies, dict[str, str]] = getattr(
        deploy_hooks, spec.handler.rpartition(".")[2]
    )
    wired = replace(function.wire(Environment(spec.environment)), hooks=codedeploy)
    execution = f"exec-{uuid.uuid4().hex[:8]}"
    outcome = function.with_dependencies(wired)(
        {"DeploymentId": "d-TEST", "LifecycleEventHookExecutionId": execution}, LambdaContext(spec)
    )
    return dict(outcome), execution


def _intent(stack: LocalStack, intent_id: str) -> dict[str, Any]:
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.emulator.endpoint)
    item = dynamodb.get_item(
        TableName=stack.deployed.resources["PaymentIntentsTable"],
        Key={"paymentIntentId": {"S": intent_id}},
        ConsistentRead=True,
    )["Item"]
    return {key: next(iter(value.values())) for key, value in item.items()}


def test_the_pre_traffic_hook_pays_through_the_new_version_voids_and_reports_success(
    local_stack: LocalStack, codedeploy: FakeCodeDeploy
) -> None:
    before = local_stack.emulator.calls.snapshot()
    outcome, execution = _run_hook(local_stack, PRE_TRAFFIC, codedeploy)
    assert outcome["status"] == "Succeeded", outcome
    assert codedeploy.reports == [("d-TEST", execution, True)]
    # The synthetic payment ended voided: no hold is left on the test card.
    intent = _intent(local_stack, outcome["subject"])
    assert (intent["status"], intent["customerId"].startswith("cus_canary_")) == ("VOIDED", True)
    # The function being deployed was called at its version, the others at `live`.
    calls = local_stack.emulator.calls.snapshot()
    invoked = {op for op in calls if op.startswith("lambda Invoke") and calls[op] > before.get(op, 0)}
    assert invoked >= {
        "lambda Invoke:payments-authorize-local:1",
        "lambda Invoke:payments-create-intent-local:live",
        "lambda Invoke:payments-void-intent-local:live",
    }


def test_a_new_version_that_fails_makes_the_pre_traffic_hook_report_failure(
    local_stack: LocalStack, codedeploy: FakeCodeDeploy
) -> None:
    local_stack.invoker.inject_fault("AuthorizeFunction", error="Runtime.ImportModuleError", count=1)
    try:
        outcome, execution = _run_hook(local_stack, PRE_TRAFFIC, codedeploy)
    finally:
        local_stack.invoker.clear_faults()
    assert outcome["status"] == "Failed"
    assert "Runtime.ImportModuleError" in outcome["reason"]
    assert codedeploy.reports == [("d-TEST", execution, False)]


def test_a_version_that_does_not_exist_fails_the_check(
    local_stack: LocalStack, codedeploy: FakeCodeDeploy
) -> None:
    codedeploy._target = DeploymentTarget("payments-authorize-local", "42")
    outcome, execution = _run_hook(local_stack, PRE_TRAFFIC, codedeploy)
    assert outcome["status"] == "Failed"
    assert codedeploy.reports == [("d-TEST", execution, False)]


def test_the_post_traffic_hook_runs_a_checkout_through_the_workflow(
    local_stack: LocalStack, codedeploy: FakeCodeDeploy
) -> None:
    outcome, execution = _run_hook(local_stack, POST_TRAFFIC, codedeploy)
    assert outcome["status"] == "Succeeded", outcome
    assert codedeploy.reports == [("d-TEST", execution, True)]
    # The checkout it ran authorized its payment, and the hook voided it afterwards.
    dynamodb = boto3.client("dynamodb", endpoint_url=local_stack.emulator.endpoint)
    checkout = dynamodb.get_item(
        TableName=local_stack.deployed.resources["CheckoutsTable"],
        Key={"trackingId": {"S": outcome["subject"]}},
        ConsistentRead=True,
    )["Item"]
    assert "failureCode" not in checkout
    assert _intent(local_stack, checkout["paymentIntentId"]["S"])["status"] == "VOIDED"


def test_a_failing_workflow_task_fails_the_post_traffic_hook(
    local_stack: LocalStack, codedeploy: FakeCodeDeploy
) -> None:
    # The gateway authorization task crashes on every attempt: the checkout cannot succeed.
    local_stack.invoker.inject_fault("CheckoutAuthorizeFunction", error="Runtime.ExitError", count=100)
    try:
        outcome, execution = _run_hook(local_stack, POST_TRAFFIC, codedeploy)
    finally:
        local_stack.invoker.clear_faults()
    assert outcome["status"] == "Failed"
    assert "ended FAILED" in outcome["reason"]
    assert codedeploy.reports == [("d-TEST", execution, False)]
