"""The sandbox gateway over HTTP: a threaded JSON server around `SandboxGateway`.

Keep-alive (HTTP/1.1) with a Content-Length on every answer, like a real processor, so clients are
tested with pooled connections. Nothing is logged per request: a refused request may hold a card
number, and it must not reach a log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from payments.gateway.sandbox import SandboxGateway

MAX_BODY_BYTES: Final = 64 * 1024
IDLE_CONNECTION_SECONDS: Final = 30.0


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not overflow the listen backlog

    def __init__(self, address: tuple[str, int], sandbox: SandboxGateway) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

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
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


class SandboxGatewayServer:
    """Runs the sandbox gateway on a background thread; `port=0` picks a free port (see `url`).

    Pass `sandbox` to share one gateway's state with other code (the local stack); otherwise a new
    one is made with `stall_seconds`.
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
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox gateway server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxGatewayServer:
        if self._server is not None:
            return self
        self._server = _HttpServer(self._address, self.sandbox)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sandbox-gateway", kwargs={"poll_interval": 0.1}
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> SandboxGatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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
