"""A gap of the emulator's Lambda, filled locally: a function's dead-letter queue.

The emulator takes `DeadLetterConfig` in CreateFunction and forgets it, so GetFunctionConfiguration
and ListFunctions never name the queue. `payments dlq` finds the dead-letter queues of functions (and
where to send their events back) from that configuration, in AWS as locally: here it is kept and
answered as Lambda answers it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def install() -> None:
    """Patch the emulator's Lambda (once per process, as its backends are per process)."""
    from moto.awslambda.models import LambdaFunction  # noqa: PLC0415 (local only)

    if getattr(LambdaFunction, "_payments_shimmed", False):
        return
    created: Callable[..., None] = LambdaFunction.__init__
    configuration: Callable[..., dict[str, Any]] = LambdaFunction.get_configuration

    @functools.wraps(created)
    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        created(self, account_id, spec, *args, **kwargs)
        target = (spec.get("DeadLetterConfig") or {}).get("TargetArn")
        self.payments_dead_letter_arn = target or None

    @functools.wraps(configuration)
    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = configuration(self, *args, **kwargs)
        target = getattr(self, "payments_dead_letter_arn", None)
        if target:
            answer["DeadLetterConfig"] = {"TargetArn": target}
        return answer

    LambdaFunction.__init__ = init  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction._payments_shimmed = True  # type: ignore[attr-defined]
