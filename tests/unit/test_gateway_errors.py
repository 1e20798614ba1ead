"""HttpGateway's reading of transport failures, with no sockets: urllib3's exceptions built as urllib3
raises them (with `retries=False`: as they are, `from` the socket error), through a pool that raises or
answers from a script. Only a call whose every attempt failed to connect is ProcessorUnreachable; the
same failures on a real loopback are in tests/integration/test_gateway_client.py."""

from __future__ import annotations

import socket
import ssl
from collections import deque
from collections.abc import Callable
from http.client import RemoteDisconnected
from typing import Any, TypeVar

import pytest
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from payments.adapters.gateway_client import HttpGateway, connection_never_made
from payments.domain.errors import ProcessorUnreachable, UpstreamUnavailable
from payments.domain.money import Money
from payments.service.ports import GatewayApproved

HOST = "gateway.test"
URL = f"http://{HOST}:8443"
PATH = "/v1/authorizations"

E = TypeVar("E", bound=BaseException)


def caused(error: E, by: BaseException) -> E:
    """`error` as raised `from` `by`."""
    error.__cause__ = by
    return error


# --- urllib3's failures, as HTTPConnection._new_conn and HTTPConnectionPool.urlopen raise them --------


def refused() -> NewConnectionError:
    conn = HTTPConnection(HOST, 8443)
    cause = ConnectionRefusedError(111, "Connection refused")
    return caused(NewConnectionError(conn, f"Failed to establish a new connection: {cause}"), cause)


def unresolved() -> NameResolutionError:
    cause = socket.gaierror(-2, "Name or service not known")
    return caused(NameResolutionError(HOST, HTTPConnection(HOST, 8443), cause), cause)


def connect_timed_out() -> ConnectTimeoutError:
    conn = HTTPConnection(HOST, 8443)
    message = f"Connection to {HOST} timed out. (connect timeout=0.5)"
    return caused(ConnectTimeoutError(conn, message), TimeoutError("timed out"))


def read_timed_out() -> ReadTimeoutError:
    pool = HTTPConnectionPool(HOST, 8443)
    return caused(
        ReadTimeoutError(pool, PATH, "Read timed out. (read timeout=1.0)"), TimeoutError("timed out")
    )


def reset() -> ProtocolError:
    return ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))


def disconnected() -> ProtocolError:
    return ProtocolError(
        "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")
    )


def bad_certificate() -> SSLError:
    return SSLError(
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    )


def proxy_refused() -> ProxyError:
    return ProxyError("Unable to connect to proxy", refused())


def retried_then_refused() -> MaxRetryError:
    """urllib3's own retries give up inside one call: what its earlier tries met is not told."""
    error = refused()
    return caused(MaxRetryError(HTTPConnectionPool(HOST, 8443), PATH, error), error)


NEVER_CONNECTED: list[Callable[[], Exception]] = [refused, unresolved, connect_timed_out]
MAYBE_RECEIVED: list[Callable[[], Exception]] = [
    read_timed_out,
    reset,
    disconnected,
    bad_certificate,
    proxy_refused,
    retried_then_refused,
]


@pytest.mark.parametrize("failure", NEVER_CONNECTED, ids=lambda make: make.__name__)
def test_a_connection_never_made_proves_the_request_never_left(failure: Callable[[], Exception]) -> None:
    assert connection_never_made(failure())


@pytest.mark.parametrize("failure", MAYBE_RECEIVED, ids=lambda make: make.__name__)
def test_a_failure_after_connecting_proves_nothing(failure: Callable[[], Exception]) -> None:
    assert not connection_never_made(failure())


def test_nothing_is_not_a_connection_never_made() -> None:
    assert not connection_never_made(None)
    assert not connection_never_made(ConnectionRefusedError(111, "Connection refused"))  # not urllib3's


# --- the retry loop, over a scripted pool ------------------------------------------------------------

Step = Callable[[], Exception] | int  # a failure to raise, or the HTTP status to answer


class ScriptedPool(urllib3.PoolManager):
    """Raises or answers each request from the script, in order; `asked` counts the requests."""

    def __init__(self, *steps: Step) -> None:
        super().__init__()
        self.steps: deque[Step] = deque(steps)
        self.asked = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        assert kwargs["retries"] is False  # what the gateway relies on to see each attempt's own error
        self.asked += 1
        step = self.steps.popleft()
        if not isinstance(step, int):
            raise step()
        body = b'{"id": "auth_1", "status": "approved"}' if step == 200 else b'{"error": {}}'
        return urllib3.HTTPResponse(body=body, status=step, preload_content=True)


def gateway(pool: ScriptedPool) -> HttpGateway:
    return HttpGateway(URL, max_attempts=len(pool.steps), backoff_seconds=0.0, pool=pool)


def authorize(client: HttpGateway) -> Any:
    return client.authorize(
        idempotency_key="pi_1:authorize",
        amount=Money.of(1000, "USD"),
        payment_method="pm_card_visa",
        reference="pi_1",
    )


def test_every_attempt_refused_is_processor_unreachable() -> None:
    pool = ScriptedPool(refused, refused, refused)

    with pytest.raises(ProcessorUnreachable, match="never received the request") as raised:
        authorize(gateway(pool))

    assert raised.value.upstream == "gateway"
    assert "3 attempt(s)" in raised.value.message
    assert pool.asked == 3


def test_any_mix_of_connections_never_made_is_processor_unreachable() -> None:
    pool = ScriptedPool(unresolved, connect_timed_out, refused)

    with pytest.raises(ProcessorUnreachable):
        authorize(gateway(pool))


@pytest.mark.parametrize("failure", MAYBE_RECEIVED, ids=lambda make: make.__name__)
@pytest.mark.parametrize("position", [0, 1, 2], ids=["first", "second", "last"])
def test_one_attempt_that_may_have_arrived_leaves_it_unavailable(
    failure: Callable[[], Exception], position: int
) -> None:
    # Given refusals on every attempt but one, which failed after the connection was made
    steps: list[Step] = [refused, refused, refused]
    steps[position] = failure
    # When the gateway gives up
    with pytest.raises(UpstreamUnavailable) as raised:
        authorize(gateway(ScriptedPool(*steps)))
    # Then it may have received the request: not a failure that allows another processor
    assert not isinstance(raised.value, ProcessorUnreachable)
    assert raised.value.upstream == "gateway"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_answer_then_refusals_leaves_it_unavailable(status: int) -> None:
    pool = ScriptedPool(status, refused, refused)

    with pytest.raises(UpstreamUnavailable, match=r"3 attempt\(s\) \(NewConnectionError\)") as raised:
        authorize(gateway(pool))

    assert not isinstance(raised.value, ProcessorUnreachable)  # the last failure alone proves nothing


def test_refusals_then_an_answer_is_the_answer() -> None:
    pool = ScriptedPool(refused, unresolved, 200)

    assert authorize(gateway(pool)) == GatewayApproved("auth_1")
    assert pool.asked == 3


def test_each_call_is_judged_on_its_own_attempts() -> None:
    # Given one call that got an answer, then a call refused on every attempt
    pool = ScriptedPool(503, 503, refused, refused)
    client = HttpGateway(URL, max_attempts=2, backoff_seconds=0.0, pool=pool)
    with pytest.raises(UpstreamUnavailable) as first:
        authorize(client)
    # Then the first may have arrived, and the second provably did not
    assert not isinstance(first.value, ProcessorUnreachable)
    with pytest.raises(ProcessorUnreachable):
        authorize(client)
