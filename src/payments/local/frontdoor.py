"""The HTTP front door: what API Gateway (HTTP API, payload format 2.0) does in front of the functions.

It matches a request to a route of the template, builds the v2 event, invokes the function's real
handler, and turns the handler's answer back into HTTP, including API Gateway's own answers (404 for
no route, 413 over 10 MB, 500 when the function fails). Local-only paths are served beside it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from payments.local import in_process
from payments.local.deployed import Authorizer, Route
from payments.local.emulator import ACCOUNT_ID, REGION
from payments.local.invoker import LocalLambda

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
INTERNAL_ERROR = b'{"message":"Internal Server Error"}'
UNAUTHORIZED = b'{"message":"Unauthorized"}'
FORBIDDEN = b'{"message":"Forbidden"}'
MAX_CACHED_AUTHORIZATIONS = 10_000
TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True, slots=True)
class LocalRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes


# A local-only endpoint (under /_local/, /healthz) answers (status, JSON body).
LocalEndpoint = Callable[[LocalRequest], tuple[int, Any]]


class CompiledRoute:
    def __init__(self, route: Route) -> None:
        self.route = route
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
        pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\+\\\}", r"(?P<\1>.+)", pattern)
        self.regex = re.compile(f"^{pattern}$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in {method, "ANY"}:
            return None
        found = self.regex.match(path)
        return found.groupdict() if found else None


def build_event(
    *,
    route: Route,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes,
    path_parameters: Mapping[str, str],
    source_ip: str,
    api_id: str,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as Lambda receives it."""
    lowered: dict[str, str] = {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    query: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = lowered.get("content-type", "")
    is_text = not body or content_type.startswith(TEXT_TYPES)
    if is_text:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            is_text = False  # bytes that are not UTF-8 go base64-encoded, whatever the content type says
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = text if is_text else base64.b64encode(body).decode()
    return event


STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def static_file(directory: Path, relative: str) -> tuple[int, dict[str, str], bytes]:
    """A file of `directory` (index.html for the directory itself); nothing outside it."""
    name = relative.strip("/") or "index.html"
    path = (directory / name).resolve()
    if not path.is_relative_to(directory.resolve()) or not path.is_file() or path.suffix not in STATIC_TYPES:
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
    return 200, {"content-type": STATIC_TYPES[path.suffix], "cache-control": "no-cache"}, path.read_bytes()


def static_response(
    static: Mapping[str, Path], path: str, query: str = ""
) -> tuple[int, dict[str, str], bytes] | None:
    """The answer of a static directory (URL prefix -> directory), or None for a path under none. The
    prefix itself (`/console`, as `payments local up` prints it) redirects to the directory
    (`/console/`, the query kept), as a web server does: the page's relative links (console.css,
    console.js) then resolve under it rather than at the root."""
    for prefix, directory in static.items():
        if path == prefix:
            location = f"{prefix}/?{query}" if query else f"{prefix}/"
            return 301, {"location": location, "content-type": "text/plain; charset=utf-8"}, b""
        if path.startswith(prefix + "/"):
            return static_file(directory, path.removeprefix(prefix))
    return None


def http_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Payload 2.0 response rules: a dict with statusCode is used as is; anything else is JSON 200."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        for cookie in result.get("cookies") or []:
            headers.setdefault("set-cookie", cookie)
        return int(result["statusCode"]), headers, body
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


Refusal = tuple[int, dict[str, str], bytes]


class RouteAuthorizers:
    """The API's Lambda authorizers, applied as API Gateway applies them (simple responses)."""

    def __init__(
        self, invoker: LocalLambda, *, api_id: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._invoker = invoker
        self._api_id = api_id
        self._clock = clock
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def check(self, authorizer: Authorizer, event: dict[str, Any]) -> tuple[Refusal | None, dict[str, Any]]:
        """401 without the identity headers, the authorizer's answer cached per their values, 403 when
        it says no, 500 when it fails; else its context, for the function's event."""
        identity = tuple(event["headers"].get(header, "") for header in authorizer.identity_headers)
        if not all(identity):
            return (401, {"content-type": "application/json"}, UNAUTHORIZED), {}
        key = (authorizer.function_name, identity)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            answer = cached[1]
        else:
            method, _, path = event["routeKey"].partition(" ")
            api = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self._api_id}"
            request = {
                **event,
                "type": "REQUEST",
                "identitySource": list(identity),
                "routeArn": f"{api}/$default/{method}{path}",
            }
            result = self._invoker.invoke(authorizer.function_name, request)
            if result.error or not isinstance(result.payload, dict):
                return (500, {"content-type": "application/json"}, INTERNAL_ERROR), {}
            answer = result.payload
            with self._lock:
                if len(self._cache) >= MAX_CACHED_AUTHORIZATIONS:
                    self._cache.clear()
                self._cache[key] = (now + authorizer.cache_seconds, answer)
        if answer.get("isAuthorized") is not True:
            return (403, {"content-type": "application/json"}, FORBIDDEN), {}
        return None, dict(answer.get("context") or {})


class _Server(ThreadingHTTPServer):
    # The socket's listen backlog: socketserver's default of 5 resets connections that arrive
    # together (20 clients opening theirs at once), which an API Gateway never does.
    request_queue_size = 512
    daemon_threads = True


class FrontDoor:
    def __init__(
        self,
        invoker: LocalLambda,
        routes: list[Route],
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        api_id: str = "local",
        local_endpoints: Mapping[str, LocalEndpoint] | None = None,
        static: Mapping[str, Path] | None = None,
    ) -> None:
        self.invoker = invoker
        self.static = dict(static or {})  # URL prefix (e.g. /console) -> a directory of files
        self.routes = [CompiledRoute(route) for route in routes]
        self.api_id = api_id
        self.local_endpoints = dict(local_endpoints or {})
        self._server = _Server((host, port), self._handler_class())
        self._authorizers = RouteAuthorizers(invoker, api_id=api_id)

    def set_routes(self, routes: list[Route]) -> None:
        self.routes = [CompiledRoute(route) for route in routes]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
        source_ip: str,
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path = parts.path
        served = static_response(self.static, path, parts.query)
        if served is not None:
            return served
        endpoint = self.local_endpoints.get(path) or next(
            (
                handler
                for prefix, handler in self.local_endpoints.items()
                if prefix.endswith("/") and path.startswith(prefix)
            ),
            None,
        )
        if endpoint is not None:
            status, payload = endpoint(LocalRequest(method, path, dict(parse_qsl(parts.query)), body))
            return status, {"content-type": "application/json"}, json.dumps(payload).encode()
        for compiled in self.routes:
            parameters = compiled.match(method, path)
            if parameters is None:
                continue
            event = build_event(
                route=compiled.route,
                method=method,
                raw_path=path,
                raw_query=parts.query,
                headers=headers,
                body=body,
                path_parameters=parameters,
                source_ip=source_ip,
                api_id=self.api_id,
            )
            if compiled.route.authorizer is not None:
                refused, context = self._authorizers.check(compiled.route.authorizer, event)
                if refused is not None:
                    return refused
                event["requestContext"]["authorizer"] = {"lambda": context}
            result = self.invoker.invoke(compiled.route.function_name, event)
            if result.error:
                return 500, {"content-type": "application/json"}, INTERNAL_ERROR
            return http_response(result.payload)
        return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        front_door = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "payments-local"
            disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the functions log what matters."""

            def _serve(self) -> None:
                started, calls_before = time.perf_counter(), in_process.calls_on_this_thread()
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_PAYLOAD_BYTES:
                    self._send(
                        413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
                    )
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, payload = front_door.dispatch(
                        self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                    )
                except Exception:
                    logging.getLogger(__name__).exception(
                        "front door failed on %s %s", self.command, self.path
                    )
                    status, headers, payload = 500, {"content-type": "application/json"}, INTERNAL_ERROR
                headers["x-local-duration-ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
                # The request's own AWS calls (its functions', not those it set off in the background).
                headers["x-local-aws-calls"] = str(in_process.calls_on_this_thread() - calls_before)
                self._send(status, headers, payload)

            def _send(self, status: int, headers: Mapping[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def __getattr__(self, name: str) -> Any:
                # Every method reaches the routes, as at API Gateway: one no route takes is a 404, not
                # http.server's 501 (TRACE, QUERY or any other token a client sends).
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

        return Handler
