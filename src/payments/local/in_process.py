"""boto3 calls to the emulator, made in this process, served by its WSGI application on the caller's thread.

A handler's client is built exactly as in AWS (`boto3.client(...)`, its endpoint from `AWS_ENDPOINT_URL`)
and still serialises, signs and parses every call. Only the transport differs: botocore emits
`before-send` just before it would open a connection, and a response returned there is used instead
of one read from a socket. Here a request addressed to a running emulator is handed to that emulator's
application (the same one its HTTP server serves, so counting and every patch of moto apply) as a WSGI
call, and its answer goes back to botocore as the HTTP response would. Per call this saves the socket
round trip, the HTTP server's thread and both sides' HTTP parsing: a GetItem went from about 2.6 to 1.3 ms
(moto's own in-process mock: 1.1 ms).

Everything outside this process (the AWS CLI, the console, benches, a second process) still reaches the
emulator over HTTP. What a socket would do still happens: a crash the fault campaign injects can fall
before a request is handed over or after it is served and before its answer is read
(`payments.local.chaos.crash_point`), while the serving side (another process in AWS, whose invoked
functions draw their own crashes) runs without the caller's crash plan; a call served later than the
client's read timeout ends in botocore's `ReadTimeoutError` (its effect done, as after a timeout in
AWS); headers reach the application as the emulator's HTTP server passes them on.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

from payments.local.chaos import crash_point, serving_elsewhere

WsgiApp = Any
log = logging.getLogger(__name__)

_LOOPBACK_NAMES = ("127.0.0.1", "localhost")
_routes: dict[str, WsgiApp] = {}  # "host:port" -> the application of the emulator serving that address
_installed = threading.Lock()
_is_installed = False


class _ThreadCalls(threading.local):
    made = 0


_thread_calls = _ThreadCalls()


def calls_on_this_thread() -> int:
    """How many calls this thread has had served in-process: a request's own AWS calls are the change
    over its handling (a synchronous invocation runs on the caller's thread, so its calls count too)."""
    return _thread_calls.made


class _Body(io.BytesIO):
    """An answer's body as botocore reads a socket's: whole (`stream`) or in parts (`read(n)`)."""

    def stream(self, amt: int = 65536, **_kwargs: Any) -> Any:
        while chunk := self.read(amt):
            yield chunk


def serve(port: int, app: WsgiApp) -> None:
    """Serve the calls this process makes to 127.0.0.1:`port` (or localhost:`port`) from `app`."""
    _install()
    for name in _LOOPBACK_NAMES:
        _routes[f"{name}:{port}"] = app


def stop_serving(port: int) -> None:
    """Calls to that port go to the network again (and find nothing listening once it has stopped)."""
    for name in _LOOPBACK_NAMES:
        _routes.pop(f"{name}:{port}", None)


def _install() -> None:
    """Register the hook once per process: on every botocore session made from now on, and on boto3's
    default session if it exists already (its clients made before now keep using the network)."""
    global _is_installed  # noqa: PLW0603 (one hook per process, as botocore's handler list is)
    with _installed:
        if _is_installed:
            return
        import boto3  # noqa: PLC0415
        import botocore.handlers  # noqa: PLC0415

        for event, handler in (("before-call", _note_read_timeout), ("before-send", _send)):
            botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
            if boto3.DEFAULT_SESSION is not None:
                boto3.DEFAULT_SESSION._session.register(event, handler)  # type: ignore[arg-type]
        _is_installed = True


class _ReadTimeout(threading.local):
    seconds: float | None = None  # the client's read timeout, of the call this thread is making


_read_timeout = _ReadTimeout()


def _note_read_timeout(context: Any = None, **_kwargs: Any) -> None:
    """botocore's `before-call`: the calling client's read timeout, which a socket would enforce."""
    config = (context or {}).get("client_config")
    _read_timeout.seconds = getattr(config, "read_timeout", None)


def _send(request: Any, **_kwargs: Any) -> Any:
    """botocore's `before-send`: None lets botocore use the network; a response ends the call here."""
    parts = urlsplit(request.url)
    app = _routes.get(parts.netloc)
    if app is None:
        return None
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415
    from botocore.compat import HTTPHeaders  # noqa: PLC0415
    from botocore.exceptions import ReadTimeoutError  # noqa: PLC0415

    crash_point(after_send=False)
    _thread_calls.made += 1
    read_timeout, started = _read_timeout.seconds, time.monotonic()
    with serving_elsewhere():  # the emulator is another process: the caller's crash plan is not its own
        status, headers, body = _call(app, request, parts)
    _read_timeout.seconds = read_timeout  # as it was before the calls a served invocation made
    if read_timeout is not None and time.monotonic() - started > read_timeout:
        # What the socket would have said: the call was served, its answer came too late (and botocore
        # may send it again, as it does after a timeout in AWS).
        raise ReadTimeoutError(endpoint_url=request.url)
    crash_point(after_send=True)
    answer_headers = HTTPHeaders()
    for name, value in headers:
        answer_headers[name] = value
    return AWSResponse(request.url, status, answer_headers, _Body(body))


def _request_body(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return bytes(body.read())  # a file-like body (an upload, an aws-chunked stream)


def _add_headers(environ: dict[str, Any], headers: Any) -> None:
    """The headers as the emulator's HTTP server passes them on (`MotoRequestHandler.make_environ`): a
    name with an underscore is dropped unless it is S3 metadata, whose spelling is kept. The length is
    the whole body's, which is already here (no `Transfer-Encoding`)."""
    from moto.core.request import (  # noqa: PLC0415
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    given = [
        (name, value.decode() if isinstance(value, bytes) else str(value)) for name, value in headers.items()
    ]
    dashed = {environ_key_for_header(name) for name, _ in given if "_" not in name}
    preserved: dict[str, str] = {}
    for name, text in given:
        key = environ_key_for_header(name)
        if key in ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
            continue
        if "_" in name:  # never standing in for the dashed name
            if not should_preserve_original_header_name(name) or key in dashed:
                continue
            preserved.setdefault(key, name)
        environ[key] = text
    environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = preserved


def _call(app: WsgiApp, request: Any, parts: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    body = _request_body(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # As a WSGI server gives them: the path decoded (as latin-1 text of its UTF-8 bytes), and raw.
        "PATH_INFO": unquote(parts.path or "/").encode().decode("latin-1"),
        "RAW_URI": f"{parts.path}?{parts.query}" if parts.query else parts.path,
        "REQUEST_URI": f"{parts.path}?{parts.query}" if parts.query else parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    _add_headers(environ, request.headers)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
        answer["status"] = int(status.split(" ", 1)[0])
        answer["headers"] = headers
        return lambda _data: None  # the legacy write(): the emulator returns its body instead

    try:
        chunks = app(environ, start_response)
    except Exception:  # what the HTTP server answers when the application fails
        log.exception("the emulator failed on %s %s", request.method, parts.path)
        return 500, [("Content-Type", "text/plain")], b"Internal Server Error"
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answer["status"], answer["headers"], data
