"""The webhook endpoint routes on fakes: a merchant's endpoints are its own, a URL or an events filter
that is refused writes nothing, and a signing secret is shown only by the create and the rotation."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, InvalidState, NotFound
from payments.domain.merchant_webhooks import EVENT_TYPES, MAX_URL_LENGTH, SECRET_PREFIX, new_secret
from payments.domain.webhook_endpoints import MAX_ENDPOINTS_PER_MERCHANT, DisabledReason, WebhookEndpoint
from payments.functions import (
    create_webhook_endpoint,
    delete_webhook_endpoint,
    get_webhook_endpoint,
    http,
    list_webhook_endpoints,
    rotate_webhook_secret,
    update_webhook_endpoint,
)
from payments.functions.webhook_schemas import (
    MAX_EVENTS_LISTED,
    CreateWebhookEndpointBody,
    UpdateWebhookEndpointBody,
    endpoint_body,
)
from payments.service.webhook_endpoints import (
    CreateEndpoint,
    UpdateEndpoint,
    create_endpoint,
    delete_endpoint,
    rotate_secret,
    update_endpoint,
)
from tests.unit.inventory import SPEC_PATH
from tests.unit.test_openapi import resolve, schema_validator
from tests.unit.webhook_fakes import FakeWebhookEndpoints, FakeWebhookSecrets

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MERCHANT_A = {"scope": "merchant", "merchantId": "mer_a", "keyId": "key_a"}
MERCHANT_B = {"scope": "merchant", "merchantId": "mer_b", "keyId": "key_b"}
PLATFORM = {"scope": "platform", "keyId": "key_p"}
URL = "https://hooks.example.com/payments"


class Context:
    function_name = "payments-webhook-endpoints-test"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class Stack:
    """The six routes over one set of fakes, called as API Gateway calls them."""

    def __init__(self, *, allow_loopback: bool = False) -> None:
        self.endpoints = FakeWebhookEndpoints()
        self.secrets = FakeWebhookSecrets()
        self.clock = Clock()
        self.allow_loopback = allow_loopback

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        who: dict[str, str] = MERCHANT_A,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # v1 webhook-endpoints [id [rotate-secret]]
        handler = self._handler(method, parts)
        event: dict[str, Any] = {
            "requestContext": {"authorizer": {"lambda": who}},
            "headers": {"content-type": "application/json"},
            "pathParameters": {"webhookEndpointId": parts[2]} if len(parts) > 2 else None,
            "queryStringParameters": query,
            "body": None if body is None else json.dumps(body),
        }
        response = handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    def _handler(self, method: str, parts: list[str]) -> Callable[[Any, Any], Any]:
        endpoints, secrets, clock = self.endpoints, self.secrets, self.clock
        if (method, len(parts)) == ("POST", 2):
            deps: Any = create_webhook_endpoint.Dependencies(endpoints, secrets, self.allow_loopback, clock)
            return create_webhook_endpoint.handler.with_dependencies(http.Routed(deps))
        if (method, len(parts)) == ("GET", 2):
            return list_webhook_endpoints.handler.with_dependencies(http.Routed(endpoints))
        if (method, len(parts)) == ("GET", 3):
            return get_webhook_endpoint.handler.with_dependencies(http.Routed(endpoints))
        if (method, len(parts)) == ("PATCH", 3):
            deps = update_webhook_endpoint.Dependencies(endpoints, self.allow_loopback, clock)
            return update_webhook_endpoint.handler.with_dependencies(http.Routed(deps))
        if (method, len(parts)) == ("DELETE", 3):
            deps = delete_webhook_endpoint.Dependencies(endpoints, secrets)
            return delete_webhook_endpoint.handler.with_dependencies(http.Routed(deps))
        if (method, len(parts)) == ("POST", 4) and parts[3] == "rotate-secret":
            deps = rotate_webhook_secret.Dependencies(endpoints, secrets, clock)
            return rotate_webhook_secret.handler.with_dependencies(http.Routed(deps))
        raise AssertionError(f"no route {method} {'/'.join(parts)}")

    def created(self, body: Any = None, **call: Any) -> dict[str, Any]:
        status, answer = self.call("POST", "/v1/webhook-endpoints", body or {"url": URL}, **call)
        assert status == 201, answer
        return dict(answer)


def _refusal(answer: Any) -> str:
    assert answer["error"]["code"] == "invalid_request", answer
    return str(answer["error"]["message"])


# -- create -----------------------------------------------------------------------------------------


def test_a_new_endpoint_is_enabled_for_every_type_and_shows_its_secret_once() -> None:
    stack = Stack()
    made = stack.created()
    assert made["webhookEndpointId"].startswith("we_")
    assert made["secret"].startswith(SECRET_PREFIX)
    assert {key: made[key] for key in ("url", "events", "enabled")} == {
        "url": URL,
        "events": None,
        "enabled": True,
    }
    assert set(made) == {"webhookEndpointId", "url", "events", "enabled", "createdAt", "updatedAt", "secret"}
    # The secret is the one that signs its deliveries, and no read shows it again.
    assert stack.secrets.signing(made["webhookEndpointId"], stack.clock()) == [made["secret"]]
    read = stack.call("GET", f"/v1/webhook-endpoints/{made['webhookEndpointId']}")[1]
    listed = stack.call("GET", "/v1/webhook-endpoints")[1]
    assert read == {key: value for key, value in made.items() if key != "secret"}
    assert listed == {"data": [read]}
    assert made["secret"] not in json.dumps([read, listed])


def test_an_events_filter_is_kept_each_type_once() -> None:
    stack = Stack()
    made = stack.created(
        {"url": URL, "events": ["payment.captured", "refund_batch.completed", "payment.captured"]}
    )
    assert made["events"] == ["payment.captured", "refund_batch.completed"]
    assert stack.created({"url": URL, "events": None})["events"] is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.com/hook", "url must be https"),
        ("https://10.0.0.1/hook", "url must be a public address: 10.0.0.1 is private"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is private, link-local or reserved"),
        ("https://[::1]/hook", "::1 is loopback"),
        ("https://localhost/hook", "url must be a public address, not localhost"),
        ("http://127.0.0.1:8080/hook", "url must be https"),
        ("not a url", "url must name a host"),
        ("https://user:pw@example.com/", "url must not carry credentials"),
        ("", "url: String should have at least 1 character"),
    ],
)
def test_a_url_that_may_not_receive_is_refused_and_nothing_is_written(url: str, words: str) -> None:
    stack = Stack()
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": url})
    assert status == 400
    assert words in _refusal(answer)
    assert stack.endpoints.items == {}
    assert stack.secrets.kept == {}


def test_the_local_stack_lets_loopback_http_receive() -> None:
    stack = Stack(allow_loopback=True)
    assert stack.created({"url": "http://127.0.0.1:9000/x"})["url"] == "http://127.0.0.1:9000/x"
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": "http://10.0.0.1:9000/x"})
    assert status == 400
    assert "url must be https (or http://127.0.0.1 on the local stack)" in _refusal(answer)


@pytest.mark.parametrize(
    ("events", "words"),
    [
        (["payment.captured", "payment.exploded"], "unknown event type(s) payment.exploded"),
        ([], "events must be a non-empty list"),
        ("payment.captured", "events: Input should be a valid list"),
        ([1], "events.0: Input should be a valid string"),
    ],
)
def test_an_events_filter_naming_no_known_type_is_refused(events: Any, words: str) -> None:
    stack = Stack()
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": URL, "events": events})
    assert status == 400
    assert words in _refusal(answer)
    assert stack.endpoints.items == {}
    assert stack.secrets.kept == {}


def test_a_body_with_an_unknown_field_is_refused() -> None:
    status, answer = Stack().call("POST", "/v1/webhook-endpoints", {"url": URL, "secret": "whsec_mine"})
    assert status == 400
    assert "secret: Extra inputs are not permitted" in _refusal(answer)


def test_a_merchant_has_at_most_so_many_endpoints_and_the_refused_one_leaves_no_secret() -> None:
    stack = Stack()
    for _ in range(MAX_ENDPOINTS_PER_MERCHANT):
        stack.created()
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": URL})
    assert (status, answer["error"]["code"]) == (409, "invalid_state")
    assert len(stack.secrets.kept) == MAX_ENDPOINTS_PER_MERCHANT
    assert stack.created(who=MERCHANT_B)  # each merchant's own limit


# -- whom the routes act for ------------------------------------------------------------------------


def test_another_merchants_endpoint_answers_as_an_unknown_one_and_is_left_alone() -> None:
    stack = Stack()
    made = stack.created()
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}"
    unknown = "/v1/webhook-endpoints/we_01JHMR6K20V5R1X5AM5BNPXYCM"
    for method, suffix, body in (
        ("GET", "", None),
        ("PATCH", "", {"enabled": False}),
        ("DELETE", "", None),
        ("POST", "/rotate-secret", None),
    ):
        theirs = stack.call(method, path + suffix, body, who=MERCHANT_B)
        nobodys = stack.call(method, unknown + suffix, body, who=MERCHANT_B)
        assert theirs[0] == nobodys[0] == 404, (method, theirs)
        assert theirs[1]["error"]["message"] == f"no webhook endpoint {made['webhookEndpointId']}"
    assert stack.call("GET", "/v1/webhook-endpoints", who=MERCHANT_B) == (200, {"data": []})
    assert stack.call("GET", path)[1] == {key: value for key, value in made.items() if key != "secret"}
    assert stack.secrets.signing(made["webhookEndpointId"], stack.clock()) == [made["secret"]]


def test_a_merchant_key_naming_another_merchant_is_refused() -> None:
    stack = Stack()
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": URL, "merchantId": "mer_b"})
    assert status == 400
    assert _refusal(answer) == "merchantId must be the API key's own merchant"
    status, answer = stack.call("GET", "/v1/webhook-endpoints", query={"merchantId": "mer_b"})
    assert (status, _refusal(answer)) == (400, "merchantId must be the API key's own merchant")
    assert stack.endpoints.items == {}


def test_a_platform_key_names_the_merchant_it_acts_for() -> None:
    stack = Stack()
    made = stack.created({"url": URL, "merchantId": "mer_a"}, who=PLATFORM)
    assert (
        stack.call("GET", "/v1/webhook-endpoints")[1]["data"][0]["webhookEndpointId"]
        == made["webhookEndpointId"]
    )
    listed = stack.call("GET", "/v1/webhook-endpoints", who=PLATFORM, query={"merchantId": "mer_a"})
    assert [found["webhookEndpointId"] for found in listed[1]["data"]] == [made["webhookEndpointId"]]
    status, answer = stack.call("GET", "/v1/webhook-endpoints", who=PLATFORM)
    assert (status, _refusal(answer)) == (400, "merchantId is required with a platform key")
    status, answer = stack.call("POST", "/v1/webhook-endpoints", {"url": URL}, who=PLATFORM)
    assert (status, _refusal(answer)) == (400, "merchantId is required with a platform key")


# -- list, update ----------------------------------------------------------------------------------


def test_the_list_is_oldest_first() -> None:
    stack = Stack()
    made = [stack.created({"url": f"{URL}/{n}"})["webhookEndpointId"] for n in range(3)]
    listed = stack.call("GET", "/v1/webhook-endpoints")[1]["data"]
    assert [found["webhookEndpointId"] for found in listed] == made


def test_a_patch_changes_what_it_gives_and_nothing_else() -> None:
    stack = Stack()
    made = stack.created({"url": URL, "events": ["payment.captured"]})
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}"
    status, changed = stack.call("PATCH", path, {"events": ["payment.refunded", "payment.voided"]})
    assert status == 200
    assert changed["events"] == ["payment.refunded", "payment.voided"]
    assert (changed["url"], changed["enabled"], changed["createdAt"]) == (URL, True, made["createdAt"])
    assert changed["updatedAt"] > made["updatedAt"]
    _, moved = stack.call("PATCH", path, {"url": "https://other.example.com/h"})
    assert (moved["url"], moved["events"]) == (
        "https://other.example.com/h",
        ["payment.refunded", "payment.voided"],
    )
    _, every = stack.call("PATCH", path, {"events": None})
    assert every["events"] is None
    assert stack.call("GET", path)[1] == every
    assert "secret" not in every


def test_disabling_is_the_merchants_and_enabling_starts_afresh() -> None:
    stack = Stack()
    made = stack.created()
    endpoint_id = made["webhookEndpointId"]
    path = f"/v1/webhook-endpoints/{endpoint_id}"
    _, disabled = stack.call("PATCH", path, {"enabled": False})
    assert (disabled["enabled"], disabled["disabledReason"]) == (False, "by_merchant")
    # The delivery worker disabled it after failing for days (and recorded since when):
    gone = replace(
        stack.endpoints.get("mer_a", endpoint_id),
        disabled_reason=DisabledReason.FAILING,
        failing_since=NOW,
    )
    stack.endpoints.items[("mer_a", endpoint_id)] = gone
    _, enabled = stack.call("PATCH", path, {"enabled": True})
    assert enabled["enabled"] is True
    assert "disabledReason" not in enabled
    stored = stack.endpoints.get("mer_a", endpoint_id)
    assert (stored.disabled_reason, stored.failing_since) == (None, None)


def test_a_patch_that_changes_nothing_writes_nothing() -> None:
    stack = Stack()
    made = stack.created()
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}"
    assert stack.call("PATCH", path, {"enabled": True, "url": URL}) == (
        200,
        {key: value for key, value in made.items() if key != "secret"},
    )
    assert stack.endpoints.get("mer_a", made["webhookEndpointId"]).version == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "give at least one of url, events, enabled"),
        ({"url": None}, "url may be left out, but not null"),
        ({"enabled": None}, "enabled may be left out, but not null"),
        ({"enabled": "false"}, "enabled: Input should be a valid boolean"),
        ({"url": "https://192.168.1.20/h"}, "192.168.1.20 is private"),
        ({"events": ["payment.nope"]}, "unknown event type(s) payment.nope"),
        ({"secret": "whsec_x"}, "secret: Extra inputs are not permitted"),
    ],
)
def test_a_bad_patch_is_refused_and_changes_nothing(body: Any, words: str) -> None:
    stack = Stack()
    made = stack.created()
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}"
    status, answer = stack.call("PATCH", path, body)
    assert status == 400
    assert words in _refusal(answer)
    assert stack.endpoints.get("mer_a", made["webhookEndpointId"]).version == 1


class RacedEndpoints(FakeWebhookEndpoints):
    """Loses the first `races` saves to a concurrent writer (the delivery worker recording a failure)."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def save(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        if self.races:
            self.races -= 1
            current = self.get(endpoint.merchant_id, endpoint.webhook_endpoint_id)
            super().save(current.failed_once(NOW))
        return super().save(endpoint)


def _made(endpoints: FakeWebhookEndpoints) -> WebhookEndpoint:
    endpoint, _ = create_endpoint(
        CreateEndpoint("mer_a", URL),
        endpoints=endpoints,
        secrets=FakeWebhookSecrets(),
        clock=Clock(),
        allow_loopback=False,
    )
    return endpoint


def test_an_update_raced_by_the_delivery_worker_is_applied_over_its_write() -> None:
    endpoints = RacedEndpoints(races=2)
    made = _made(endpoints)
    command = UpdateEndpoint("mer_a", made.webhook_endpoint_id, enabled=False)
    updated = update_endpoint(command, endpoints=endpoints, clock=Clock(), allow_loopback=False)
    assert (updated.enabled, updated.failing_since, updated.version) == (False, NOW, 4)
    assert endpoints.get("mer_a", made.webhook_endpoint_id) == updated


def test_an_update_raced_every_time_is_a_conflict_the_caller_may_retry() -> None:
    endpoints = RacedEndpoints(races=3)
    made = _made(endpoints)
    command = UpdateEndpoint("mer_a", made.webhook_endpoint_id, url="https://new.example.com/")
    with pytest.raises(ConcurrentUpdate):
        update_endpoint(command, endpoints=endpoints, clock=Clock(), allow_loopback=False)
    assert endpoints.get("mer_a", made.webhook_endpoint_id).url == URL


# -- delete, rotate --------------------------------------------------------------------------------


def test_a_deleted_endpoint_is_gone_with_its_secret() -> None:
    stack = Stack()
    made = stack.created()
    path = f"/v1/webhook-endpoints/{made['webhookEndpointId']}"
    status, answer = stack.call("DELETE", path)
    assert (status, answer) == (200, {key: value for key, value in made.items() if key != "secret"})
    assert stack.call("GET", path)[0] == 404
    assert stack.call("DELETE", path)[0] == 404
    assert stack.call("GET", "/v1/webhook-endpoints")[1] == {"data": []}
    with pytest.raises(NotFound):
        stack.secrets.signing(made["webhookEndpointId"], stack.clock())


def test_a_rotation_answers_a_new_secret_and_the_old_one_signs_for_a_day() -> None:
    stack = Stack()
    made = stack.created()
    endpoint_id = made["webhookEndpointId"]
    status, rotated = stack.call("POST", f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    assert status == 200
    assert rotated["secret"].startswith(SECRET_PREFIX)
    assert rotated["secret"] != made["secret"]
    assert {key: value for key, value in rotated.items() if key != "secret"} == {
        key: value for key, value in made.items() if key != "secret"
    }
    assert stack.secrets.signing(endpoint_id, stack.clock()) == [rotated["secret"], made["secret"]]
    assert stack.secrets.signing(endpoint_id, stack.clock.now + timedelta(hours=24)) == [rotated["secret"]]


def test_the_use_cases_scope_by_merchant() -> None:
    endpoints, secrets = FakeWebhookEndpoints(), FakeWebhookSecrets()
    made, secret = create_endpoint(
        CreateEndpoint("mer_a", URL),
        endpoints=endpoints,
        secrets=secrets,
        clock=Clock(),
        allow_loopback=False,
    )
    with pytest.raises(NotFound):
        rotate_secret("mer_b", made.webhook_endpoint_id, endpoints=endpoints, secrets=secrets, clock=Clock())
    with pytest.raises(NotFound):
        delete_endpoint("mer_b", made.webhook_endpoint_id, endpoints=endpoints, secrets=secrets)
    assert secrets.signing(made.webhook_endpoint_id, NOW) == [secret]
    with pytest.raises(InvalidRequest):
        create_endpoint(
            CreateEndpoint("mer_a", "ftp://example.com/"),
            endpoints=endpoints,
            secrets=secrets,
            clock=Clock(),
            allow_loopback=True,
        )
    assert len(endpoints.items) == 1


class FullEndpoints(FakeWebhookEndpoints):
    def add(self, endpoint: WebhookEndpoint) -> None:
        raise InvalidState("full")


def test_a_refused_add_deletes_the_secret_it_made() -> None:
    secrets = FakeWebhookSecrets()
    with pytest.raises(InvalidState):
        create_endpoint(
            CreateEndpoint("mer_a", URL),
            endpoints=FullEndpoints(),
            secrets=secrets,
            clock=Clock(),
            allow_loopback=False,
        )
    assert secrets.kept == {}


# -- the spec says what the code does ----------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def test_the_endpoint_schema_is_what_endpoint_body_answers_and_holds_no_secret(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    bare = replace(_made(FakeWebhookEndpoints()), events=("payment.captured",))
    full = endpoint_body(bare.disabled(DisabledReason.GONE, NOW))
    assert set(schemas["WebhookEndpoint"]["properties"]) == set(full)
    assert set(schemas["WebhookEndpoint"]["required"]) == set(endpoint_body(bare))
    assert schemas["WebhookEndpoint"]["properties"]["disabledReason"]["enum"] == [
        r.value for r in DisabledReason
    ]
    assert schemas["WebhookEventType"]["enum"] == list(EVENT_TYPES)
    validator = schema_validator(spec, {"$ref": "#/components/schemas/WebhookEndpoint"})
    validator.validate(full)
    validator.validate(endpoint_body(replace(bare, events=None)))
    with_secret = schema_validator(spec, {"$ref": "#/components/schemas/WebhookEndpointWithSecret"})
    with_secret.validate({**full, "secret": new_secret()})
    assert not with_secret.is_valid(full)
    assert not with_secret.is_valid({**full, "secret": "whsec_short"})


def test_the_request_schemas_are_the_body_models(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name, model in (
        ("CreateWebhookEndpoint", CreateWebhookEndpointBody),
        ("UpdateWebhookEndpoint", UpdateWebhookEndpointBody),
    ):
        schema = schemas[name]
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == set(model.model_fields), name
        assert sorted(schema.get("required", [])) == sorted(
            n for n, f in model.model_fields.items() if f.is_required()
        )
        url = schema["properties"]["url"]
        assert (url["minLength"], url["maxLength"]) == (1, MAX_URL_LENGTH)
        assert schema["properties"]["events"]["maxItems"] == MAX_EVENTS_LISTED


def test_the_request_examples_are_accepted_and_the_refusals_are_the_codes(spec: dict[str, Any]) -> None:
    checked = 0
    for path, method, model in (
        ("/v1/webhook-endpoints", "post", CreateWebhookEndpointBody),
        ("/v1/webhook-endpoints/{webhookEndpointId}", "patch", UpdateWebhookEndpointBody),
    ):
        content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        for example in content["examples"].values():
            http.parse(model, example["value"])
            checked += 1
    assert checked >= 5
    refused = resolve(spec, {"$ref": "#/components/responses/WebhookEndpointRefused"})
    messages = {
        example["value"]["error"]["message"]
        for example in refused["content"]["application/json"]["examples"].values()
    }
    stack = Stack()
    for url in ("http://example.com/hooks", "https://10.0.0.1/hooks", "not a url"):
        assert _refusal(stack.call("POST", "/v1/webhook-endpoints", {"url": url})[1]) in messages
    unknown = stack.call("POST", "/v1/webhook-endpoints", {"url": URL, "events": ["payment.exploded"]})[1]
    assert _refusal(unknown) in messages
    made = stack.created()["webhookEndpointId"]
    assert _refusal(stack.call("PATCH", f"/v1/webhook-endpoints/{made}", {})[1]) in messages
    not_found = resolve(spec, {"$ref": "#/components/responses/WebhookEndpointNotFound"})
    (example,) = not_found["content"]["application/json"]["examples"].values()
    unknown_id = example["value"]["error"]["message"].rpartition(" ")[2]
    assert stack.call("GET", f"/v1/webhook-endpoints/{unknown_id}")[1] == example["value"]


def test_a_platform_key_naming_no_possible_merchant_is_refused() -> None:
    stack = Stack()
    status, answer = stack.call("GET", "/v1/webhook-endpoints", who=PLATFORM, query={"merchantId": "m" * 129})
    assert (status, _refusal(answer)) == (400, "merchantId must be 1 to 128 letters, digits or _.:-")
