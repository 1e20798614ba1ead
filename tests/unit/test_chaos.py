"""The local runtime's fault injector: seeded crashes at a handler's calls out (or at its return),
reported as a crashed Lambda; asynchronous deliveries duplicated or held back. No sockets: a call out
is `http.client`'s `putrequest` then `getresponse`, which fail harmlessly with no socket."""

from __future__ import annotations

import contextlib
import http.client
import threading
from typing import Any

import pytest

from payments.local.chaos import CRASH_ERROR, Chaos, ChaosSettings, InjectedCrash, deliver_with_faults
from payments.local.invoker import FunctionSpec, LocalLambda

done: list[int] = []  # the calls out each invocation made before it ended


def three_calls_out(event: dict[str, Any], context: Any) -> str:
    made = 0
    try:
        for _ in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", 9)
            connection.putrequest("GET", "/")  # "sent" (nothing is: there is no socket)
            with contextlib.suppress(http.client.ResponseNotReady):
                connection.getresponse()  # its answer "read"
            made += 1
    except Exception:  # handler code must not be able to swallow a crash
        return "swallowed"
    finally:
        done.append(made)
    return "ok"


@pytest.fixture
def invoker() -> LocalLambda:
    done.clear()
    invoker = LocalLambda()
    invoker.register(FunctionSpec("Calls", "calls", f"{__name__}.three_calls_out"))
    return invoker


def outcomes(invoker: LocalLambda, times: int) -> list[tuple[bool, Any]]:
    return [(result.error, result.payload) for result in (invoker.invoke("calls", {}) for _ in range(times))]


def test_no_chaos_no_crash(invoker: LocalLambda) -> None:
    assert outcomes(invoker, 20) == [(False, "ok")] * 20
    assert done == [3] * 20


def test_every_invocation_crashes_somewhere_at_a_rate_of_one(invoker: LocalLambda) -> None:
    invoker.chaos.configure(ChaosSettings(seed=1, crash_rate=1.0))
    results = outcomes(invoker, 200)
    assert all(error and payload["errorType"] == CRASH_ERROR for error, payload in results)
    counts = invoker.chaos.counts
    assert counts.crashes_before_send + counts.crashes_after_send + counts.crashes_at_end == 200
    assert min(counts.crashes_before_send, counts.crashes_after_send, counts.crashes_at_end) > 0
    # A crash before call k leaves k - 1 calls made; after call k, k; at the end, all three.
    assert set(done) == {0, 1, 2, 3}


def test_crashes_come_at_the_configured_rate_and_replay_with_the_seed(invoker: LocalLambda) -> None:
    invoker.chaos.configure(ChaosSettings(seed=9, crash_rate=0.2))
    first = [error for error, _ in outcomes(invoker, 400)]
    assert 0.12 < sum(first) / 400 < 0.28
    invoker.chaos.configure(ChaosSettings(seed=9, crash_rate=0.2))
    assert [error for error, _ in outcomes(invoker, 400)] == first


def test_a_crash_point_outside_a_handler_is_inert() -> None:
    Chaos().configure(ChaosSettings(seed=1, crash_rate=1.0))
    http.client.HTTPConnection("127.0.0.1", 9).putrequest("GET", "/")  # no plan on this thread


def test_a_crash_is_not_an_exception_handler_code_can_catch() -> None:
    assert not issubclass(InjectedCrash, Exception)


def test_async_faults_duplicate_or_hold_back_every_delivery() -> None:
    chaos = Chaos(max_hold_seconds=0.01)
    chaos.configure(ChaosSettings(seed=4, async_faults=True))
    runs: list[int] = []
    for number in range(40):
        deliver_with_faults(chaos, lambda number=number: runs.append(number))
    counts = chaos.counts
    assert counts.duplicated + counts.reordered == 40
    assert counts.duplicated > 0
    assert counts.reordered > 0
    assert len(runs) == 40 + counts.duplicated


def test_asynchronous_invocations_are_duplicated_and_all_accounted_for(invoker: LocalLambda) -> None:
    invoker.chaos.configure(ChaosSettings(seed=2, async_faults=True))
    for _ in range(20):
        invoker.invoke_async("calls", {})
    assert invoker.wait_async(timeout=10)
    assert len(done) == 20 + invoker.chaos.counts.duplicated
    assert invoker.async_pending == 0


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="crashRate"):
        Chaos().configure(ChaosSettings(crash_rate=1.5))


def test_threads_draw_from_one_generator_safely(invoker: LocalLambda) -> None:
    invoker.chaos.configure(ChaosSettings(seed=3, crash_rate=0.5))
    threads = [threading.Thread(target=outcomes, args=(invoker, 50)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = invoker.chaos.counts
    assert counts.invocations == 200
    crashes = counts.crashes_before_send + counts.crashes_after_send + counts.crashes_at_end
    assert len(done) == 200
    assert 0 < crashes < 200
