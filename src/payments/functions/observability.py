"""One structured log line per invocation, with the ids an operator searches by.

Every handler is wrapped in `observed`: Powertools' Logger writes JSON to stdout (CloudWatch Logs in
AWS), with the invocation's correlation ids (`paymentIntentId`, `trackingId`, and the refund or batch
it is about) taken from the event's path or body keys, never the body itself, so no card data,
secret or customer address can reach a log line through it. A failure is logged with its traceback
and raised again: Lambda, the state machine or the queue still sees it. A payment outcome raised for
the workflow's Catch (a decline, a 3-D Secure step-up) is raised again too, but logged at INFO without
a traceback: it is an answer, not a fault.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
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
        ids = correlation_ids(event)
        logger.append_keys(function=getattr(context, "function_name", handler.__module__), **ids)
        started = time.perf_counter()
        try:
            result = handler(event, context)
            status = result.get("statusCode") if isinstance(result, Mapping) else None
            logger.info("invocation handled", extra={"durationMs": _since(started), "statusCode": status})
            return result
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
        finally:
            # A warm container serves the next invocation: its ids must not carry over.
            logger.remove_keys(["function", *ids])

    return wrapper


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
