"""HttpGateway against the sandbox gateway over real HTTP on localhost: outcomes, retries, timeouts,
idempotency under concurrency, and the mapping of refusals to domain errors. Transport failures on a
real loopback socket too (refused, never connected, stalled, reset), to tell the one that proves the
request never left (`ProcessorUnreachable`) from those that may follow a request received."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pytest
import urllib3

from payments.adapters.gateway_client import HttpGateway
from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    ProcessorUnreachable,
    UpstreamUnavailable,
)
from payments.domain.money import Money
from payments.gateway.server import SandboxGatewayServer
from payments.service.ports import GatewayApproved, GatewayOutcome, GatewayResult
from tests.integration.stripe_support import closed_port

pytestmark = pytest.mark.enable_socket

STALL_SECONDS = 0.3
READ_TIMEOUT = 0.2


def usd(amount: int) -> Money:
    return Money.of(amount, "USD")


def stats(server: SandboxGatewayServer) -> dict[str, Any]:
    """Read over HTTP, so the stats endpoint is exercised too."""
    response = urllib3.request("GET", f"{server.url}/_sandbox/stats", retries=False)
    assert response.status == 200
    body: dict[str, Any] = json.loads(response.data)
    return body


@pytest.fixture
def server() -> Iterator[SandboxGatewayServer]:
    with SandboxGatewayServer(stall_seconds=STALL_SECONDS) as running:
        yield running


@pytest.fixture
def client(server: SandboxGatewayServer) -> HttpGateway:
    return HttpGateway(server.url, read_timeout=READ_TIMEOUT, max_attempts=3, backoff_seconds=0.01)


def authorize(
    client: HttpGateway, method: str = "pm_card_visa", *, key: str = "pi_1:authorize"
) -> GatewayResult:
    return client.authorize(idempotency_key=key, amount=usd(1000), payment_method=method, reference="pi_1")


def test_health() -> None:
    with SandboxGatewayServer() as server:
        response = urllib3.request("GET", f"{server.url}/healthz", retries=False)
        assert response.status == 200
        assert json.loads(response.data) == {"status": "ok"}
        assert response.headers["Content-Length"] == str(len(response.data))


def test_approved(client: HttpGateway, server: SandboxGatewayServer) -> None:
    result = authorize(client)

    assert result.outcome is GatewayOutcome.APPROVED
    assert result.reference is not None
    assert result.reference.startswith("auth_")
    assert isinstance(result, GatewayApproved)
    assert stats(server)["authorizations"] == 1


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [("pm_card_declined", "generic_decline"), ("pm_card_insufficient_funds", "insufficient_funds")],
)
def test_declines(client: HttpGateway, method: str, decline_code: str) -> None:
    result = authorize(client, method)

    assert result.outcome is GatewayOutcome.DECLINED
    assert result.decline_code == decline_code
    assert result.reference is not None


def test_3ds_required_then_approved_after_the_challenge(client: HttpGateway) -> None:
    assert authorize(client, "pm_card_3ds_required").outcome is GatewayOutcome.AUTHENTICATION_REQUIRED

    passed = client.authorize(
        idempotency_key="pi_1:authorize:3ds",
        amount=usd(1000),
        payment_method="pm_card_3ds_required",
        reference="pi_1",
        three_d_secure_passed=True,
    )

    assert passed.outcome is GatewayOutcome.APPROVED


def test_flaky_is_recovered_within_three_attempts(client: HttpGateway, server: SandboxGatewayServer) -> None:
    result = authorize(client, "pm_card_gateway_flaky")

    assert result.outcome is GatewayOutcome.APPROVED
    counters = stats(server)
    assert counters["requests"] == 3
    assert counters["authorizations"] == 1


@pytest.mark.parametrize("max_attempts", [2, 3])
def test_down_gives_up_after_exactly_max_attempts(server: SandboxGatewayServer, max_attempts: int) -> None:
    client = HttpGateway(
        server.url, read_timeout=READ_TIMEOUT, max_attempts=max_attempts, backoff_seconds=0.01
    )

    with pytest.raises(UpstreamUnavailable) as raised:
        authorize(client, "pm_card_gateway_down")

    assert raised.value.upstream == "gateway"
    assert not isinstance(raised.value, ProcessorUnreachable)  # it received them all
    assert stats(server)["requests"] == max_attempts
    assert stats(server)["authorizations"] == 0


def test_the_read_timeout_is_honoured() -> None:
    # Given a gateway that stalls far longer than the client waits
    with SandboxGatewayServer(stall_seconds=3.0) as server:
        client = HttpGateway(server.url, read_timeout=0.2, max_attempts=1)
        started = time.monotonic()
        # When the first (stalled) attempt is the only one allowed
        with pytest.raises(UpstreamUnavailable, match="1 attempt"):
            authorize(client, "pm_card_gateway_down")
        # Then the client gave up after its read timeout, not after the stall
        assert time.monotonic() - started < 1.0


# --- transport failures: which prove the request never left -----------------------------------------


class TcpServer:
    """A loopback TCP server that reads each request's head and then never answers ("stall"), resets
    the connection ("reset"), or never answers and stops listening, so that every later connection is
    refused ("stall, then refuse"). `requests` counts the requests that arrived."""

    def __init__(self, after: Literal["stall", "reset", "stall, then refuse"]) -> None:
        self._after = after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TcpServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for connection in self._held:
            connection.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(2.0)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and (chunk := connection.recv(65536)):
                    head += chunk
            self.requests += 1
            if self._after == "reset":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                connection.close()  # with a zero linger: a reset, not a clean close
                continue
            self._held.append(connection)
            if self._after == "stall, then refuse":
                self._listener.close()
                return


@contextlib.contextmanager
def full_backlog() -> Iterator[int]:
    """A loopback port whose listener's accept queue is full: the kernel drops a new connection's SYN,
    so connecting times out (the connection is never made)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued: list[socket.socket] = []
        try:
            for _ in range(64):
                probe = socket.socket()
                probe.settimeout(0.2)
                try:
                    probe.connect(("127.0.0.1", port))
                except TimeoutError:
                    probe.close()
                    break
                queued.append(probe)
            else:
                raise RuntimeError("the listener's accept queue never filled")
            yield port
        finally:
            for probe in queued:
                probe.close()


def test_nothing_listening_is_processor_unreachable_after_bounded_attempts() -> None:
    with closed_port() as port:
        client = HttpGateway(f"http://127.0.0.1:{port}", max_attempts=2, backoff_seconds=0.01)

        with pytest.raises(ProcessorUnreachable, match=r"never received .* 2 attempt") as raised:
            authorize(client)

    assert raised.value.upstream == "gateway"


def test_a_connection_never_made_is_processor_unreachable() -> None:
    with full_backlog() as port:
        client = HttpGateway(
            f"http://127.0.0.1:{port}", connect_timeout=0.1, max_attempts=2, backoff_seconds=0.01
        )
        started = time.monotonic()
        with pytest.raises(ProcessorUnreachable, match="ConnectTimeoutError"):
            authorize(client)
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("after", "failure"), [("stall", "ReadTimeoutError"), ("reset", "ProtocolError")], ids=["stall", "reset"]
)
def test_a_connection_that_took_the_request_is_unavailable_not_unreachable(
    after: Literal["stall", "reset"], failure: str
) -> None:
    with TcpServer(after) as server:
        client = HttpGateway(server.url, read_timeout=0.2, max_attempts=2, backoff_seconds=0.01)

        with pytest.raises(UpstreamUnavailable, match=failure) as raised:
            authorize(client)

        assert not isinstance(raised.value, ProcessorUnreachable)
        assert server.requests == 2  # each attempt arrived


def test_refusals_after_a_request_that_arrived_are_not_unreachable() -> None:
    # Given a gateway that takes the first request, never answers it, and then refuses connections
    with TcpServer("stall, then refuse") as server:
        client = HttpGateway(server.url, read_timeout=0.2, max_attempts=3, backoff_seconds=0.01)
        # When the first attempt times out and the retries are refused
        with pytest.raises(UpstreamUnavailable, match=r"3 attempt\(s\) \(NewConnectionError\)") as raised:
            authorize(client)
        # Then the first may have moved money: the payment must not go to another processor
        assert not isinstance(raised.value, ProcessorUnreachable)
        assert server.requests == 1


def test_a_replay_returns_the_same_authorization(client: HttpGateway, server: SandboxGatewayServer) -> None:
    first = authorize(client, key="same")
    again = authorize(client, key="same")

    assert again == first
    assert stats(server)["authorizations"] == 1


def test_concurrent_calls_with_one_key_make_one_authorization(
    client: HttpGateway, server: SandboxGatewayServer
) -> None:
    # Given 20 threads that start together and share one idempotency key
    start = threading.Barrier(20)

    def call(_: int) -> GatewayResult:
        start.wait()
        return authorize(client, key="pi_many:authorize")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))

    # Then every caller sees the one authorization the gateway made
    assert {result.reference for result in results} == {results[0].reference}
    assert all(result.outcome is GatewayOutcome.APPROVED for result in results)
    assert stats(server)["authorizations"] == 1


def test_capture_refund_and_void_through_the_client(
    client: HttpGateway, server: SandboxGatewayServer
) -> None:
    authorization_id = authorize(client, key="a1").reference
    assert authorization_id is not None

    captured = client.capture(idempotency_key="c1", authorization_id=authorization_id, amount=usd(800))
    refunded = client.refund(idempotency_key="r1", authorization_id=authorization_id, amount=usd(300))

    assert captured.outcome is GatewayOutcome.APPROVED
    assert captured.reference is not None
    assert captured.reference.startswith("cap_")
    assert refunded.reference is not None
    assert refunded.reference.startswith("re_")
    view = json.loads(urllib3.request("GET", f"{server.url}/v1/authorizations/{authorization_id}").data)
    assert (view["capturedAmount"], view["refundedAmount"], view["voided"]) == (800, 300, False)

    other = authorize(client, key="a2").reference
    assert other is not None
    voided = client.void(idempotency_key="v1", authorization_id=other)
    assert voided.outcome is GatewayOutcome.APPROVED
    assert voided.reference is not None
    assert voided.reference.startswith("void_")
    assert stats(server) | {"requests": 0} == {
        "requests": 0,
        "authorizations": 2,
        "captures": 1,
        "voids": 1,
        "refunds": 1,
        "faultsRefused": 0,
        "faultsTimedOut": 0,
        "faultsLost": 0,
    }


def test_refunds_above_the_capture_are_invalid_state(client: HttpGateway) -> None:
    authorization_id = authorize(client, key="a1").reference
    assert authorization_id is not None
    client.capture(idempotency_key="c1", authorization_id=authorization_id, amount=usd(500))
    client.refund(idempotency_key="r1", authorization_id=authorization_id, amount=usd(400))

    with pytest.raises(InvalidState):
        client.refund(idempotency_key="r2", authorization_id=authorization_id, amount=usd(101))


def test_unknown_authorization_is_not_found(client: HttpGateway, server: SandboxGatewayServer) -> None:
    with pytest.raises(NotFound):
        client.capture(idempotency_key="c1", authorization_id="auth_missing", amount=usd(100))
    assert stats(server)["requests"] == 1  # a refusal is an answer: not retried


def test_capturing_twice_is_invalid_state(client: HttpGateway) -> None:
    authorization_id = authorize(client).reference
    assert authorization_id is not None
    client.capture(idempotency_key="c1", authorization_id=authorization_id, amount=usd(100))

    with pytest.raises(InvalidState):
        client.capture(idempotency_key="c2", authorization_id=authorization_id, amount=usd(100))


def test_other_refusals_are_invalid_requests_and_not_retried(
    client: HttpGateway, server: SandboxGatewayServer
) -> None:
    with pytest.raises(InvalidRequest, match="unknown test payment method"):
        authorize(client, "pm_card_unheard_of")
    # The same key with another request is a concurrent, different movement: retryable, not retried here.
    with pytest.raises(ConcurrentUpdate, match="Idempotency-Key"):
        client.authorize(
            idempotency_key="pi_1:authorize", amount=usd(999), payment_method="pm_card_visa", reference="pi_1"
        )
    assert stats(server)["requests"] == 2


def test_lost_answers_are_recovered_by_the_retry_without_a_second_authorization(
    server: SandboxGatewayServer,
) -> None:
    client = HttpGateway(server.url, read_timeout=READ_TIMEOUT, max_attempts=8, backoff_seconds=0.001)
    faults = urllib3.request("POST", f"{server.url}/_sandbox/faults", body=b'{"rate": 0.3, "seed": 4}')
    assert faults.status == 200
    results = [authorize(client, key=f"pi_{number}:authorize") for number in range(40)]
    counted = stats(server)
    assert len({result.reference for result in results}) == 40
    assert counted["authorizations"] == 40
    assert counted["faultsLost"] > 0
    assert counted["faultsTimedOut"] > 0


def test_open_authorizations_are_the_approved_holds_not_captured_or_voided(client: HttpGateway) -> None:
    held = authorize(client, key="pi_1:authorize")
    voided = authorize(client, key="pi_1:again")
    client.void(idempotency_key="pi_1:void", authorization_id=str(voided.reference))
    captured = authorize(client, key="pi_1:third")
    client.capture(idempotency_key="pi_1:capture", authorization_id=str(captured.reference), amount=usd(1000))
    authorize(client, "pm_card_declined", key="pi_1:declined")
    assert client.open_authorizations(reference="pi_1") == [held.reference]
    assert client.open_authorizations(reference="pi_nobody") == []
