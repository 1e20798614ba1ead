"""HttpGateway against the sandbox gateway over real HTTP on localhost: outcomes, retries, timeouts,
idempotency under concurrency, and the mapping of refusals to domain errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from payments.adapters.gateway_client import HttpGateway
from payments.domain.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    InvalidState,
    NotFound,
    UpstreamUnavailable,
)
from payments.domain.money import Money
from payments.gateway.server import SandboxGatewayServer
from payments.service.ports import GatewayApproved, GatewayOutcome, GatewayResult

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


def test_nothing_listening_is_unavailable_after_bounded_attempts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = HttpGateway(f"http://127.0.0.1:{port}", max_attempts=2, backoff_seconds=0.01)

    with pytest.raises(UpstreamUnavailable):
        authorize(client)


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
