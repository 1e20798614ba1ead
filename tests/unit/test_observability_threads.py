"""Invocations running at once on threads of one process (as the local runtime runs them) never stamp
each other's correlation ids on a log line, and none carries over to the next invocation on a thread."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from payments.functions.observability import logger, observed

# Another module's logger, sharing the payments logger's handler (and so its JSON lines) as modules do.
child = Logger(service="payments", child=True)

KEYS = ("function", "paymentIntentId", "trackingId", "refundId", "batchId")


class Context:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name


class Turns:
    """Steps taken strictly in turn, across threads: `take(n)` waits until turn `n` is reached."""

    def __init__(self) -> None:
        self._turn = 0
        self._changed = threading.Condition()

    def take(self, turn: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self._turn == turn, timeout=5), f"turn {turn} never came"

    def done(self) -> None:
        with self._changed:
            self._turn += 1
            self._changed.notify_all()


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the logger writes (stdout, as Lambda sends it to CloudWatch Logs), kept for the test."""
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    handler.setStream(previous)  # type: ignore[attr-defined]


def _lines(logged: io.StringIO) -> list[tuple[str, dict[str, Any]]]:
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    return [(line["message"], {key: line[key] for key in KEYS if key in line}) for line in lines]


A = {"function": "payments-capture-dev", "paymentIntentId": "pi_A", "trackingId": "chk_A"}
B = {"function": "payments-refund-dev", "paymentIntentId": "pi_B", "refundId": "re_B"}


def test_interleaved_invocations_on_two_threads_log_only_their_own_ids(logged: io.StringIO) -> None:
    turns = Turns()

    @observed
    def capture(event: dict[str, Any], context: Any) -> dict[str, Any]:
        turns.take(0)  # A's ids are set
        turns.done()
        turns.take(2)  # ... B's too, on the other thread
        logger.info("capturing")
        child.info("capture step")
        turns.done()
        turns.take(4)
        return {"statusCode": 200}  # A ends (its ids go) while B is still running

    @observed
    def refund(event: dict[str, Any], context: Any) -> dict[str, Any]:
        turns.take(1)
        turns.done()
        turns.take(3)
        logger.info("refunding")
        child.info("refund step")
        turns.done()
        turns.take(5)
        logger.info("refund still running")
        return {"statusCode": 201}

    def invoke(
        handler: Callable[[Any, Any], Any], event: dict[str, Any], function_name: str
    ) -> dict[str, Any]:
        handler(event, Context(function_name))
        kept = dict(logger.thread_safe_get_current_keys())  # what this thread would stamp next
        turns.done()
        return kept

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(
            invoke,
            capture,
            {"pathParameters": {"paymentIntentId": "pi_A"}, "trackingId": "chk_A"},
            A["function"],
        )
        second = pool.submit(invoke, refund, {"paymentIntentId": "pi_B", "refundId": "re_B"}, B["function"])
        assert first.result(timeout=10) == {}
        assert second.result(timeout=10) == {}

        # A third invocation, on one of those same threads, names no id: it logs none of theirs
        @observed
        def listing(event: dict[str, Any], context: Any) -> dict[str, Any]:
            logger.info("listing")
            return {"statusCode": 200}

        pool.submit(listing, {"queryStringParameters": {"limit": "10"}}, Context("payments-list-dev")).result(
            10
        )
        pool.submit(listing, {"batchId": "rb_C"}, Context("payments-list-dev")).result(10)

    assert _lines(logged) == [
        ("capturing", A),
        ("capture step", A),
        ("refunding", B),
        ("refund step", B),
        ("invocation handled", A),
        ("refund still running", B),
        ("invocation handled", B),
        ("listing", {"function": "payments-list-dev"}),
        ("invocation handled", {"function": "payments-list-dev"}),
        ("listing", {"function": "payments-list-dev", "batchId": "rb_C"}),
        ("invocation handled", {"function": "payments-list-dev", "batchId": "rb_C"}),
    ]

    # And on this thread too, which ran neither
    listing({"Records": []}, Context("payments-list-dev"))
    assert _lines(logged)[-2:] == [
        ("listing", {"function": "payments-list-dev"}),
        ("invocation handled", {"function": "payments-list-dev"}),
    ]


def test_a_failed_invocation_leaves_no_ids_on_its_thread(logged: io.StringIO) -> None:
    @observed
    def failing(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("the gateway answered 500")

    @observed
    def quiet(event: dict[str, Any], context: Any) -> None:
        return None

    with ThreadPoolExecutor(max_workers=1) as pool:
        with pytest.raises(RuntimeError):
            pool.submit(failing, {"paymentIntentId": "pi_F"}, Context("payments-capture-dev")).result(10)
        pool.submit(quiet, {}, Context("payments-get-dev")).result(10)
        assert pool.submit(lambda: dict(logger.thread_safe_get_current_keys())).result(10) == {}
    assert _lines(logged) == [
        ("invocation failed", {"function": "payments-capture-dev", "paymentIntentId": "pi_F"}),
        ("invocation handled", {"function": "payments-get-dev"}),
    ]


def test_an_invocation_run_inside_another_logs_its_own_ids_then_gives_the_outer_ones_back(
    logged: io.StringIO,
) -> None:
    @observed
    def inner(event: dict[str, Any], context: Any) -> None:
        child.info("inside")

    @observed
    def outer(event: dict[str, Any], context: Any) -> None:
        inner({"refundId": "re_I"}, Context("payments-inner-dev"))
        logger.info("back outside")

    outer({"paymentIntentId": "pi_O", "trackingId": "chk_O"}, Context("payments-outer-dev"))
    outer_ids = {"function": "payments-outer-dev", "paymentIntentId": "pi_O", "trackingId": "chk_O"}
    assert _lines(logged) == [
        ("inside", {"function": "payments-inner-dev", "refundId": "re_I"}),
        ("invocation handled", {"function": "payments-inner-dev", "refundId": "re_I"}),
        ("back outside", outer_ids),
        ("invocation handled", outer_ids),
    ]
    assert logger.thread_safe_get_current_keys() == {}
