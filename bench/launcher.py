"""Start `payments local up` as its own process and read the URLs it prints (for tests and benchmarks).

A separate process, as `make run` starts it: what talks to it shares nothing with it but HTTP.

With `BENCH_TRACEABLE=1` in the environment (or `wrapper=TRACEABLE`) any bench's stack can be profiled
while it runs: `py-spy record --pid <its pid>` (see bench/cpu_profile.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_URL_LINE = re.compile(r"\s+(API|AWS|Gateway|Stripe):\s+(http://\S+)")
_PRINTED = frozenset({"API", "API key", "AWS", "Gateway"})
_KEY_LINE = re.compile(r"\s+API key:\s+(\S+)")


OUTPUT_LINES_KEPT = 50_000  # a benchmark's stack logs for hours: memory must not grow with it

# A prefix for `launch(wrapper=...)`: lets any process of this user attach to the stack (py-spy --pid),
# which Yama's default (ptrace_scope 1: only a process's ancestors) refuses to a sibling. It declares
# PR_SET_PTRACER_ANY, which outlives exec, then becomes the stack: same pid, same signals.
TRACEABLE = (
    sys.executable,
    "-c",
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None)\n"
    "if hasattr(libc, 'prctl'): libc.prctl(0x59616D61, ctypes.c_ulong(-1), 0, 0, 0)\n"
    "os.execv(sys.argv[1], sys.argv[1:])",
)


class LaunchError(RuntimeError):
    """The stack did not come up; `output` holds what it printed."""


@dataclass
class LaunchedStack:
    process: subprocess.Popen[str]
    urls: dict[str, str]
    # What it printed: the start-up, then its log lines (one per invocation), the latest kept.
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES_KEPT))

    @property
    def api(self) -> str:
        return self.urls["API"]

    @property
    def aws_endpoint(self) -> str:
        return self.urls["AWS"]

    @property
    def gateway(self) -> str:
        return self.urls["Gateway"]

    @property
    def stripe(self) -> str:
        """The stack's Stripe (`--processor stripe` only): localstripe behind Stripe's Idempotency-Key
        replay (`payments.local.stripe_replay`)."""
        return self.urls["Stripe"]

    @property
    def api_key(self) -> str:
        """The merchant API key the stack printed (its default, or PAYMENTS_API_KEY)."""
        return self.urls["API key"]

    def stop(self, timeout: float = 20) -> int:
        """Ctrl-C, as an operator would; kill only if it does not stop in time (then raise)."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise LaunchError("payments local up did not stop on Ctrl-C") from None


def launch(
    *,
    cwd: Path,
    port: int = 0,
    timeout: float = 120,
    parameters: Mapping[str, str] | None = None,
    processor: str = "sandbox",
    wrapper: Sequence[str] = (),
) -> LaunchedStack:
    """`wrapper` is a command the stack's command line is handed to (e.g. TRACEABLE)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    if not wrapper and os.environ.get("BENCH_TRACEABLE") == "1":
        wrapper = TRACEABLE
    overrides = [f"--parameter={name}={value}" for name, value in (parameters or {}).items()]
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [
            *wrapper,
            sys.executable,
            *("-m", "payments.cli", "local", "up", "--port", str(port), "--processor", processor),
            *overrides,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = LaunchedStack(process, {})
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    printed = _PRINTED | ({"Stripe"} if processor == "stripe" else set())
    while not stack.urls.keys() >= printed and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        stack.output.append(line)
        found = _URL_LINE.match(line)
        if found:
            stack.urls[found.group(1)] = found.group(2)
        elif key := _KEY_LINE.match(line):
            stack.urls["API key"] = key.group(1)
    if not stack.urls.keys() >= printed:
        process.kill()
        raise LaunchError("payments local up did not start:\n" + "".join(stack.output))
    # Keep reading what it prints, or a full pipe would one day block the stack mid-request.
    threading.Thread(target=_drain, args=(process, stack.output), name="launcher-drain", daemon=True).start()
    return stack


def _drain(process: subprocess.Popen[str], output: deque[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
