"""API keys over HTTP: every /v1 route but the webhook needs one; API Gateway's own 401 and 403 (the
local front door applies the template's authorizer as API Gateway does); a refused request writes
nothing; an operator makes and revokes keys with `payments api-keys`."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tests.e2e.conftest import Api, RunningStack
from tests.e2e.test_webhooks import dispute, send


def raw(api: Api, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """A request with exactly these headers (no API key unless given)."""
    data = None if body is None else json.dumps(body).encode()
    request = Request(f"{api.base_url}{path}", data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310 (the local stack)
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


ROUTES = [
    ("POST", "/v1/payment-intents"),
    ("GET", "/v1/payment-intents/pi_missing"),
    ("POST", "/v1/payment-intents/pi_missing/capture"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/ledger/balances"),
    ("GET", "/v1/settlements/reports"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_key_is_401_and_an_unknown_key_403(api: Api, method: str, path: str) -> None:
    assert raw(api, method, path, {}) == (401, {"message": "Unauthorized"})
    assert raw(api, method, path, {}, authorization="Bearer sk_local_not_a_key") == (
        403,
        {"message": "Forbidden"},
    )
    assert raw(api, method, path, {}, authorization="sk_local_sandbox") == (403, {"message": "Forbidden"})


def test_a_refused_request_writes_nothing(api: Api) -> None:
    customer = f"cus_auth_{uuid.uuid4().hex[:8]}"
    body = {
        "amount": 1_000,
        "currency": "USD",
        "customerId": customer,
        "merchantId": "mer_e2e",
        "paymentMethod": "pm_card_visa",
    }
    assert raw(api, "POST", "/v1/payment-intents", body)[0] == 401
    assert raw(api, "POST", "/v1/payment-intents", body, authorization="Bearer sk_local_wrong")[0] == 403
    listed = api.list_intents(customer)
    assert (listed.status, listed.body["data"]) == (200, [])


def test_the_webhook_needs_no_key_only_its_signature(api: Api) -> None:
    intent_id = api.captured(2_000)
    status, answer = send(api, dispute("dispute.created", intent_id))
    assert (status, answer["result"]) == (200, "applied")


def test_health_and_the_local_endpoints_need_no_key(api: Api) -> None:
    assert raw(api, "GET", "/healthz") == (200, {"status": "ok"})
    assert raw(api, "GET", "/_local/queues")[0] == 200


def test_an_operator_makes_a_key_that_works_and_revokes_it(api: Api, stack: RunningStack) -> None:
    made = stack.cli("api-keys", "create", "--merchant", "mer_e2e")
    assert made.returncode == 0, made.stderr
    key_id, _, secret = made.stdout.splitlines()[0].partition(" for mer_e2e: ")
    assert secret.startswith("sk_local_")
    assert key_id == f"sk_local_…{secret[-4:]}"
    created = raw(api, "GET", "/v1/customers/cus_1/payment-intents", authorization=f"Bearer {secret}")
    assert created[0] == 200
    # Revoked before another use shows it (the authorizer's answers are cached per key for 5 minutes).
    other = stack.cli("api-keys", "create", "--merchant", "mer_e2e")
    other_secret = other.stdout.splitlines()[0].rpartition(": ")[2]
    revoked = stack.cli("api-keys", "revoke", other_secret)
    assert revoked.returncode == 0, revoked.stderr
    assert raw(api, "GET", "/v1/customers/cus_1/payment-intents", authorization=f"Bearer {other_secret}") == (
        403,
        {"message": "Forbidden"},
    )
    assert stack.cli("api-keys", "revoke", "sk_local_…zzzz").returncode == 1


def test_an_operator_makes_a_platform_key_that_reads_the_platforms_books(
    api: Api, stack: RunningStack
) -> None:
    made = stack.cli("api-keys", "create", "--platform")
    assert made.returncode == 0, made.stderr
    assert " for the platform (any merchant): sk_local_" in made.stdout
    secret = made.stdout.splitlines()[0].rpartition(": ")[2]
    assert raw(api, "GET", "/v1/ledger/balances", authorization=f"Bearer {secret}")[0] == 200
    assert stack.cli("api-keys", "revoke", secret).returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ("api-keys", "create"),  # a key acts for a merchant or for the platform: one must be said
        ("api-keys", "create", "--merchant", "mer_a", "--platform"),
        ("api-keys", "create", "--merchant", "mer a#1"),
        ("api-keys", "create", "--merchant", ""),
    ],
)
def test_a_key_for_no_one_or_for_a_malformed_merchant_is_refused(
    stack: RunningStack, args: tuple[str, ...]
) -> None:
    made = stack.cli(*args)
    assert made.returncode == 2, made.stdout
    assert "sk_local_" not in made.stdout
