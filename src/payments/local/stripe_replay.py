"""Stripe's idempotency in front of localstripe, so the local stack's Stripe keeps Stripe's promise.

localstripe (1.15.10) answers a repeated `Idempotency-Key` by doing the work again. Stripe documents
(https://docs.stripe.com/api/idempotent_requests) that it keeps the status and body of the first request
made with a key, once its endpoint began, errors and 500s included, and:

- a repeat of the same request gets that answer back, marked `Idempotent-Replayed: true`;
- the same key with other parameters (or on another endpoint) is a 400 `idempotency_error`;
- a repeat while the first is still running is a 409 (`idempotency_key_in_use`), which saves nothing;
- keys belong to an account (here: the API key, and the `Stripe-Account` a platform acts for), are up
  to 255 characters, and may be pruned once at least 24 hours old; GET and DELETE ignore them.

Without this layer the local stack would be less faithful than Stripe exactly where money depends on it:
under the fault campaign a function that crashed after sending an authorization is retried with the same
key, and localstripe would make a second PaymentIntent.

`ReplayingProxy` is a threaded HTTP server on loopback that keeps those promises for keyed POSTs and
forwards every other request to localstripe untouched. Nothing is kept for a request localstripe did not
answer (no endpoint began: a retry does the work) or one without an API key (no account to keep it in).
What it keeps is bounded: a key goes once 24 hours old, or when `max_keys` newer ones are kept (oldest
first; at a few kilobytes an answer, the default is tens of megabytes at most).

For tests, on the same class: `lose_answers(n)` drops the next n answers to keyed POSTs after localstripe
made them (the case a retry exists for), `posts_to(path)` counts the POSTs that reached localstripe (one
counter per path: it grows with the objects touched, as localstripe's own store does), `replayed` counts
the answers given back.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http.client
import json
import logging
import socket
import socketserver
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

LOOPBACK: Final = "127.0.0.1"
KEEP_SECONDS: Final = 24 * 60 * 60.0  # Stripe prunes keys once at least 24 hours old
MAX_KEYS: Final = 20_000
MAX_KEY_LENGTH: Final = 255
UPSTREAM_TIMEOUT_SECONDS: Final = 60.0

# Hop-by-hop, or written afresh on each leg (a request's Host and length; an answer's date and server).
_NOT_FORWARDED: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_NOT_ANSWERED: Final = _NOT_FORWARDED | {"date", "server"}
_FORM: Final = "application/x-www-form-urlencoded"

logger = logging.getLogger(__name__)

Scope = tuple[tuple[str, str], str]  # (API key, Stripe-Account), Idempotency-Key
Fingerprint = tuple[str, str, object]  # method, path with query, parameters


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class _Kept:
    request: Fingerprint
    at: float
    answer: Answer | None = None  # None while the first request runs


class ReplayingProxy:
    """Stripe's idempotency in front of localstripe at `upstream` (see the module's docstring). Binds on
    construction (OSError if the port is taken); `start()` serves, `stop()` closes every connection."""

    def __init__(
        self,
        upstream: str,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        keep_seconds: float = KEEP_SECONDS,
        max_keys: int = MAX_KEYS,
        upstream_timeout: float = UPSTREAM_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.replayed = 0
        self._upstream_address = (parsed.hostname, parsed.port or 80)
        self._upstream_timeout = upstream_timeout
        self._keep_seconds = keep_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: OrderedDict[Scope, _Kept] = OrderedDict()  # oldest first
        self._posts: Counter[str] = Counter()
        self._answers_to_lose = 0
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._server.server_name}:{self.port}"

    def start(self) -> ReplayingProxy:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="stripe-replay", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the connections still open (twice is fine)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()  # waits for serve_forever to return: only once it was started
            self._thread.join()
        self._server.server_close()
        self._server.close_connections()

    def __enter__(self) -> ReplayingProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- test hooks --------------------------------------------------------------------------------

    def lose_answers(self, count: int) -> None:
        """Drop the next `count` answers to keyed POSTs after localstripe made them: the connection closes
        without a response, and the answer is kept for the retry."""
        with self._lock:
            self._answers_to_lose = count

    def posts_to(self, path: str) -> int:
        """How many POSTs to `path` (no query) reached localstripe."""
        with self._lock:
            return self._posts[path]

    # -- serving -----------------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request (called by the server's handler threads)."""
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            handler.close_connection = True
            _send(handler, _error(411, "invalid_request_error", "Send a Content-Length, not a chunked body."))
            return
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        key = handler.headers.get("Idempotency-Key")
        account = _account(handler.headers)
        if handler.command != "POST" or not key or account is None:
            _send(handler, self._forward(handler, body) or _unreachable(self.upstream))
            return
        if len(key) > MAX_KEY_LENGTH:
            message = f"Idempotency keys can be at most {MAX_KEY_LENGTH} characters long."
            _send(handler, _error(400, "invalid_request_error", message))
            return
        request = (handler.command, handler.path, _parameters(handler.headers, body))
        kept, first = self._keep((account, key), request)
        if not first:
            _send(handler, self._repeat(kept, request, key))
            return
        answer = self._forward(handler, body)
        with self._lock:
            if answer is None:  # no endpoint began: nothing kept, a retry does the work
                if self._kept.get((account, key)) is kept:
                    del self._kept[(account, key)]
            else:
                kept.answer = answer
            lose = answer is not None and self._answers_to_lose > 0
            self._answers_to_lose -= 1 if lose else 0
        if lose:
            handler.close_connection = True  # localstripe did the work; the caller hears nothing
            return
        _send(handler, answer or _unreachable(self.upstream), ("Idempotency-Key", key))

    def _keep(self, scope: Scope, request: Fingerprint) -> tuple[_Kept, bool]:
        """The entry for this key, and whether this request is the first to use it (it then runs)."""
        now = self._clock()
        with self._lock:
            while self._kept:
                _, oldest = next(iter(self._kept.items()))
                if now - oldest.at < self._keep_seconds and len(self._kept) < self._max_keys:
                    break
                self._kept.popitem(last=False)
            kept = self._kept.get(scope)
            if kept is not None:
                return kept, False
            kept = self._kept[scope] = _Kept(request, now)
            return kept, True

    def _repeat(self, kept: _Kept, request: Fingerprint, key: str) -> Answer:
        with self._lock:
            answer = kept.answer
            if kept.request == request and answer is not None:
                self.replayed += 1
        if kept.request != request:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request."
            )
            return _error(400, "idempotency_error", message)
        if answer is None:
            message = (
                "There is currently another in-progress request using this Idempotent Key (that probably "
                "means you submitted twice, and the other request is still going through): "
                f"{key}. Please try again later."
            )
            return _error(409, "invalid_request_error", message, code="idempotency_key_in_use")
        return Answer(
            answer.status,
            (*answer.headers, ("Idempotency-Key", key), ("Idempotent-Replayed", "true")),
            answer.body,
        )

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> Answer | None:
        """The request as it came (headers, body, path), and localstripe's answer; None if it gave none."""
        connection = http.client.HTTPConnection(*self._upstream_address, timeout=self._upstream_timeout)
        try:
            connection.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", "{}:{}".format(*self._upstream_address))
            for name, value in handler.headers.items():
                if name.lower() not in _NOT_FORWARDED:
                    connection.putheader(name, value)
            if body or handler.command == "POST":
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            answer = Answer(
                response.status,
                tuple(
                    (name, value)
                    for name, value in response.getheaders()
                    if name.lower() not in _NOT_ANSWERED
                ),
                response.read(),
            )
        except (OSError, http.client.HTTPException) as error:
            # Said in the 502 it answers; not printed (a probe before localstripe is up gets one too).
            logger.debug("localstripe did not answer %s %s: %s", handler.command, handler.path, error)
            return None
        finally:
            connection.close()
        if handler.command == "POST":
            with self._lock:
                self._posts[urlsplit(handler.path).path] += 1
        return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's clients expect
    server: _Server

    def do_GET(self) -> None:
        self.server.proxy.serve(self)

    def do_POST(self) -> None:
        self.server.proxy.serve(self)

    def do_DELETE(self) -> None:
        self.server.proxy.serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: localstripe's own access log has every request."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], proxy: ReplayingProxy) -> None:
        self.proxy = proxy
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # TCPServer's, not HTTPServer's, which looks the host's name up (a DNS query on some machines).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host if isinstance(host, str) else host.decode()
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the keep-alive connections still open: their threads, blocked reading, return."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 (the base's signature)
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return  # the caller went away
        logger.exception("the Stripe replay layer failed serving %s", client_address)


def _account(headers: Message[str, str]) -> tuple[str, str] | None:
    """Whose key it is: the API key (Bearer, or Basic as `curl -u sk_...:` sends it) and the connected
    account acted for; None without a key."""
    scheme, _, credentials = headers.get("Authorization", "").strip().partition(" ")
    api_key = credentials.strip()
    if scheme.lower() == "basic":
        try:
            api_key = base64.b64decode(api_key, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif scheme.lower() != "bearer":
        return None
    return (api_key, headers.get("Stripe-Account", "")) if api_key else None


def _parameters(headers: Message[str, str], body: bytes) -> object:
    """What Stripe compares: the form's parameters, whatever their order (a repeated name keeps the
    order of its values); any other body as it is."""
    content_type = headers.get("Content-Type", _FORM).split(";")[0].strip().lower()
    if content_type != _FORM:
        return body
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return body
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return tuple(sorted((name, tuple(values)) for name, values in grouped.items()))


def _error(status: int, kind: str, message: str, *, code: str | None = None) -> Answer:
    error = {"type": kind, "message": message} | ({} if code is None else {"code": code})
    return Answer(status, (("Content-Type", "application/json"),), json.dumps({"error": error}).encode())


def _unreachable(upstream: str) -> Answer:
    return _error(502, "api_error", f"localstripe did not answer at {upstream}; try again.")


def _send(handler: BaseHTTPRequestHandler, answer: Answer, *extra: tuple[str, str]) -> None:
    handler.send_response(answer.status)
    for name, value in (*answer.headers, *extra):
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(answer.body)))
    handler.end_headers()
    handler.wfile.write(answer.body)
