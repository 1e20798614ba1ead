"""Test support for the Stripe connector: localstripe in a process of its own on loopback, and a replaying
layer in front of it that gives it the one Stripe behaviour money depends on and it lacks.

localstripe (1.15.10) answers a repeated Idempotency-Key by doing the work again. Stripe documents the
opposite: the first answer to a key is kept and a repeat of the same request gets it back (marked
`Idempotent-Replayed: true`); the same key with other parameters is an `idempotency_error`; a repeat
while the first is still running is a 409. `ReplayingProxy` does exactly that, in front of localstripe,
so a test can prove that a retried call moves money once. It can also lose an answer on the way back
(the request reached localstripe, the caller never hears), the case a retry exists for.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3

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


@dataclass
class _Kept:
    request: tuple[str, str, bytes]  # method, path with query, body
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    done: bool = False


class ReplayingProxy:
    """An HTTP layer in front of localstripe that keeps Stripe's idempotency promise (see the module's
    docstring). `forwarded` lists what reached localstripe; `lose_answers(n)` drops the next n answers
    to POSTs after localstripe made them (the connection closes without a response)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.forwarded: list[tuple[str, str]] = []
        self.replayed = 0
        self._kept: dict[tuple[str, str], _Kept] = {}
        self._lock = threading.Lock()
        self._answers_to_lose = 0
        self._pool = urllib3.PoolManager(maxsize=8)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ReplayingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._pool.clear()

    def lose_answers(self, count: int) -> None:
        with self._lock:
            self._answers_to_lose = count

    def posts_to(self, path: str) -> int:
        """How many POSTs to `path` reached localstripe."""
        return sum(1 for method, forwarded in self.forwarded if method == "POST" and forwarded == path)

    # --- serving ------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._serve(self)

            def do_POST(self) -> None:
                proxy._serve(self)

            def do_DELETE(self) -> None:
                proxy._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        key = handler.headers.get("Idempotency-Key")
        if handler.command != "POST" or not key:
            self._answer(handler, *self._forward(handler, body))
            return
        scope = (handler.headers.get("Authorization", ""), key)  # keys are per account at Stripe
        request = (handler.command, handler.path, body)
        with self._lock:
            kept = self._kept.get(scope)
            if kept is None:
                kept = self._kept[scope] = _Kept(request)
                first = True
            else:
                first = False
        if not first:
            self._replay(handler, kept, request)
            return
        status, headers, answer = self._forward(handler, body)
        with self._lock:
            kept.status, kept.headers, kept.body, kept.done = status, headers, answer, True
            lose = self._answers_to_lose > 0
            self._answers_to_lose -= 1 if lose else 0
        if lose:
            handler.close_connection = True  # localstripe did the work; the caller hears nothing
            return
        self._answer(handler, status, headers, answer)

    def _replay(self, handler: BaseHTTPRequestHandler, kept: _Kept, request: tuple[str, str, bytes]) -> None:
        if kept.request != request:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first "
                "used with."
            )
            self._error(handler, 400, {"type": "idempotency_error", "message": message})
        elif not kept.done:
            message = "There is currently another in-progress request using this Idempotent Key."
            self._error(
                handler,
                409,
                {"type": "invalid_request_error", "code": "idempotency_key_in_use", "message": message},
            )
        else:
            with self._lock:
                self.replayed += 1
            self._answer(handler, kept.status, {**kept.headers, "Idempotent-Replayed": "true"}, kept.body)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() not in {"host", "content-length", "connection"}
        }
        response = self._pool.request(
            handler.command, self.upstream + handler.path, body=body or None, headers=headers, retries=False
        )
        with self._lock:
            self.forwarded.append((handler.command, handler.path.split("?")[0]))
        content_type = response.headers.get("Content-Type", "application/json")
        return response.status, {"Content-Type": content_type}, response.data

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @classmethod
    def _error(cls, handler: BaseHTTPRequestHandler, status: int, error: dict[str, Any]) -> None:
        cls._answer(
            handler, status, {"Content-Type": "application/json"}, json.dumps({"error": error}).encode()
        )


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on, while the context lasts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
