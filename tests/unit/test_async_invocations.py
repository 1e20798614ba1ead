"""Asynchronous invocations in the local runtime behave as Lambda's: queued, retried twice, then kept
in the function's dead-letter queue; the caller never waits."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from payments.local.invoker import ASYNC_RETRIES, FunctionSpec, LocalLambda

calls: list[Any] = []
release = threading.Event()


def failing_first(event: dict[str, Any], context: Any) -> str:
    calls.append(event)
    if len(calls) <= event["failures"]:
        raise RuntimeError(f"attempt {len(calls)} failed")
    return "ok"


def waits(event: dict[str, Any], context: Any) -> str:
    release.wait(5)
    return "done"


@pytest.fixture
def invoker() -> LocalLambda:
    calls.clear()
    release.clear()
    invoker = LocalLambda()
    module = __name__
    for name in ("failing_first", "waits"):
        invoker.register(
            FunctionSpec(name, name, f"{module}.{name}", dead_letter_arn="arn:aws:sqs:us-east-1:1:dlq")
        )
    return invoker


def sink(into: list[tuple[str, str, dict[str, str]]]) -> Any:
    return lambda arn, body, attributes: into.append((arn, body, attributes))


def test_a_failing_event_is_retried_twice_then_succeeds(invoker: LocalLambda) -> None:
    dead: list[tuple[str, str, dict[str, str]]] = []
    invoker.dead_letter_sink = sink(dead)
    invoker.invoke_async("failing_first", {"failures": ASYNC_RETRIES})
    assert invoker.wait_async(5)
    assert (len(calls), dead, invoker.dead_lettered) == (1 + ASYNC_RETRIES, [], 0)


def test_an_event_that_keeps_failing_is_kept_in_the_dead_letter_queue(invoker: LocalLambda) -> None:
    dead: list[tuple[str, str, dict[str, str]]] = []
    invoker.dead_letter_sink = sink(dead)
    invoker.invoke_async("failing_first", {"failures": 99})
    assert invoker.wait_async(5)
    assert len(calls) == 1 + ASYNC_RETRIES
    [(arn, body, attributes)] = dead
    assert (arn, json.loads(body)) == ("arn:aws:sqs:us-east-1:1:dlq", {"failures": 99})
    assert attributes["ErrorMessage"] == "attempt 3 failed"
    assert invoker.dead_lettered == 1


def test_the_caller_does_not_wait_for_the_function(invoker: LocalLambda) -> None:
    invoker.invoke_async("waits", {})
    assert invoker.async_pending == 1
    assert not invoker.wait_async(0.05)
    release.set()
    assert invoker.wait_async(5)
    assert invoker.async_pending == 0
