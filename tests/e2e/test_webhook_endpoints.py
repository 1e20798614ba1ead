"""Webhook endpoints over HTTP against `payments local up`: a merchant adds, reads, changes, rotates and
deletes its own endpoints; another merchant's key finds none of them; a URL or an events filter that
is refused writes nothing; the signing secret is answered twice (create, rotation) and kept only in
Secrets Manager, encrypted with the stack's data key."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Api, Reply, RunningStack

PATH = "/v1/webhook-endpoints"
SECRETS_PREFIX = "payments/webhook-secret-local/"
VIEW = {"webhookEndpointId", "url", "events", "enabled", "createdAt", "updatedAt"}


@dataclass
class Merchant:
    merchant_id: str
    api: Api

    def create(self, body: Any, *, key: str | None = None) -> Reply:
        return self.api.request("POST", PATH, body, key=key)

    def created(self, **body: Any) -> dict[str, Any]:
        reply = self.create({"url": "https://hooks.example.com/payments", **body})
        assert reply.status == 201, reply.body
        return dict(reply.body)

    def listed(self) -> list[dict[str, Any]]:
        reply = self.api.request("GET", PATH)
        assert reply.status == 200, reply.body
        return list(reply.body["data"])


@pytest.fixture(scope="module")
def merchants(stack: RunningStack) -> tuple[Merchant, Merchant]:
    suffix = uuid.uuid4().hex[:8]
    first, second = f"mer_wh_a_{suffix}", f"mer_wh_b_{suffix}"
    return Merchant(first, stack.merchant_api(first)), Merchant(second, stack.merchant_api(second))


def refused(reply: Reply, words: str) -> None:
    assert reply.status == 400, reply.body
    assert set(reply.body) == {"error"}
    assert set(reply.body["error"]) == {"code", "message"}
    assert reply.body["error"]["code"] == "invalid_request"
    assert words in reply.body["error"]["message"]


def not_found(reply: Reply, endpoint_id: str) -> None:
    assert (reply.status, reply.body) == (
        404,
        {"error": {"code": "not_found", "message": f"no webhook endpoint {endpoint_id}"}},
    )


def test_an_endpoint_from_creation_to_deletion(merchants: tuple[Merchant, Merchant]) -> None:
    owner, _ = merchants
    # Created: enabled, every type, and its secret this once
    made = owner.created()
    endpoint_id, secret = made["webhookEndpointId"], made["secret"]
    assert endpoint_id.startswith("we_")
    assert secret.startswith("whsec_")
    assert set(made) == VIEW | {"secret"}
    assert (made["events"], made["enabled"]) == (None, True)
    # Read and listed without it
    read = owner.api.request("GET", f"{PATH}/{endpoint_id}")
    assert (read.status, set(read.body)) == (200, VIEW)
    assert [found for found in owner.listed() if found["webhookEndpointId"] == endpoint_id] == [read.body]
    assert secret not in json.dumps([read.body, owner.listed()])
    # Its filter changed, then disabled, then enabled again
    changed = owner.api.request("PATCH", f"{PATH}/{endpoint_id}", {"events": ["payment.captured"]})
    assert (changed.status, changed.body["events"], changed.body["enabled"]) == (
        200,
        ["payment.captured"],
        True,
    )
    disabled = owner.api.request("PATCH", f"{PATH}/{endpoint_id}", {"enabled": False})
    assert (disabled.body["enabled"], disabled.body["disabledReason"]) == (False, "by_merchant")
    enabled = owner.api.request("PATCH", f"{PATH}/{endpoint_id}", {"enabled": True, "events": None})
    assert (enabled.status, enabled.body["enabled"], enabled.body["events"]) == (200, True, None)
    assert "disabledReason" not in enabled.body
    assert owner.api.request("GET", f"{PATH}/{endpoint_id}").body == enabled.body
    # A rotation answers a new secret
    rotated = owner.api.request("POST", f"{PATH}/{endpoint_id}/rotate-secret")
    assert rotated.status == 200, rotated.body
    assert rotated.body["secret"].startswith("whsec_")
    assert rotated.body["secret"] != secret
    assert {key: rotated.body[key] for key in VIEW} == enabled.body
    # Deleted: answered as it was, then gone
    deleted = owner.api.request("DELETE", f"{PATH}/{endpoint_id}")
    assert (deleted.status, deleted.body) == (200, enabled.body)
    not_found(owner.api.request("GET", f"{PATH}/{endpoint_id}"), endpoint_id)
    not_found(owner.api.request("DELETE", f"{PATH}/{endpoint_id}"), endpoint_id)
    assert endpoint_id not in [found["webhookEndpointId"] for found in owner.listed()]


def test_another_merchants_key_finds_none_of_them(merchants: tuple[Merchant, Merchant]) -> None:
    owner, other = merchants
    made = owner.created(events=["payment.refunded"])
    endpoint_id = made["webhookEndpointId"]
    before = owner.api.request("GET", f"{PATH}/{endpoint_id}").body
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"enabled": False}),
        ("DELETE", "", None),
        ("POST", "/rotate-secret", None),
    ):
        not_found(other.api.request(method, f"{PATH}/{endpoint_id}{suffix}", body), endpoint_id)
    assert endpoint_id not in [found["webhookEndpointId"] for found in other.listed()]
    naming = other.api.request("GET", f"{PATH}?merchantId={owner.merchant_id}")
    refused(naming, "merchantId must be the API key's own merchant")
    # Nothing of the owner's changed
    assert owner.api.request("GET", f"{PATH}/{endpoint_id}").body == before
    rotated = owner.api.request("POST", f"{PATH}/{endpoint_id}/rotate-secret")
    assert rotated.status == 200  # its secret is still there to rotate


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url": "http://example.com/hooks"}, "url must be https"),
        ({"url": "https://10.0.0.1/"}, "10.0.0.1 is private, link-local or reserved"),
        ({"url": "https://169.254.169.254/latest/meta-data/"}, "169.254.169.254 is private"),
        ({"url": "not a url"}, "url must name a host"),
        ({"url": "http://10.0.0.1:8080/x"}, "url must be https (or http://127.0.0.1 on the local stack)"),
        ({"url": "https://hooks.example.com/", "events": ["payment.exploded"]}, "unknown event type(s)"),
        ({"url": "https://hooks.example.com/", "events": []}, "events must be a non-empty list"),
        ({"url": "https://hooks.example.com/", "enabled": False}, "enabled: Extra inputs are not permitted"),
    ],
)
def test_a_refused_endpoint_writes_nothing(
    merchants: tuple[Merchant, Merchant], body: Any, words: str
) -> None:
    owner, _ = merchants
    before = owner.listed()
    refused(owner.create(body, key=str(uuid.uuid4())), words)
    assert owner.listed() == before


def test_a_refused_change_writes_nothing(merchants: tuple[Merchant, Merchant]) -> None:
    owner, _ = merchants
    endpoint_id = owner.created()["webhookEndpointId"]
    before = owner.api.request("GET", f"{PATH}/{endpoint_id}").body
    for body, words in (
        ({"url": "https://169.254.169.254/"}, "169.254.169.254 is private"),
        ({"events": ["payment.nope"]}, "unknown event type(s) payment.nope"),
        ({"url": None}, "url may be left out, but not null"),
        ({}, "give at least one of url, events, enabled"),
    ):
        refused(owner.api.request("PATCH", f"{PATH}/{endpoint_id}", body), words)
    assert owner.api.request("GET", f"{PATH}/{endpoint_id}").body == before


def test_the_local_stack_takes_a_loopback_receiver(merchants: tuple[Merchant, Merchant]) -> None:
    owner, _ = merchants
    made = owner.created(url="http://127.0.0.1:47123/x", events=["checkout.succeeded"])
    assert made["url"] == "http://127.0.0.1:47123/x"
    moved = owner.api.request("PATCH", f"{PATH}/{made['webhookEndpointId']}", {"url": "http://127.0.0.1:8/y"})
    assert (moved.status, moved.body["url"]) == (200, "http://127.0.0.1:8/y")


def test_a_platform_key_names_the_merchant(api: Api, merchants: tuple[Merchant, Merchant]) -> None:
    owner, _ = merchants
    made = api.request("POST", PATH, {"url": "https://hooks.example.com/p", "merchantId": owner.merchant_id})
    assert made.status == 201, made.body
    assert made.body["webhookEndpointId"] in [found["webhookEndpointId"] for found in owner.listed()]
    listed = api.request("GET", f"{PATH}?merchantId={owner.merchant_id}")
    assert [
        found for found in listed.body["data"] if found["webhookEndpointId"] == made.body["webhookEndpointId"]
    ]
    refused(api.request("GET", PATH), "merchantId is required with a platform key")


def test_a_replayed_create_answers_the_same_endpoint_and_no_table_keeps_a_secret(
    stack: RunningStack, merchants: tuple[Merchant, Merchant]
) -> None:
    owner, _ = merchants
    key = str(uuid.uuid4())
    body = {"url": "https://hooks.example.com/replayed"}
    first = owner.create(body, key=key)
    again = owner.create(body, key=key)
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert [found["url"] for found in owner.listed()].count(body["url"]) == 1
    endpoint_id, secret = first.body["webhookEndpointId"], first.body["secret"]
    # The secret is its endpoint's own secret, encrypted with the stack's data key ...
    secrets = stack.aws("secretsmanager")
    described = secrets.describe_secret(SecretId=SECRETS_PREFIX + endpoint_id)
    assert described["KmsKeyId"] == "alias/payments-data-local"
    assert json.loads(secrets.get_secret_value(SecretId=SECRETS_PREFIX + endpoint_id)["SecretString"]) == {
        "current": secret
    }
    # ... and in no table: neither the endpoints' nor the one that keeps answers for Idempotency-Key
    dynamodb = stack.aws("dynamodb")
    for table in ("webhook-endpoints-local", "payments-idempotency-local"):
        items = json.dumps(dynamodb.scan(TableName=table)["Items"])
        assert secret.removeprefix("whsec_") not in items, table
    # Deleted with its endpoint
    assert owner.api.request("DELETE", f"{PATH}/{endpoint_id}").status == 200
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=SECRETS_PREFIX + endpoint_id)
