"""The deployment checks' logic (service.canary) and their AWS edges, on fakes of their ports."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from payments.adapters import emf_metrics
from payments.adapters.deployment_hooks import CodeDeployLifecycleHooks, LambdaFunctionCaller
from payments.service import canary
from payments.service.canary import CanaryFailed, CanaryTargets, DeploymentTarget, HookEvent
from payments.service.checkout import is_unexpected_failure

NAMES = CanaryTargets(
    create_intent="payments-create-intent-dev",
    authorize="payments-authorize-dev",
    void="payments-void-intent-dev",
    start_checkout="payments-start-checkout-dev",
    get_checkout="payments-get-checkout-dev",
)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body)}


class ScriptedFunctions(canary.FunctionCaller):
    """Answers each call from a script keyed by the function's name (without its qualifier)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function, event))
        name = function.split(":", maxsplit=1)[0]
        if not self.answers.get(name):
            raise CanaryFailed(f"{function} failed: no answer")
        return self.answers[name].pop(0)


class RecordingHooks(canary.LifecycleHooks):
    def __init__(self, target: DeploymentTarget | Exception) -> None:
        self._target = target
        self.reports: list[tuple[str, str, bool]] = []

    def target(self, deployment_id: str) -> DeploymentTarget:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target

    def report(self, *, deployment_id: str, execution_id: str, succeeded: bool) -> None:
        self.reports.append((deployment_id, execution_id, succeeded))


def _payment_script(authorize_status: int = 200, authorized: str = "AUTHORIZED") -> ScriptedFunctions:
    return ScriptedFunctions(
        {
            NAMES.create_intent: [_response(201, {"paymentIntentId": "pi_1", "status": "PENDING"})],
            NAMES.authorize: [_response(authorize_status, {"status": authorized})],
            NAMES.void: [_response(200, {"status": "VOIDED"})],
        }
    )


def test_the_function_being_deployed_is_called_at_its_new_version_the_others_at_live() -> None:
    targets = NAMES.under(DeploymentTarget("payments-authorize-dev", "7"))
    assert targets.authorize == "payments-authorize-dev:7"
    assert targets.create_intent == "payments-create-intent-dev:live"
    assert targets.void == "payments-void-intent-dev:live"


def test_a_synthetic_payment_is_created_authorized_and_voided_in_that_order() -> None:
    functions = _payment_script()
    targets = NAMES.under(DeploymentTarget("payments-authorize-dev", "7"))
    intent = canary.synthetic_payment(functions, targets, payment_method="pm_card_visa", run_id="pre-abc")
    assert intent == "pi_1"
    called = [function for function, _ in functions.calls]
    assert called == [targets.create_intent, "payments-authorize-dev:7", targets.void]
    create, authorize, void = (event for _, event in functions.calls)
    assert json.loads(create["body"])["paymentMethod"] == "pm_card_visa"
    assert json.loads(create["body"])["amount"] == 100  # minor units: one dollar, never a float
    assert authorize["pathParameters"] == {"paymentIntentId": "pi_1"}
    assert void["rawPath"] == "/v1/payment-intents/pi_1/void"
    # Every request carries its own Idempotency-Key, derived from the run: a retried hook replays.
    keys = [event["headers"]["idempotency-key"] for _, event in functions.calls]
    assert keys == ["canary-pre-abc-create", "canary-pre-abc-auth", "canary-pre-abc-void"]


def test_each_run_pays_as_its_own_customer_so_velocity_limits_never_trip() -> None:
    customers = set()
    for run in ("pre-1", "pre-2"):
        functions = _payment_script()
        canary.synthetic_payment(functions, NAMES, payment_method="pm_card_visa", run_id=run)
        customers.add(json.loads(functions.calls[0][1]["body"])["customerId"])
    assert len(customers) == 2


@pytest.mark.parametrize(("status", "authorized"), [(402, "DECLINED"), (200, "PENDING")])
def test_an_authorization_that_does_not_hold_fails_the_check_and_voids_nothing(
    status: int, authorized: str
) -> None:
    functions = _payment_script(status, authorized)
    with pytest.raises(CanaryFailed, match="authorize"):
        canary.synthetic_payment(functions, NAMES, payment_method="pm_card_visa", run_id="r")
    assert [f for f, _ in functions.calls] == [NAMES.create_intent, NAMES.authorize]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _checkout_script(*statuses: str) -> ScriptedFunctions:
    return ScriptedFunctions(
        {
            NAMES.create_intent: [_response(201, {"paymentIntentId": "pi_2"})],
            NAMES.start_checkout: [_response(202, {"trackingId": "chk_1", "status": "RUNNING"})],
            NAMES.get_checkout: [_response(200, {"status": status}) for status in statuses],
            NAMES.void: [_response(200, {"status": "VOIDED"})],
        }
    )


def test_the_smoke_test_waits_for_the_checkout_then_voids_it() -> None:
    functions, clock = _checkout_script("RUNNING", "RUNNING", "SUCCEEDED"), Clock()
    tracking = canary.checkout_smoke_test(
        functions, NAMES, payment_method="pm_card_visa", run_id="post-1", wait_seconds=10,
        sleep=clock.sleep, clock=clock,
    )  # fmt: skip
    assert tracking == "chk_1"
    assert [f for f, _ in functions.calls][-1] == NAMES.void
    assert clock.now == 1.5  # three polls, half a second apart


@pytest.mark.parametrize(
    ("statuses", "reason"),
    [(("RUNNING",) * 50, "still RUNNING after 2 s"), (("FAILED",), "ended FAILED")],
)
def test_a_checkout_that_does_not_succeed_in_time_fails_the_smoke_test(
    statuses: tuple[str, ...], reason: str
) -> None:
    functions, clock = _checkout_script(*statuses), Clock()
    with pytest.raises(CanaryFailed, match=reason):
        canary.checkout_smoke_test(
            functions, NAMES, payment_method="pm_card_visa", run_id="post-2", wait_seconds=2,
            sleep=clock.sleep, clock=clock,
        )  # fmt: skip
    assert NAMES.void not in [f for f, _ in functions.calls]


EVENT = HookEvent("d-ABC", "exec-1")
TARGET = DeploymentTarget("payments-authorize-dev", "7")


def test_a_passing_check_reports_succeeded_once() -> None:
    hooks = RecordingHooks(TARGET)
    seen = []
    outcome = canary.run_hook(lambda target: seen.append(target) or "pi_1", hooks, EVENT)
    assert (outcome["status"], seen) == ("Succeeded", [TARGET])
    assert hooks.reports == [("d-ABC", "exec-1", True)]


@pytest.mark.parametrize(
    "failure", [CanaryFailed("authorize: expected 200"), RuntimeError("boom"), KeyError("paymentIntentId")]
)
def test_any_failure_reports_failed_once(failure: Exception) -> None:
    hooks = RecordingHooks(TARGET)

    def check(_target: DeploymentTarget) -> str:
        raise failure

    assert canary.run_hook(check, hooks, EVENT)["status"] == "Failed"
    assert hooks.reports == [("d-ABC", "exec-1", False)]


def test_a_deployment_whose_target_cannot_be_read_fails_without_running_the_check() -> None:
    hooks = RecordingHooks(CanaryFailed("no Lambda target"))
    ran = []
    assert canary.run_hook(lambda target: ran.append(target) or "", hooks, EVENT)["status"] == "Failed"
    assert (ran, hooks.reports) == ([], [("d-ABC", "exec-1", False)])


def test_a_hook_event_names_its_deployment_and_execution() -> None:
    event = {"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "e-1"}
    assert HookEvent.parse(event) == HookEvent("d-1", "e-1")
    with pytest.raises(ValueError, match="LifecycleEventHookExecutionId"):
        HookEvent.parse({"DeploymentId": "d-1"})


class StubCodeDeploy:
    """Answers GetDeployment with a given AppSpec and records the statuses put."""

    def __init__(self, app_spec: str) -> None:
        self.app_spec = app_spec
        self.statuses: list[dict[str, str]] = []

    def get_deployment(self, deploymentId: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        revision = {"revisionType": "AppSpecContent", "appSpecContent": {"content": self.app_spec}}
        return {"deploymentInfo": {"deploymentId": deploymentId, "revision": revision}}

    def put_lifecycle_event_hook_execution_status(self, **request: str) -> None:
        self.statuses.append(request)


def test_the_target_is_read_from_the_appspec_cloudformation_writes() -> None:
    spec = {
        "version": 0.0,
        "Resources": [
            {
                "AuthorizeFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": "payments-authorize-dev",
                        "Alias": "live",
                        "CurrentVersion": "6",
                        "TargetVersion": "7",
                    },
                }
            }
        ],
    }
    client = StubCodeDeploy(json.dumps(spec))
    hooks = CodeDeployLifecycleHooks(client)
    assert hooks.target("d-1") == TARGET
    hooks.report(deployment_id="d-1", execution_id="e-1", succeeded=False)
    assert client.statuses == [
        {"deploymentId": "d-1", "lifecycleEventHookExecutionId": "e-1", "status": "Failed"}
    ]


@pytest.mark.parametrize("app_spec", ["", "version: 0.0", json.dumps({"Resources": []})])
def test_an_appspec_without_one_lambda_target_is_a_failed_check(app_spec: str) -> None:
    with pytest.raises(CanaryFailed, match="no Lambda target"):
        CodeDeployLifecycleHooks(StubCodeDeploy(app_spec)).target("d-2")


class StubLambda:
    def __init__(self, payload: Any, *, function_error: bool = False) -> None:
        self.response: dict[str, Any] = {"Payload": io.BytesIO(json.dumps(payload).encode())}
        if function_error:
            self.response["FunctionError"] = "Unhandled"

    def invoke(self, **_request: Any) -> dict[str, Any]:
        return self.response


def test_a_function_error_is_a_failed_check_not_an_answer() -> None:
    answer = _response(200, {"status": "AUTHORIZED"})
    assert LambdaFunctionCaller(StubLambda(answer)).call("f:1", {}) == answer  # type: ignore[arg-type]
    crashed = StubLambda({"errorMessage": "boom", "errorType": "ImportError"}, function_error=True)
    with pytest.raises(CanaryFailed, match="ImportError"):
        LambdaFunctionCaller(crashed).call("f:1", {})  # type: ignore[arg-type]


def test_decline_rate_is_one_emf_line_per_authorization(capsys: pytest.CaptureFixture[str]) -> None:
    emf_metrics.record_authorization(declined=True, stage="dev")
    emf_metrics.record_authorization(declined=False, stage="dev")
    declined, approved = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    (directive,) = declined["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Payments"
    assert directive["Metrics"] == [{"Name": "DeclineRate", "Unit": "Percent"}]
    # The dimensions the rollback alarm names: service and stage.
    assert sorted(directive["Dimensions"][0]) == ["service", "stage"]
    assert (declined["stage"], declined["DeclineRate"], approved["DeclineRate"]) == ("dev", [100.0], [0.0])


@pytest.mark.parametrize(
    ("error", "unexpected"),
    [
        ({"Error": "CardDeclined"}, False),
        ({"Error": "UpstreamUnavailable"}, False),
        ({"Error": "Lambda.Unknown"}, True),
        ({"Error": "KeyError"}, True),
        ({}, True),
    ],
)
def test_only_faults_count_as_checkout_errors(error: dict[str, str], unexpected: bool) -> None:
    assert is_unexpected_failure(error) is unexpected
