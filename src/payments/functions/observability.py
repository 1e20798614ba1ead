"""One structured log line per invocation, with the ids an operator searches by.

Every handler is wrapped in `observed`: Powertools' Logger writes JSON to stdout (CloudWatch Logs in
AWS), with the invocation's correlation ids (`paymentIntentId`, `trackingId`, and the refund or batch
it is about) taken from the event's path or body keys, never the body itself, so no card data,
secret or customer address can reach a log line through it. A failure is logged with its traceback
and raised again: Lambda, the state machine or the queue still sees it. A payment outcome raised for
the workflow's Catch (a decline, a 3-D Secure step-up) is raised again too, but logged at INFO without
a traceback: it is an answer, not a fault.

The ids are kept per thread (Powertools' thread-safe keys, which every Powertools Logger of the
process, children included, adds to the lines logged on that thread), never on the shared logger: the
local runtime runs several invocations at once on threads of one process, and a warm container serves
one invocation after another. Each line logged during an invocation carries that invocation's ids and
none of another's; when it ends, the thread's keys are what they were before it began.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from payments.domain.errors import PaymentRefused

logger = Logger(service="payments")  # the level from POWERTOOLS_LOG_LEVEL

CORRELATION_IDS = ("paymentIntentId", "trackingId", "refundId", "batchId")

R = TypeVar("R")
Handler = Callable[[Any, Any], R]


def correlation_ids(event: Any) -> dict[str, str]:
    """The ids an event names: API path parameters, or a workflow task's input keys."""
    if not isinstance(event, Mapping):
        return {}
    found: dict[str, str] = {}
    for source in (event.get("pathParameters") or {}, event):
        if isinstance(source, Mapping):
            for name in CORRELATION_IDS:
                value = source.get(name)
                if isinstance(value, str) and value and name not in found:
                    found[name] = value
    return found


def observed(handler: Handler[R]) -> Handler[R]:
    """Log the invocation's outcome and duration with its correlation ids; re-raise any failure."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> R:
        keys = {"function": getattr(context, "function_name", handler.__module__), **correlation_ids(event)}
        with invocation_keys(**keys):
            return _run(handler, event, context)

    return wrapper


@contextlib.contextmanager
def invocation_keys(**keys: str) -> Iterator[None]:
    """`keys`, and only they, on every line logged on this thread until the block ends; then the
    thread's keys as they were (an invocation run inside another gets the outer one's back)."""
    before = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        # New dicts each time: the thread's keys are never changed in place, so no other thread or
        # context holding the same dict can see them change.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**before)


def _run(handler: Handler[R], event: Any, context: Any) -> R:
    started = time.perf_counter()
    try:
        result = handler(event, context)
    except PaymentRefused as outcome:
        # A decline or a 3-D Secure step-up raised for the workflow's Catch: the payment's answer,
        # not a fault, so no ERROR line and no traceback for anyone to chase.
        logger.info(
            "invocation answered with a payment outcome",
            extra={
                "durationMs": _since(started),
                "errorType": type(outcome).__name__,
                "code": outcome.code,
            },
        )
        raise
    except Exception:
        logger.exception("invocation failed", extra={"durationMs": _since(started)})
        raise
    status = result.get("statusCode") if isinstance(result, Mapping) else None
    logger.info("invocation handled", extra={"durationMs": _since(started), "statusCode": status})
    return result


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
