"""Deployment checks CodeDeploy runs around a canary.

Before any traffic reaches the new versions, a synthetic sandbox payment goes through them: create,
authorize, void. Once all traffic has shifted, a smoke test runs a checkout through the workflow and
voids it. Either check failing makes CodeDeploy roll the deployment back, so each one reports its
outcome exactly once, whatever went wrong, and leaves no hold on the test card.

The functions are called as API Gateway would call them (HTTP API payload 2.0): the one being deployed
at its new version, the others at their `live` alias, so the check exercises the code that is about to
take traffic and nothing in front of it.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

SYNTHETIC_MERCHANT = "merchant_canary"
TERMINAL_CHECKOUT_STATUSES = frozenset({"SUCCEEDED", "FAILED", "ACTION_REQUIRED"})


class CanaryFailed(RuntimeError):
    """The new version answered something a healthy deployment would not."""


class FunctionCaller(abc.ABC):
    @abc.abstractmethod
    def call(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke `function` (a name or qualified ARN) synchronously and return its answer; raise
        CanaryFailed if the function itself failed (an unhandled error, a timeout)."""


@dataclass(frozen=True, slots=True)
class DeploymentTarget:
    """What one CodeDeploy deployment shifts: a function's alias to a new version."""

    function_name: str
    version: str


class LifecycleHooks(abc.ABC):
    @abc.abstractmethod
    def target(self, deployment_id: str) -> DeploymentTarget:
        """The function and version the deployment is moving its alias to."""

    @abc.abstractmethod
    def report(self, *, deployment_id: str, execution_id: str, succeeded: bool) -> None:
        """Tell CodeDeploy how the hook went: it goes on shifting traffic, or rolls back."""


@dataclass(frozen=True, slots=True)
class CanaryTargets:
    """The functions a check calls, by name or qualified ARN."""

    create_intent: str
    authorize: str
    void: str
    start_checkout: str
    get_checkout: str

    def under(self, deployment: DeploymentTarget, *, alias: str = "live") -> CanaryTargets:
        """Each function at its `alias`, except the one being deployed, which is called at its new
        version: traffic has not reached that version yet, so only the check exercises it."""

        def qualified(name: str) -> str:
            version = deployment.version if name == deployment.function_name else alias
            return f"{name}:{version}"

        return CanaryTargets(
            create_intent=qualified(self.create_intent),
            authorize=qualified(self.authorize),
            void=qualified(self.void),
            start_checkout=qualified(self.start_checkout),
            get_checkout=qualified(self.get_checkout),
        )


@dataclass(frozen=True, slots=True)
class HookEvent:
    deployment_id: str
    execution_id: str

    @classmethod
    def parse(cls, event: dict[str, Any]) -> HookEvent:
        try:
            return cls(event["DeploymentId"], event["LifecycleEventHookExecutionId"])
        except KeyError as missing:
            raise ValueError(f"not a CodeDeploy lifecycle hook event: no {missing}") from None


def api_event(
    method: str, path: str, *, body: dict[str, Any] | None = None, idempotency_key: str | None = None
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event for one request; path parameters are named as in the routes."""
    segments = path.strip("/").split("/")
    parameters = {}
    if segments[:2] == ["v1", "payment-intents"] and len(segments) > 2:
        parameters["paymentIntentId"] = segments[2]
    if segments[:2] == ["v1", "checkouts"] and len(segments) > 2:
        parameters["trackingId"] = segments[2]
    headers = {"content-type": "application/json", "user-agent": "payments-canary"}
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "sourceIp": "198.51.100.7",
                "userAgent": "payments-canary",
            },
            "stage": "$default",
            # What the API authorizer gives a merchant key: the synthetic payments are the canary
            # merchant's own, and reach no other merchant's.
            "authorizer": {
                "lambda": {"scope": "merchant", "merchantId": SYNTHETIC_MERCHANT, "keyId": "canary"}
            },
        },
        "isBase64Encoded": False,
    }
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def _request(
    caller: FunctionCaller,
    function: str,
    method: str,
    path: str,
    expected_status: int,
    *,
    body: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """One API request to `function`; its body, if it answered `expected_status`."""
    response = caller.call(function, api_event(method, path, body=body, idempotency_key=idempotency_key))
    status = response.get("statusCode")
    answer: dict[str, Any] = json.loads(response.get("body") or "{}")
    if status != expected_status:
        raise CanaryFailed(f"{method} {path}: expected HTTP {expected_status}, got {status} {answer}")
    return answer


def _create_intent(caller: FunctionCaller, targets: CanaryTargets, payment_method: str, run_id: str) -> str:
    body = {
        "amount": 100,
        "currency": "USD",
        # A customer of its own per run: the fraud check's velocity limits never see a burst of
        # deployment checks as one customer paying too often.
        "customerId": f"cus_canary_{hashlib.sha256(run_id.encode()).hexdigest()[:16]}",
        "merchantId": SYNTHETIC_MERCHANT,
        "paymentMethod": payment_method,
        "description": f"deployment check {run_id}",
    }
    key = f"canary-{run_id}-create"
    created = _request(
        caller, targets.create_intent, "POST", "/v1/payment-intents", 201, body=body, idempotency_key=key
    )
    return str(created["paymentIntentId"])


def _expect_status(answer: dict[str, Any], status: str, what: str) -> None:
    if answer.get("status") != status:
        raise CanaryFailed(f"{what}: the intent is {answer.get('status')}, not {status}")


def _void(caller: FunctionCaller, targets: CanaryTargets, intent_id: str, run_id: str) -> None:
    path = f"/v1/payment-intents/{intent_id}/void"
    voided = _request(caller, targets.void, "POST", path, 200, idempotency_key=f"canary-{run_id}-void")
    _expect_status(voided, "VOIDED", "void")


def synthetic_payment(
    caller: FunctionCaller, targets: CanaryTargets, *, payment_method: str, run_id: str
) -> str:
    """Create, authorize and void one sandbox payment through the new versions; the intent's id."""
    intent_id = _create_intent(caller, targets, payment_method, run_id)
    path = f"/v1/payment-intents/{intent_id}/authorize"
    key = f"canary-{run_id}-auth"
    authorized = _request(caller, targets.authorize, "POST", path, 200, body={}, idempotency_key=key)
    _expect_status(authorized, "AUTHORIZED", "authorize")
    _void(caller, targets, intent_id, run_id)
    return intent_id


def checkout_smoke_test(
    caller: FunctionCaller,
    targets: CanaryTargets,
    *,
    payment_method: str,
    run_id: str,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Run one checkout through the live workflow to SUCCEEDED, then void it; the tracking id."""
    intent_id = _create_intent(caller, targets, payment_method, run_id)
    body, key = {"paymentIntentId": intent_id}, f"canary-{run_id}-checkout"
    started = _request(
        caller, targets.start_checkout, "POST", "/v1/checkouts", 202, body=body, idempotency_key=key
    )
    tracking_id = str(started["trackingId"])
    deadline = clock() + wait_seconds
    status = str(started.get("status"))
    while status not in TERMINAL_CHECKOUT_STATUSES:
        if clock() >= deadline:
            raise CanaryFailed(f"checkout {tracking_id} still {status} after {wait_seconds:g} s")
        sleep(0.5)
        status = str(
            _request(caller, targets.get_checkout, "GET", f"/v1/checkouts/{tracking_id}", 200).get("status")
        )
    if status != "SUCCEEDED":
        raise CanaryFailed(f"checkout {tracking_id} ended {status}")
    _void(caller, targets, intent_id, run_id)
    return tracking_id


def run_hook(
    check: Callable[[DeploymentTarget], str], hooks: LifecycleHooks, event: HookEvent
) -> dict[str, str]:
    """Run the check on the deployment's target and report the outcome to CodeDeploy once, whatever
    the check raised (a target that cannot be read fails the check too)."""
    try:
        subject = check(hooks.target(event.deployment_id))
    except Exception as error:  # any failure must reach CodeDeploy as Failed
        logger.error("deployment check failed: %s", error, extra={"deploymentId": event.deployment_id})
        hooks.report(deployment_id=event.deployment_id, execution_id=event.execution_id, succeeded=False)
        return {"status": "Failed", "reason": str(error)}
    logger.info("deployment check passed", extra={"deploymentId": event.deployment_id, "subject": subject})
    hooks.report(deployment_id=event.deployment_id, execution_id=event.execution_id, succeeded=True)
    return {"status": "Succeeded", "subject": subject}
