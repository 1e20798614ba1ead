"""Faults the local runtime injects on request, seeded: functions crashing at random points, and
asynchronous messages delivered twice or out of order. Off until `/_local/chaos` turns it on.

A crash is what a process dying looks like to everything else: the function stops between two of its
calls to the outside world (AWS or the gateway), either before sending the next request or after
sending it and before reading the answer, so that call's effect may or may not have happened. Its
Powertools idempotency record stays IN_PROGRESS until it expires, as in AWS. The invocation reports
`Lambda.Unknown`, the error Step Functions gives a crashed function; API Gateway answers 502.

Only the thread running a handler can crash: the crash points are its calls out made while a crash
plan is set for that thread (`http.client` requests, and calls to the emulator served in-process by
`payments.local.in_process`), and the runtime's own pollers and servers never set one.

Asynchronous deliveries (SNS and S3 to functions, DynamoDB stream and SQS batches) are, each one,
either delivered twice or held back a random moment so later ones overtake it. A stream's records stay
in order within the shard, as Lambda keeps them; a duplicate batch is what a retried batch looks like.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Final, TypeVar

CRASH_ERROR: Final = "Lambda.Unknown"
MAX_CRASH_POINT: Final = 4  # a crash comes at one of a handler's first calls out, or at its end
MAX_HOLD_SECONDS: Final = 0.5
_Result = TypeVar("_Result")


class InjectedCrash(BaseException):
    """Not an Exception: handler code must not be able to catch a dying process."""


@dataclass(frozen=True, slots=True)
class ChaosSettings:
    seed: int = 0
    crash_rate: float = 0.0  # the share of invocations that crash
    async_faults: bool = False  # every asynchronous message duplicated or reordered

    @property
    def active(self) -> bool:
        return self.crash_rate > 0 or self.async_faults


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """Crash at the `point`-th call out (`after_send`: once the request is out), or at the end."""

    point: int
    after_send: bool


@dataclass(slots=True)
class ChaosCounts:
    invocations: int = 0
    crashes_before_send: int = 0
    crashes_after_send: int = 0
    crashes_at_end: int = 0
    duplicated: int = 0
    reordered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class _Armed(threading.local):
    """This thread's crash plan, its calls out so far, and the injector counting the crash."""

    plan: CrashPlan | None = None
    calls: int = 0
    chaos: Chaos | None = None


_armed = _Armed()


def crash_point(after_send: bool) -> None:
    """Called at each call out (before it is sent, and after, before its answer is read): crash if this
    thread's plan says so."""
    plan = _armed.plan
    if plan is None:
        return
    if not after_send:
        _armed.calls += 1
    if plan.after_send == after_send and _armed.calls == plan.point:
        _armed.plan = None
        if _armed.chaos is not None:
            _armed.chaos.count("crashes_after_send" if after_send else "crashes_before_send")
        raise InjectedCrash(
            f"crashed {'after sending' if after_send else 'before sending'} call {plan.point}"
        )


@contextmanager
def serving_elsewhere() -> Iterator[None]:
    """While this thread serves a call it made in-process (the emulator is another process in AWS),
    its own crash plan is put aside: a function invoked from there draws its own, or none."""
    saved = (_armed.plan, _armed.calls, _armed.chaos)
    _armed.plan, _armed.calls, _armed.chaos = None, 0, None
    try:
        yield
    finally:
        _armed.plan, _armed.calls, _armed.chaos = saved


def _install_crash_points() -> None:
    """Wrap `http.client` once per process (urllib3, hence boto3 and the gateway client, use it)."""
    connection: Any = http.client.HTTPConnection
    if getattr(connection, "_payments_crash_points", False):
        return
    putrequest, getresponse = connection.putrequest, connection.getresponse

    def putrequest_with_crash_point(self: Any, *args: Any, **kwargs: Any) -> Any:
        crash_point(after_send=False)
        return putrequest(self, *args, **kwargs)

    def getresponse_with_crash_point(self: Any, *args: Any, **kwargs: Any) -> Any:
        crash_point(after_send=True)
        return getresponse(self, *args, **kwargs)

    connection.putrequest = putrequest_with_crash_point
    connection.getresponse = getresponse_with_crash_point
    connection._payments_crash_points = True


class Chaos:
    """The runtime's fault injector; one per stack, shared by every thread (draws are locked)."""

    def __init__(self, *, max_hold_seconds: float = MAX_HOLD_SECONDS) -> None:
        self._max_hold_seconds = max_hold_seconds
        self._lock = threading.Lock()
        self.settings = ChaosSettings()
        self.counts = ChaosCounts()
        self._draws = random.Random(0)

    def configure(self, settings: ChaosSettings) -> None:
        if not 0 <= settings.crash_rate <= 1:
            raise ValueError("crashRate is a number from 0 to 1")
        if settings.crash_rate:
            _install_crash_points()
        with self._lock:
            self.settings, self.counts = settings, ChaosCounts()
            self._draws = random.Random(settings.seed)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.settings.seed,
                "crashRate": self.settings.crash_rate,
                "asyncFaults": self.settings.async_faults,
                "counts": self.counts.as_dict(),
            }

    def _plan(self) -> CrashPlan | None:
        with self._lock:
            if not self.settings.crash_rate:
                return None
            self.counts.invocations += 1
            if self._draws.random() >= self.settings.crash_rate:
                return None
            return CrashPlan(self._draws.randint(1, MAX_CRASH_POINT), self._draws.random() < 0.5)

    @contextmanager
    def crashing(self) -> Iterator[None]:
        """Run a handler under a crash plan (or none); a plan not reached crashes at the end."""
        plan = self._plan()
        if plan is None:
            yield
            return
        saved = (_armed.plan, _armed.calls, _armed.chaos)
        _armed.plan, _armed.calls, _armed.chaos = plan, 0, self
        try:
            yield
            if _armed.plan is not None:  # fewer calls than the point: the process dies on return
                self.count("crashes_at_end")
                raise InjectedCrash("crashed after the handler returned, before its answer was sent")
        finally:
            _armed.plan, _armed.calls, _armed.chaos = saved

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self.counts, what, getattr(self.counts, what) + 1)

    def async_fate(self) -> tuple[int, float]:
        """(copies, seconds to hold back) for one asynchronous delivery."""
        with self._lock:
            if not self.settings.async_faults:
                return 1, 0.0
            if self._draws.random() < 0.5:
                self.counts.duplicated += 1
                return 2, 0.0
            self.counts.reordered += 1
            return 1, self._draws.uniform(self._max_hold_seconds / 10, self._max_hold_seconds)


def deliver_with_faults(chaos: Chaos, deliver: Callable[[], _Result]) -> _Result:
    """A poller's delivery under chaos: twice, or after a pause; the first failure is the result."""
    copies, hold = chaos.async_fate()
    if hold:
        threading.Event().wait(hold)
    results = [deliver() for _ in range(copies)]
    return next((result for result in results if getattr(result, "error", False)), results[-1])
