"""Runs a function's real handler in this process with a real Lambda context.

Every way AWS invokes a function ends here: the HTTP front door (API Gateway), `lambda.invoke` through
the emulator (`payments.local.lambda_routing` routes moto's `LambdaFunction.invoke` to
`LocalLambda.invoke`), event sources, and SNS, which invokes asynchronously (`invoke_async`: queued for
worker threads, as Lambda's own asynchronous queue; retried, then kept in the dead-letter queue). The
caller never waits for the function, and two events may run at once or in either order, as in AWS.
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from payments.local.chaos import CRASH_ERROR, Chaos, InjectedCrash, deliver_with_faults
from payments.local.emulator import ACCOUNT_ID, REGION

Handler = Callable[[Any, Any], Any]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    name: str
    handler: str  # "package.module.function"
    timeout_seconds: int = 3
    memory_mb: int = 128
    environment: Mapping[str, str] = field(default_factory=dict)
    dead_letter_arn: str | None = None  # where an asynchronous event goes once its retries fail

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.name}"


class LambdaContext:
    """The context object Lambda passes to a handler, with a real deadline."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Invocation:
    payload: Any
    error: bool = False
    duration_ms: float = 0.0

    def payload_bytes(self) -> bytes:
        return json.dumps(self.payload).encode()


class UnknownFunction(LookupError):
    pass


# Lambda retries a failed asynchronous invocation twice (its default MaximumRetryAttempts). AWS waits
# about a minute, then two, between attempts; locally they follow at once.
ASYNC_RETRIES = 2
ASYNC_WORKERS = 4

DeadLetterSink = Callable[[str, str, dict[str, str]], None]  # (queue arn, event json, attributes)


class LocalLambda:
    def __init__(self) -> None:
        self._by_name: dict[str, FunctionSpec] = {}
        self._handlers: dict[str, Handler] = {}
        self._faults: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.dead_letter_sink: DeadLetterSink | None = None
        self.dead_lettered = 0
        self._async: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._async_pending = 0  # queued or running
        self._async_idle = threading.Condition(self._lock)
        self._workers: list[threading.Thread] = []
        self.chaos = Chaos()

    def register(self, spec: FunctionSpec) -> None:
        self._by_name[spec.name] = spec

    # -- fault injection (by the function's logical id in template.yaml) ---------------------------

    def inject_fault(self, logical_id: str, *, error: str, count: int) -> None:
        if logical_id not in {spec.logical_id for spec in self._by_name.values()}:
            raise UnknownFunction(f"no function with logical id {logical_id} in template.yaml")
        with self._lock:
            self._faults[logical_id] = (error, count)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> dict[str, dict[str, object]]:
        with self._lock:
            return {name: {"error": error, "remaining": n} for name, (error, n) in self._faults.items() if n}

    def _take_fault(self, spec: FunctionSpec) -> str | None:
        with self._lock:
            error, remaining = self._faults.get(spec.logical_id, ("", 0))
            if remaining <= 0:
                return None
            self._faults[spec.logical_id] = (error, remaining - 1)
            return error

    @property
    def functions(self) -> list[FunctionSpec]:
        return list(self._by_name.values())

    def spec(self, name_or_arn: str) -> FunctionSpec:
        name = name_or_arn.rsplit(":function:", 1)[-1].split(":", 1)[0]
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownFunction(f"no function named {name}") from None

    def _handler(self, spec: FunctionSpec) -> Handler:
        """The function's container: its handler wired from its own variables in `template.yaml`
        and nothing else, so a variable missing from one function fails here as it does in AWS."""
        with self._lock:
            if spec.name not in self._handlers:
                from payments.bootstrap import LambdaFunction  # noqa: PLC0415

                module_name, _, attribute = spec.handler.rpartition(".")
                handler = getattr(importlib.import_module(module_name), attribute)
                if isinstance(handler, LambdaFunction):
                    handler = handler.with_environment(spec.environment)
                self._handlers[spec.name] = handler
            return self._handlers[spec.name]

    def invoke(self, name_or_arn: str, event: Any) -> Invocation:
        """Run the handler; an exception becomes Lambda's error payload, as AWS reports it."""
        spec = self.spec(name_or_arn)
        started = time.perf_counter()
        context = LambdaContext(spec)
        injected = self._take_fault(spec)
        if injected is not None:
            payload = {
                "errorMessage": f"fault injected into {spec.logical_id}",
                "errorType": injected,
                "requestId": context.aws_request_id,
                "stackTrace": [],
            }
            return Invocation(payload, error=True)
        try:
            with self.chaos.crashing():
                result = self._handler(spec)(event, context)
        except InjectedCrash as crash:  # the process died: Lambda knows no more than that
            payload = {
                "errorMessage": f"RequestId: {context.aws_request_id} Error: Runtime exited ({crash})",
                "errorType": CRASH_ERROR,
                "requestId": context.aws_request_id,
                "stackTrace": [],
            }
            return Invocation(payload, error=True, duration_ms=(time.perf_counter() - started) * 1000)
        except Exception as error:  # reported to the caller as Lambda does
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            return Invocation(payload, error=True, duration_ms=(time.perf_counter() - started) * 1000)
        return Invocation(result, duration_ms=(time.perf_counter() - started) * 1000)

    def invoke_async(self, name_or_arn: str, event: Any) -> None:
        """Queue the event for the function and return at once, as Lambda accepts an Event invocation."""
        spec = self.spec(name_or_arn)
        copies, hold_seconds = self.chaos.async_fate()
        with self._lock:
            self._async_pending += copies
            if not self._workers:
                for number in range(ASYNC_WORKERS):
                    worker = threading.Thread(target=self._work, name=f"lambda-async-{number}", daemon=True)
                    worker.start()
                    self._workers.append(worker)
        for _ in range(copies):
            if hold_seconds:  # held back, so events queued after it run first
                threading.Timer(hold_seconds, self._async.put, args=((spec.name, event),)).start()
            else:
                self._async.put((spec.name, event))

    def deliver(self, name_or_arn: str, event: Any) -> Invocation:
        """An event source's batch (a stream's, a queue's): run once, or under chaos twice or late."""
        return deliver_with_faults(self.chaos, lambda: self.invoke(name_or_arn, event))

    @property
    def async_pending(self) -> int:
        with self._lock:
            return self._async_pending

    def wait_async(self, timeout: float) -> bool:
        """Until every queued asynchronous invocation has finished (its retries too); False on timeout."""
        with self._async_idle:
            return self._async_idle.wait_for(lambda: self._async_pending == 0, timeout=timeout)

    def _work(self) -> None:
        while True:
            name, event = self._async.get()
            try:
                self._run_async(self.spec(name), event)
            except Exception:  # a broken dead-letter queue must not stop the worker
                log.exception("asynchronous invocation of %s was lost", name)
            finally:
                with self._async_idle:
                    self._async_pending -= 1
                    self._async_idle.notify_all()

    def _run_async(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Retried, then kept in the function's dead-letter queue (with the attributes AWS adds)."""
        for _attempt in range(1 + ASYNC_RETRIES):
            result = self.invoke(spec.name, event)
            if not result.error:
                return result
        if spec.dead_letter_arn and self.dead_letter_sink is not None:
            self.dead_letter_sink(
                spec.dead_letter_arn,
                json.dumps(event),
                {
                    "RequestID": str(result.payload.get("requestId", "")),
                    "ErrorCode": "200",
                    "ErrorMessage": str(result.payload.get("errorMessage", ""))[:256],
                },
            )
            with self._lock:
                self.dead_lettered += 1
        return result
