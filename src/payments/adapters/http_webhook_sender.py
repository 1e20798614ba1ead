"""Merchant webhook deliveries over HTTP(S), with urllib3, to the address that was checked.

Before each attempt the URL's host is resolved and every address it resolves to is checked
(`check_addresses`: public only, loopback only where the local stack allows it); the connection then
goes to that checked address, never to a second lookup of the name, so a DNS answer switched between
the check and the connection (DNS rebinding) cannot point a delivery inside. For https the TLS
handshake still names the URL's host (SNI) and the certificate is checked against that name.

No redirect is followed (a 3xx is an answer, and a failure); one timeout bounds the connection and the
answer together; at most 4 KB of the answer's body is read, and none of it is kept or logged. Whatever
goes wrong with the receiver is an `Answer` without a status code, never an exception.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, Final

import urllib3
from urllib3 import exceptions as urllib3_errors

from payments.domain.errors import InvalidRequest
from payments.domain.merchant_webhooks import Destination, check_addresses, check_url
from payments.service.webhook_ports import Answer, WebhookSender

MAX_ANSWER_BYTES: Final = 4096
USER_AGENT: Final = "payments-webhooks/1"

Resolve = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to for a TCP connection, in the resolver's order."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class UrllibWebhookSender(WebhookSender):
    def __init__(
        self,
        *,
        timeout_seconds: float,
        allow_loopback: bool,
        resolver: Resolve = resolve,
        ca_certs: str | None = None,  # the system's trust store unless given (tests' own CA)
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_loopback = allow_loopback
        self._resolve = resolver
        self._ca_certs = ca_certs

    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        started = time.monotonic()
        try:
            destination = check_url(url, allow_loopback=self._allow_loopback)
            address = check_addresses(
                self._resolve(destination.host, destination.port), allow_loopback=self._allow_loopback
            )
        except InvalidRequest as refused:
            return Answer(None, _ms(started), error=f"not sent: {refused.message}")
        except OSError as error:  # socket.gaierror: the name does not resolve
            return Answer(None, _ms(started), error=f"the host does not resolve: {_short(error)}")
        try:
            status = self._post(destination, address, headers, body, deadline=started + self._timeout)
        except urllib3_errors.HTTPError as error:
            return Answer(None, _ms(started), error=_why(error, self._timeout))
        except OSError as error:
            return Answer(None, _ms(started), error=f"connection failed: {_short(error)}")
        redirect = 300 <= status < 400
        return Answer(status, _ms(started), error="a redirect, not followed" if redirect else None)

    def _post(
        self, destination: Destination, address: str, headers: dict[str, str], body: bytes, *, deadline: float
    ) -> int:
        pool = self._pool(destination, address)
        try:
            response = pool.urlopen(
                "POST",
                destination.target,
                body=body,
                headers={
                    **headers,
                    "host": _host_header(destination),
                    "user-agent": USER_AGENT,
                    "content-length": str(len(body)),
                },
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                _read_some(response, deadline)
            finally:
                response.close()
            return int(response.status)
        finally:
            pool.close()

    def _pool(self, destination: Destination, address: str) -> urllib3.HTTPConnectionPool:
        timeout = urllib3.Timeout(total=self._timeout)
        if destination.scheme == "https":
            return urllib3.HTTPSConnectionPool(
                host=address,
                port=destination.port,
                timeout=timeout,
                retries=False,
                maxsize=1,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self._ca_certs,
                assert_hostname=destination.host,
                server_hostname=destination.host,
            )
        return urllib3.HTTPConnectionPool(
            host=address, port=destination.port, timeout=timeout, retries=False, maxsize=1
        )


def _read_some(response: Any, deadline: float) -> None:
    """Read (and drop) at most MAX_ANSWER_BYTES of the answer, within what is left of the timeout: a
    receiver may answer with a whole page, or trickle, and neither may hold the worker."""
    read = 0
    while read < MAX_ANSWER_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(left)
        try:
            chunk = response.read1(MAX_ANSWER_BYTES - read)
        except (urllib3_errors.HTTPError, OSError):
            return  # the status is what counts; the rest of the answer is not ours to wait for
        if not chunk:
            return
        read += len(chunk)


def _host_header(destination: Destination) -> str:
    host = f"[{destination.host}]" if ":" in destination.host else destination.host
    default = 443 if destination.scheme == "https" else 80
    return host if destination.port == default else f"{host}:{destination.port}"


def _why(error: urllib3_errors.HTTPError, timeout: float) -> str:
    """Why nothing answered, in a few words (the receiver's own text is never part of it)."""
    if isinstance(error, urllib3_errors.MaxRetryError) and isinstance(error.reason, urllib3_errors.HTTPError):
        error = error.reason
    if isinstance(error, urllib3_errors.NewConnectionError):
        return "the connection was refused or could not be made"
    if isinstance(error, urllib3_errors.ConnectTimeoutError):
        return f"no connection within {timeout:g} s"
    if isinstance(error, urllib3_errors.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, urllib3_errors.SSLError):
        return f"TLS failed: {_short(error)}"
    if isinstance(error, urllib3_errors.ProtocolError):
        return "the connection broke before an answer"
    return f"no answer: {type(error).__name__}"


def _short(error: BaseException, limit: int = 120) -> str:
    return str(error)[:limit]


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
