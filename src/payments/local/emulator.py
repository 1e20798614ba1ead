"""The embedded AWS emulator: moto's application, served on loopback, with every API call counted.

Handlers reach it exactly as they reach AWS, through boto3 and `AWS_ENDPOINT_URL`. Calls made in this
process are handed to the application on the caller's thread (`payments.local.in_process`); everything
else (the AWS CLI, the console, benches) reaches the same application over HTTP. The counts are what
`bench/` reports as "AWS API calls per operation": observed at the emulator, not estimated. What the
local runtime changes in moto is applied by `payments.local.moto_patches` as the emulator starts.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from payments.local import in_process

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _service(environ: dict[str, Any]) -> str:
    """The service a SigV4-signed request is for: `Credential=<key>/<date>/<region>/<service>/...`."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    _, found, rest = authorization.partition("Credential=")
    parts = rest.split("/")
    return parts[3] if found and len(parts) > 3 else "unsigned"


def _operation(environ: dict[str, Any]) -> tuple[str, str]:
    """(service, operation[:resource]) for one request, from the target header, path or form body."""
    service = _service(environ)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        operation = target.rpartition(".")[2]
        body = _peek_body(environ)
        if body.startswith(b"{") and b'"TableName"' in body:
            table = json.loads(body).get("TableName")
            return service, f"{operation}:{table}" if table else operation
        return service, operation
    path = environ.get("PATH_INFO", "")
    if "/functions/" in path and path.endswith("/invocations"):
        return service, "Invoke:" + path.split("/functions/")[1].split("/")[0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(_peek_body(environ).decode()).get("Action", [""])[0]
        return service, action or "unknown"
    method = environ.get("REQUEST_METHOD", "")
    if service == "s3":
        bucket, _, key = path.lstrip("/").partition("/")
        verbs = {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
        if key and method in verbs:
            return service, f"{verbs[method]}:{bucket}"  # one line per bucket, not per object
    return service, f"{method} {path}"


def _peek_body(environ: dict[str, Any]) -> bytes:
    """Read the body once and put it back, so the application still sees all of it."""
    cached: bytes | None = environ.get("payments.body")
    if cached is not None:
        return cached
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["payments.body"] = body
    return body


class CallCounter:
    """Counts API calls by (service, operation) as the emulator serves them; thread-safe."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            key = _operation(environ)
            with self._lock:
                self._counts[key] += 1
            return app(environ, start_response)

        return counted

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f"{service} {operation}": n for (service, operation), n in sorted(self._counts.items())}

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


class Emulator:
    """moto's application in this process: over HTTP on 127.0.0.1 and a free port (a server thread), and
    in-process to this process's own boto3 clients of that address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.calls = CallCounter()

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        from payments.local import moto_patches  # noqa: PLC0415

        moto_patches.apply()  # first: it refuses a moto version the patches were not written for
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 (moto is heavy; local only)
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The workflow engine logs every caught task failure (retries, declines) as an error; the
        # execution history keeps them, the console output should not drown in them.
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        app = self.calls.wrap(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        in_process.serve(self.port, app)

    def environment(self) -> dict[str, str]:
        """What a process needs to reach this emulator with plain boto3 (and moto's own clients)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",  # the emulator accepts any credential
            "AWS_SESSION_TOKEN": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "MOTO_PORT": str(self.port),
            "MOTO_ALLOW_NONEXISTENT_REGION": "false",
        }

    def stop(self) -> None:
        if self._server is not None:
            in_process.stop_serving(self.port)
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
