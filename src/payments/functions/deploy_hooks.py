"""CodeDeploy's lifecycle hooks for the canary: `before_allow_traffic` runs a synthetic sandbox payment
(through the new version of the function being deployed); `after_allow_traffic` runs a checkout through
the live workflow. Each reports
Succeeded or Failed to CodeDeploy, which rolls the deployment back on Failed."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.functions.observability import observed
from payments.service import canary

# A checkout normally ends in a couple of seconds; this is well inside the hook function's timeout.
CHECKOUT_WAIT_SECONDS = 60.0


@observed
def before_allow_traffic(event: dict[str, Any], context: Any) -> dict[str, str]:
    hook = canary.HookEvent.parse(event)
    return canary.run_hook(
        lambda deployment: canary.synthetic_payment(
            bootstrap.function_caller(),
            bootstrap.canary_targets().under(deployment),
            payment_method=bootstrap.settings().canary_payment_method,
            run_id=f"pre-{hook.execution_id}",
        ),
        bootstrap.lifecycle_hooks(),
        hook,
    )


@observed
def after_allow_traffic(event: dict[str, Any], context: Any) -> dict[str, str]:
    hook = canary.HookEvent.parse(event)
    return canary.run_hook(
        lambda deployment: canary.checkout_smoke_test(
            bootstrap.function_caller(),
            # Traffic has shifted: `live` is the new version now, and the workflow calls `live` too.
            bootstrap.canary_targets().under(deployment),
            payment_method=bootstrap.settings().canary_payment_method,
            run_id=f"post-{hook.execution_id}",
            wait_seconds=CHECKOUT_WAIT_SECONDS,
        ),
        bootstrap.lifecycle_hooks(),
        hook,
    )
