"""localstripe (the Stripe emulator from PyPI) beside the local stack, for `payments local up --processor
stripe`.

It runs as a process of its own, on the interpreter this code runs on: `python -m
payments.local.localstripe --fd <n>` serves localstripe's application on a socket this process bound
on loopback and handed down. Not `python -m localstripe --port <n>`, which listens on every interface
(`::`), loads whatever an earlier run left in `/tmp/localstripe.pickle` and rewrites that file, shared
by every run on the machine, on each change: here each run starts empty, keeps its objects in memory,
and is reached from this machine only. Binding the socket here also means the port is ours before the
process starts (no free-port race), and a port already taken is said at once.

What it prints (its access log, aiohttp's banner, a traceback if it dies) goes to `localstripe.log` in
a temporary directory of its own (`LocalStripe.log_path`), never into our output. The directory is
removed when it stops, and kept when it did not start, so the file an error names is still there.

It exits with us: `stop()` terminates it (then kills it), and should this process die without
stopping it, the pipe on its standard input closes and it exits by itself.

What the stack talks to (`LocalStripe.url`, its `StripeApiBase` and the `Stripe:` line printed) is not
localstripe itself but Stripe's idempotency in front of it (`payments.local.stripe_replay`), served from
this process on the port asked for: localstripe does a repeated Idempotency-Key's work again where Stripe
replays the first answer, and a function retried after a crash would otherwise authorize twice.
localstripe itself listens on a free loopback port of its own (`emulator_url`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from payments.local.stripe_replay import ReplayingProxy

LOOPBACK = "127.0.0.1"
# localstripe takes any secret key that starts with sk_ (the official SDK wants sk_test_ in test mode).
SECRET_KEY = "sk_test_payments_local"  # noqa: S105 (a local emulator's key, not a secret)
READY_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
_PROBE_TIMEOUT_SECONDS = 0.5
_PROBE_INTERVAL_SECONDS = 0.05


class LocalStripeError(RuntimeError):
    """localstripe did not start: one line that names the cause."""


@dataclass
class LocalStripe:
    """localstripe as a child process on loopback, behind Stripe's idempotency (`url`). `start()` returns
    once it answers the API there."""

    port: int = 0  # where `url` listens; 0 picks a free one
    ready_timeout: float = READY_TIMEOUT_SECONDS
    secret_key: str = SECRET_KEY
    emulator_port: int = field(default=0, init=False)  # localstripe's own, always a free one
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _replay: ReplayingProxy | None = field(default=None, init=False, repr=False)
    _directory: Path | None = field(default=None, init=False, repr=False)
    _answered: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        """The Stripe API as the stack sees it: localstripe, replaying by Idempotency-Key as Stripe does."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def emulator_url(self) -> str:
        """localstripe itself, which does a repeated Idempotency-Key's work again."""
        return f"http://{LOOPBACK}:{self.emulator_port}"

    @property
    def log_path(self) -> Path:
        assert self._directory is not None, "launch() first"
        return self._directory / "localstripe.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> LocalStripe:
        return self.launch().wait_ready()

    def launch(self) -> LocalStripe:
        """Start the process and return at once (`wait_ready()` waits for it to answer)."""
        if self._process is not None:
            raise LocalStripeError("localstripe is already started")
        if importlib.util.find_spec("localstripe") is None:
            raise LocalStripeError(
                f"localstripe is not installed for {sys.executable}: pip install 'payments[local]'"
            )
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((LOOPBACK, 0))
            listener.listen(128)  # from now on a request waits in the queue until localstripe serves it
            upstream = f"http://{LOOPBACK}:{listener.getsockname()[1]}"
            replay = ReplayingProxy(upstream, host=LOOPBACK, port=self.port)
        except OSError as error:
            listener.close()
            raise LocalStripeError(
                f"localstripe cannot listen on {LOOPBACK}:{self.port}: {error.strerror or error}"
            ) from error
        self.port, self.emulator_port = replay.port, listener.getsockname()[1]
        self._answered = False
        self._directory = Path(tempfile.mkdtemp(prefix="payments-localstripe-"))
        try:
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                    [sys.executable, "-m", __name__, "--fd", str(listener.fileno())],
                    stdin=subprocess.PIPE,  # our end closes when we exit, however we exit: it exits then
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its log as it happens
                    pass_fds=(listener.fileno(),),
                    start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in turn
                )
        except BaseException:
            replay.stop()
            raise
        finally:
            listener.close()  # the child holds its own copy
        self._replay = replay.start()
        return self

    def wait_ready(self) -> LocalStripe:
        """Until it answers `GET /v1/customers` at `url`; LocalStripeError (and the process stopped, `url`
        closed) if it exits or does not answer within `ready_timeout` seconds."""
        process = self._process
        assert process is not None, "launch() first"
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = process.poll()
            if code is not None:
                self._close()
                raise LocalStripeError(
                    f"localstripe exited with code {code} before answering on {self.url}: "
                    f"{self._last_line() or 'no output'} (its output: {self.log_path})"
                )
            if self._answers():
                self._answered = True
                return self
            if time.monotonic() >= deadline:
                self._terminate()
                raise LocalStripeError(
                    f"localstripe did not answer on {self.url} within {self.ready_timeout:g} s "
                    f"(its output: {self.log_path})"
                )
            time.sleep(_PROBE_INTERVAL_SECONDS)

    def stop(self) -> None:
        """Close `url`, terminate it, kill it if it does not exit in time, and remove its directory (kept
        if it never answered: the error said to look at its output)."""
        if self._process is None:
            return
        self._close_replay()
        self._terminate()
        if self._directory is not None and self._answered:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._process = None

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------------

    def _answers(self) -> bool:
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=_PROBE_TIMEOUT_SECONDS)
        try:
            connection.request(
                "GET", "/v1/customers?limit=1", headers={"Authorization": f"Bearer {self.secret_key}"}
            )
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        if response.status != 200:
            return False
        try:
            payload = json.loads(body)
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("object") == "list"

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close()

    def _close(self) -> None:
        self._close_replay()
        process = self._process
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()

    def _close_replay(self) -> None:
        if self._replay is not None:
            self._replay.stop()
            self._replay = None

    def _last_line(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return next((line.strip() for line in reversed(lines) if line.strip()), "")


# -- the child process -----------------------------------------------------------------------------


def _exit_when_closed(fd: int) -> None:
    """Read until the parent's end of the pipe closes (it stopped, or died), then exit at once. The raw
    descriptor, not `sys.stdin`: a daemon thread blocked in a buffered read aborts the interpreter's
    shutdown."""
    with contextlib.suppress(OSError):
        while os.read(fd, 4096):
            pass
    os._exit(0)


def _serve(listening_fd: int) -> None:
    threading.Thread(target=_exit_when_closed, args=(sys.stdin.fileno(),), daemon=True).start()
    # Imported by name: neither localstripe nor aiohttp (its dependency) is a dependency of `payments`.
    server: Any = importlib.import_module("localstripe.server")
    web: Any = importlib.import_module("aiohttp.web")
    server.store.dump_to_disk = lambda: None  # in memory only: no /tmp/localstripe.pickle
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.DEBUG)
    access.addHandler(logging.StreamHandler())
    sock = socket.socket(fileno=listening_fd)
    web.run_app(server.app, sock=sock, access_log=access)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m payments.local.localstripe",
        description="localstripe on a listening socket handed down by `LocalStripe` (not for direct use).",
    )
    parser.add_argument("--fd", type=int, required=True, help="the listening socket's file descriptor")
    args = parser.parse_args(argv)
    _serve(args.fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
