"""The local front door's Lambda authorizers, as API Gateway applies them: 401 without the identity
header, the authorizer's answer cached per header value, 403 when it says no, 500 when it fails."""

from __future__ import annotations

from typing import Any

import pytest

from payments.local.deployed import Authorizer, Route
from payments.local.frontdoor import RouteAuthorizers, build_event
from payments.local.invoker import FunctionSpec, LocalLambda

seen: list[dict[str, Any]] = []


def allow_good(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seen.append(event)
    if event["headers"].get("authorization") == "Bearer good":
        return {"isAuthorized": True, "context": {"merchantId": "mer_1"}}
    return {"isAuthorized": False}


def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("the key table is unreachable")


KEYS = Authorizer("allow-good", ("authorization",), cache_seconds=300)
ROUTE = Route("GET", "/v1/payment-intents/{id}", "get-intent", authorizer=KEYS)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def authorizers(clock: Clock) -> RouteAuthorizers:
    seen.clear()
    invoker = LocalLambda()
    for name in ("allow_good", "broken"):
        invoker.register(FunctionSpec(name, name.replace("_", "-"), f"{__name__}.{name}"))
    return RouteAuthorizers(invoker, api_id="local", clock=clock)


def event(**headers: str) -> dict[str, Any]:
    return build_event(
        route=ROUTE,
        method="GET",
        raw_path="/v1/payment-intents/pi_1",
        raw_query="",
        headers=headers,
        body=b"",
        path_parameters={"id": "pi_1"},
        source_ip="127.0.0.1",
        api_id="local",
    )


def test_no_identity_header_is_401_without_asking_the_authorizer(authorizers: RouteAuthorizers) -> None:
    for request in (event(), event(authorization="")):
        refused, _ = authorizers.check(KEYS, request)
        assert refused is not None
        assert (refused[0], refused[2]) == (401, b'{"message":"Unauthorized"}')
    assert seen == []


def test_a_key_the_authorizer_refuses_is_403(authorizers: RouteAuthorizers) -> None:
    refused, _ = authorizers.check(KEYS, event(Authorization="Bearer bad"))
    assert refused is not None
    assert (refused[0], refused[2]) == (403, b'{"message":"Forbidden"}')


def test_an_accepted_key_hands_its_context_on(authorizers: RouteAuthorizers) -> None:
    refused, context = authorizers.check(KEYS, event(Authorization="Bearer good"))
    assert (refused, context) == (None, {"merchantId": "mer_1"})
    [asked] = seen
    assert asked["type"] == "REQUEST"
    assert asked["identitySource"] == ["Bearer good"]
    assert asked["routeArn"].endswith(":local/$default/GET/v1/payment-intents/{id}")


def test_answers_are_cached_per_key_for_the_authorizers_ttl(
    authorizers: RouteAuthorizers, clock: Clock
) -> None:
    for _ in range(3):
        authorizers.check(KEYS, event(Authorization="Bearer good"))
        authorizers.check(KEYS, event(Authorization="Bearer bad"))
    assert len(seen) == 2  # one question per key, refusals cached too
    clock.now += 301
    authorizers.check(KEYS, event(Authorization="Bearer good"))
    assert len(seen) == 3


def test_a_failing_authorizer_is_500_and_not_cached(authorizers: RouteAuthorizers) -> None:
    failing = Authorizer("broken", ("authorization",), cache_seconds=300)
    for _ in range(2):
        refused, _ = authorizers.check(failing, event(Authorization="Bearer good"))
        assert refused is not None
        assert refused[0] == 500
