"""Outages of the sandbox gateway over real sockets: while down its port refuses connections (the one
failure that proves a request never reached the processor), pooled keep-alive connections are dropped,
a request being served still gets its answer, and it comes back on the same URL with its state."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
import urllib3

from payments.adapters.gateway_client import HttpGateway
from payments.domain.errors import UpstreamUnavailable
from payments.domain.money import Money
from payments.gateway.sandbox import DOWN
from payments.gateway.server import RandomOutages, SandboxGatewayServer
from payments.service.ports import GatewayApproved, GatewayResult

pytestmark = pytest.mark.enable_socket


@pytest.fixture
def server() -> Iterator[SandboxGatewayServer]:
    with SandboxGatewayServer(stall_seconds=0.5) as running:
        yield running


@pytest.fixture
def client(server: SandboxGatewayServer) -> HttpGateway:
    return HttpGateway(server.url, read_timeout=2.0, max_attempts=2, backoff_seconds=0.01)


def address(server: SandboxGatewayServer) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def authorize(client: HttpGateway, key: str) -> GatewayResult:
    return client.authorize(
        idempotency_key=key, amount=Money.of(1000, "USD"), payment_method="pm_card_visa", reference=key
    )


def assert_refused(server: SandboxGatewayServer) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address(server), timeout=1.0).close()


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def test_a_down_gateway_refuses_connections_and_comes_back_on_the_same_url(
    server: SandboxGatewayServer, client: HttpGateway
) -> None:
    # Given a client with a pooled keep-alive connection to the gateway
    assert isinstance(authorize(client, "pi_1"), GatewayApproved)
    url, requests = server.url, server.sandbox.stats().requests

    # When the gateway goes down
    server.go_down()

    # Then new connections are refused, and the pooled one is not reused: nothing reaches the gateway
    assert server.is_down
    assert server.url == url
    assert_refused(server)
    with pytest.raises(UpstreamUnavailable):
        authorize(client, "pi_2")
    assert server.sandbox.stats().requests == requests

    # When it comes back, the same client on the same URL is served again
    server.come_up()
    assert not server.is_down
    assert server.url == url
    assert isinstance(authorize(client, "pi_2"), GatewayApproved)


def test_repeated_outages_keep_the_gateway_state(server: SandboxGatewayServer, client: HttpGateway) -> None:
    # Given an authorization made before any outage
    approved = authorize(client, "pi_1")
    assert isinstance(approved, GatewayApproved)

    for _ in range(3):
        # When the gateway goes down and comes back
        with server.outage():
            assert_refused(server)
            with pytest.raises(UpstreamUnavailable):
                client.open_authorizations(reference="pi_1")

        # Then it still knows the authorization, and serves new calls
        assert client.open_authorizations(reference="pi_1") == [approved.reference]
    assert isinstance(authorize(client, "pi_2"), GatewayApproved)
    assert server.sandbox.stats().authorizations == 2


def test_going_down_and_up_is_idempotent_and_counted(server: SandboxGatewayServer) -> None:
    # Given a gateway that is up: coming up again changes nothing
    server.come_up()
    assert server.outage_stats().outages == 0

    # When it is taken down twice, held down a moment, and brought up twice
    server.go_down()
    server.go_down()
    time.sleep(0.05)
    server.come_up()
    server.come_up()

    # Then that was one outage, of at least the time it was held down
    stats = server.outage_stats()
    assert stats.outages == 1
    assert stats.seconds_down >= 0.05
    assert stats.as_dict() == {"outages": 1, "secondsDown": round(stats.seconds_down, 3)}
    response = urllib3.request("GET", f"{server.url}/healthz", retries=False)
    assert response.status == 200


def test_a_request_being_served_is_answered_and_its_connection_closed(server: SandboxGatewayServer) -> None:
    # Given a request the gateway is serving (DOWN stalls its first attempt for stall_seconds)
    host, port = address(server)
    connection = http.client.HTTPConnection(host, port, timeout=5.0)
    body = json.dumps({"amount": 1000, "currency": "USD", "paymentMethod": DOWN, "reference": "pi_1"})
    requests = server.sandbox.stats().requests
    headers = {"Content-Type": "application/json", "Idempotency-Key": "pi_1"}
    connection.request("POST", "/v1/authorizations", body=body, headers=headers)
    wait_for(lambda: server.sandbox.stats().requests > requests)

    # When the gateway goes down meanwhile
    server.go_down()

    # Then the request still gets its answer, on a connection that is not kept alive
    response = connection.getresponse()
    response.read()
    assert response.status == 504
    assert response.getheader("Connection") == "close"
    assert_refused(server)
    connection.close()


def test_random_outages_take_the_gateway_down_and_leave_it_up_when_stopped(
    server: SandboxGatewayServer,
) -> None:
    # Given outages at every draw
    outages = RandomOutages(server, rate=1.0, seed=7).start()
    try:
        # Then the gateway goes down within a draw or two
        wait_for(lambda: server.is_down, seconds=3.0)
        assert_refused(server)
    finally:
        # And when they are stopped it is up again
        outages.stop()
    assert not server.is_down
    assert server.outage_stats().outages >= 1
    socket.create_connection(address(server), timeout=1.0).close()


def test_random_outages_refuse_a_rate_outside_0_to_1(server: SandboxGatewayServer) -> None:
    for rate in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="outage rate"):
            RandomOutages(server, rate=rate, seed=1)


def test_outages_from_many_threads_leave_one_consistent_server(server: SandboxGatewayServer) -> None:
    # Given many threads taking the gateway down and up at once
    def flap() -> None:
        for _ in range(3):
            server.go_down()
            server.come_up()

    threads = [threading.Thread(target=flap) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then it ends up serving on its port
    assert not server.is_down
    assert 1 <= server.outage_stats().outages <= 12
    response = urllib3.request("GET", f"{server.url}/healthz", retries=False)
    assert response.status == 200
