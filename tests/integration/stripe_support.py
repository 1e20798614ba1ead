"""Test support for the Stripe connector: localstripe in a process of its own on loopback, bare (no
replaying layer), and a closed port.

localstripe (1.15.10) answers a repeated Idempotency-Key by doing the work again, where Stripe replays the
first answer. The layer that gives it Stripe's behaviour is the local stack's own,
`payments.local.stripe_replay.ReplayingProxy` (`LocalStripe.url` is served by it), re-exported here:
tests put it in front of this bare process to prove that a retried call moves money once, and read the
bare process to show the gap.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import urllib3

from payments.local.stripe_replay import ReplayingProxy

__all__ = ["READY_TIMEOUT_SECONDS", "SECRET_KEY", "LocalStripeProcess", "ReplayingProxy", "closed_port"]

SECRET_KEY = "sk_test_localstripe"  # localstripe takes any key that starts with sk_
READY_TIMEOUT_SECONDS = 30.0

# Serves localstripe's aiohttp application on a socket bound to loopback (its own `--port` listens on
# every interface) and keeps its objects in memory: its store otherwise rewrites /tmp/localstripe.pickle,
# one file shared by every localstripe on the machine, on each change. Prints the port, then serves.
_SERVE = """
import socket, sys
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
web.run_app(server.app, sock=sock, print=None, access_log=None)
"""


class LocalStripeProcess:
    """localstripe as a child process; `url` once `start()` returned (it answered the API)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStripeProcess:
        self._process = subprocess.Popen(  # noqa: S603 (our interpreter, our script)
            [sys.executable, "-c", _SERVE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"localstripe did not start (it printed {line!r})")
        self.port = int(line)
        self._wait_until_it_answers()
        return self

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        headers = {"Authorization": f"Bearer {SECRET_KEY}"}
        while True:
            try:
                response = urllib3.request(
                    "GET", f"{self.url}/v1/balance", headers=headers, retries=False, timeout=1.0
                )
                if response.status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() > deadline or (
                self._process is not None and self._process.poll() is not None
            ):
                self.stop()
                raise RuntimeError("localstripe did not answer in time")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on, while the context lasts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
