"""The sandbox gateway over HTTP: a threaded JSON server around `SandboxGateway`.

Keep-alive (HTTP/1.1) with a Content-Length on every answer, like a real processor, so clients are
tested with pooled connections. Nothing is logged per request: a refused request may hold a card
number, and it must not reach a log.

The server can also be taken down and brought back on the same port (`go_down`, `come_up`,
`outage`): while down its port refuses connections, the one failure that proves a request never
reached the processor (what failing over to another processor needs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from payments.gateway.sandbox import SandboxGateway

MAX_BODY_BYTES: Final = 64 * 1024
IDLE_CONNECTION_SECONDS: Final = 30.0
OUTAGE_DRAW_SECONDS: Final = 0.5  # how often `RandomOutages` draws whether an outage starts
OUTAGE_SECONDS: Final = (0.2, 1.0)  # the shortest and longest outage it starts


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not overflow the listen backlog

    def __init__(self, address: tuple[str, int], sandbox: SandboxGateway) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._busy: set[socket.socket] = set()  # serving a request (read it, not yet answered)
        self._draining = False  # going down: no connection is kept alive after its answer
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)
                self._busy.discard(connection)

    def mark_busy(self, connection: socket.socket, *, busy: bool) -> bool:
        """Record whether `connection` is serving a request; False once draining (then close it)."""
        with self._connections_lock:
            if busy:
                self._busy.add(connection)
            else:
                self._busy.discard(connection)
            return not self._draining

    @property
    def draining(self) -> bool:
        return self._draining

    def close_idle_connections(self) -> None:
        """Going down: idle keep-alive connections are shut now (a pooled client sees them dropped
        and opens a new one), busy ones after their answer (see `mark_busy`)."""
        with self._connections_lock:
            self._draining = True
            idle = list(self._connections - self._busy)
        for connection in idle:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def close_connections(self) -> None:
        """Idle keep-alive connections would otherwise outlive `stop()`."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout) leaves a broken pipe behind: expected, not news.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def parse_request(self) -> bool:
        # A request line has been read: from here to its answer the connection is busy, and an
        # outage lets it finish (the request may have moved money; cutting it would hide that).
        self.server.mark_busy(self.connection, busy=True)
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            if not self.server.mark_busy(self.connection, busy=False):
                self.close_connection = True  # the server went down meanwhile: not kept alive

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silent on purpose (see the module docstring)."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level errors (bad request line, unsupported method) answer JSON too."""
        self.close_connection = True
        text = message or explain or "bad request"
        self._send(code, {"error": {"code": "invalid_request", "message": text}})

    def _serve(self, method: str) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, {"error": {"code": "invalid_request", "message": "send a Content-Length"}})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            status, code = (413, "payload_too_large") if length > MAX_BODY_BYTES else (400, "invalid_request")
            self._send(status, {"error": {"code": code, "message": "the body length is not acceptable"}})
            return
        body = self.rfile.read(length)
        response = self.server.sandbox.handle(
            method, self.path, body, idempotency_key=self.headers.get("Idempotency-Key")
        )
        if response.delay_seconds > 0:
            time.sleep(response.delay_seconds)
        self._send(response.status, response.body)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        if self.server.draining:
            self.close_connection = True
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


@dataclass(frozen=True, slots=True)
class OutageStats:
    """Outages so far (`go_down` calls that took the server down) and seconds spent down, the
    current outage included."""

    outages: int = 0
    seconds_down: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"outages": self.outages, "secondsDown": round(self.seconds_down, 3)}


class SandboxGatewayServer:
    """Runs the sandbox gateway on a background thread; `port=0` picks a free port (see `url`).

    Pass `sandbox` to share one gateway's state with other code (the local stack); otherwise a new
    one is made with `stall_seconds`.

    `go_down()` and `come_up()` (or `with server.outage():`) simulate the processor's host going
    away: while down the port refuses connections, idle keep-alive connections are shut, and a
    request being served finishes (answered with `Connection: close`). The gateway's state survives,
    the port and `url` stay the same. Both are idempotent and thread-safe.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        stall_seconds: float = 1.5,
        sandbox: SandboxGateway | None = None,
    ) -> None:
        self._address = (host, port)
        self.sandbox = sandbox if sandbox is not None else SandboxGateway(stall_seconds=stall_seconds)
        self._lock = threading.Lock()  # start, stop, go_down and come_up, one at a time
        self._bound: tuple[str, int] | None = None  # where it listens (or will again): set by start()
        self._server: _HttpServer | None = None  # None when stopped or down
        self._thread: threading.Thread | None = None
        # While down, the port stays bound (not listening, so connections are refused): no other
        # socket, such as an outgoing connection given it as its local port, can take it meanwhile.
        self._placeholder: socket.socket | None = None
        self._outages = 0
        self._seconds_down = 0.0
        self._down_since: float | None = None

    @property
    def url(self) -> str:
        """The same before, during and after an outage."""
        if self._bound is None:
            raise RuntimeError("the sandbox gateway server is not started")
        host, port = self._bound
        return f"http://{host!s}:{port}"

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def start(self) -> SandboxGatewayServer:
        with self._lock:
            if self._bound is not None:
                return self
            server = _HttpServer(self._address, self.sandbox)
            self._serve(server)
            host, port = server.server_address[:2]
            self._bound = (str(host), int(port))
            return self

    def stop(self) -> None:
        with self._lock:
            self._halt(all_connections=True)
            self._release_placeholder()
            if self._down_since is not None:
                self._seconds_down += time.monotonic() - self._down_since
            self._bound = None
            self._down_since = None

    def go_down(self) -> None:
        """Close the listening socket (new connections: ECONNREFUSED) and the idle connections; a
        no-op if already down."""
        with self._lock:
            if self._bound is None:
                raise RuntimeError("the sandbox gateway server is not started")
            if self._down_since is not None:
                return
            self._halt(all_connections=False)
            self._placeholder = _reserve(self._bound)
            self._outages += 1
            self._down_since = time.monotonic()

    def come_up(self) -> None:
        """Listen again on the same host and port; a no-op unless down."""
        with self._lock:
            if self._bound is None or self._down_since is None:
                return
            try:
                server = _HttpServer(self._bound, self.sandbox)
            except OSError:  # a platform refusing a second bind next to the placeholder
                self._release_placeholder()
                server = _HttpServer(self._bound, self.sandbox)
            self._release_placeholder()
            self._serve(server)
            self._seconds_down += time.monotonic() - self._down_since
            self._down_since = None

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """Down for the `with` block, up again after it (even if it raised)."""
        self.go_down()
        try:
            yield
        finally:
            self.come_up()

    def outage_stats(self) -> OutageStats:
        with self._lock:
            seconds = self._seconds_down
            if self._down_since is not None:
                seconds += time.monotonic() - self._down_since
            return OutageStats(self._outages, seconds)

    def _serve(self, server: _HttpServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="sandbox-gateway", kwargs={"poll_interval": 0.1}
        )
        self._thread.daemon = True
        self._thread.start()

    def _halt(self, *, all_connections: bool) -> None:
        """Stop accepting, close the listening socket, then shut the connections (all, or the idle
        ones: the busy ones finish their request)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()  # serve_forever returns; the socket must not be closed under it
        server.server_close()
        if all_connections:
            server.close_connections()
        else:
            server.close_idle_connections()
        if thread is not None:
            thread.join()

    def _release_placeholder(self) -> None:
        if self._placeholder is not None:
            self._placeholder.close()
            self._placeholder = None

    def __enter__(self) -> SandboxGatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class RandomOutages:
    """Seeded outages of a server on a background thread (the local runtime's `gatewayOutageRate`):
    every `OUTAGE_DRAW_SECONDS` it draws, and with probability `rate` takes the server down for a
    drawn `OUTAGE_SECONDS` span. The draws come from `random.Random(f"{seed}:outages")`, so a seed
    gives the same sequence of outages (when they fall among the requests is up to the clock).
    `stop()` ends the thread and leaves the server up."""

    def __init__(self, server: SandboxGatewayServer, *, rate: float, seed: int) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("the gateway's outage rate is a number from 0 to 1")
        self.server = server
        self.rate = rate
        self._draws = random.Random(f"{seed}:outages")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gateway-outages", daemon=True)

    def start(self) -> RandomOutages:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.server.come_up()

    def _run(self) -> None:
        while not self._stopped.wait(OUTAGE_DRAW_SECONDS):
            if self._draws.random() < self.rate:
                seconds = self._draws.uniform(*OUTAGE_SECONDS)
                with self.server.outage():
                    self._stopped.wait(seconds)


def _reserve(address: tuple[str, int]) -> socket.socket | None:
    """A socket bound to `address` and not listening, or None if the platform will not bind it."""
    placeholder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        placeholder.bind(address)
    except OSError:
        placeholder.close()
        return None
    return placeholder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the sandbox payment gateway until Ctrl-C.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--stall-seconds", type=float, default=1.5, help="how long a stalled call waits")
    args = parser.parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # stop cleanly under a supervisor too
    with SandboxGatewayServer(args.host, args.port, stall_seconds=args.stall_seconds) as server:
        print(f"sandbox gateway listening on {server.url} (Ctrl-C stops it)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
