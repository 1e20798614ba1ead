"""CodeDeploy's lifecycle hooks for the canary: `before_allow_traffic` runs a synthetic sandbox payment
(through the new version of the function being deployed); `after_allow_traffic` runs a checkout through
the live workflow. Each reports
Succeeded or Failed to CodeDeploy, which rolls the deployment back on Failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payments import bootstrap
from payments.service import canary

# A checkout normally ends in a couple of seconds; this is well inside the hook function's timeout.
CHECKOUT_WAIT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What either hook needs (their template entries give both the same variables)."""

    hooks: canary.LifecycleHooks
    caller: canary.FunctionCaller
    targets: canary.CanaryTargets
    payment_method: str  # the sandbox card the canary pays with


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        hooks=bootstrap.lifecycle_hooks(env),
        caller=bootstrap.function_caller(env),
        targets=bootstrap.canary_targets(env),
        payment_method=env.need("canary_payment_method"),
    )


@bootstrap.lambda_function(wire)
def before_allow_traffic(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, str]:
    hook = canary.HookEvent.parse(event)
    return canary.run_hook(
        lambda deployment: canary.synthetic_payment(
            deps.caller,
            deps.targets.under(deployment),
            payment_method=deps.payment_method,
            run_id=f"pre-{hook.execution_id}",
        ),
        deps.hooks,
        hook,
    )


@bootstrap.lambda_function(wire)
def after_allow_traffic(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, str]:
    hook = canary.HookEvent.parse(event)
    return canary.run_hook(
        lambda deployment: canary.checkout_smoke_test(
            deps.caller,
            # Traffic has shifted: `live` is the new version now, and the workflow calls `live` too.
            deps.targets.under(deployment),
            payment_method=deps.payment_method,
            run_id=f"post-{hook.execution_id}",
            wait_seconds=CHECKOUT_WAIT_SECONDS,
        ),
        deps.hooks,
        hook,
    )
