"""GET /v1/webhook-endpoints/{id}/deliveries and POST /v1/webhook-endpoints/{id}/test, on the fakes:
the log newest first and paged, the test event queued for that endpoint alone, and another merchant's
endpoint a 404 on both."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import yaml

from payments.adapters import page_tokens
from payments.adapters.dynamodb_webhook_deliveries import PAGE_KEYS
from payments.domain.webhook_endpoints import Delivery, DeliveryStatus, DisabledReason, WebhookEndpoint
from payments.functions import http, list_webhook_deliveries, send_test_webhook, webhook_wiring
from tests.unit.fakes import FakeClock
from tests.unit.inventory import SPEC_PATH
from tests.unit.test_openapi import schema_validator
from tests.unit.webhook_fakes import (
    FakeDeliveryQueue,
    FakeWebhookDeliveries,
    FakeWebhookEndpoints,
    FakeWebhookEvents,
)

MERCHANT_1 = {"scope": "merchant", "merchantId": "mer_1", "keyId": "key_1"}
MERCHANT_2 = {"scope": "merchant", "merchantId": "mer_2", "keyId": "key_2"}
PLATFORM = {"scope": "platform", "keyId": "key_p"}


class Context:
    function_name = "payments-webhook-routes"


class Routes:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.endpoints = FakeWebhookEndpoints()
        self.events = FakeWebhookEvents()
        self.deliveries = FakeWebhookDeliveries()
        self.queue = FakeDeliveryQueue()

    def endpoint(self, endpoint_id: str, **fields: Any) -> None:
        now = self.clock()
        values: dict[str, Any] = {
            "webhook_endpoint_id": endpoint_id,
            "merchant_id": "mer_1",
            "url": "https://hooks.example/in",
            "events": None,
            "enabled": True,
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        self.endpoints.add(WebhookEndpoint(**values))

    def call(
        self, handler: Any, endpoint_id: str, authorizer: dict[str, str], query: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        event = {
            "pathParameters": {"webhookEndpointId": endpoint_id},
            "queryStringParameters": query,
            "requestContext": {"authorizer": {"lambda": authorizer}},
        }
        response = handler(event, Context())
        return response["statusCode"], json.loads(response["body"])

    def list(self, endpoint_id: str, authorizer: dict[str, str], **query: str) -> tuple[int, Any]:
        handler = list_webhook_deliveries.handler.with_dependencies(
            http.Routed(list_webhook_deliveries.Dependencies(self.endpoints, self.deliveries))
        )
        return self.call(handler, endpoint_id, authorizer, query or None)

    def test(self, endpoint_id: str, authorizer: dict[str, str], **query: str) -> tuple[int, Any]:
        handler = send_test_webhook.handler.with_dependencies(
            http.Routed(
                webhook_wiring.Fanout(
                    self.endpoints, self.events, self.deliveries, self.queue, clock=self.clock
                )
            )
        )
        return self.call(handler, endpoint_id, authorizer, query or None)


@pytest.fixture
def routes() -> Routes:
    return Routes()


def test_the_log_lists_an_endpoints_deliveries_newest_first_a_page_at_a_time(routes: Routes) -> None:
    routes.endpoint("we_a")
    routes.endpoint("we_b")
    for minute in range(5):
        routes.deliveries.add(
            Delivery(
                "we_a",
                f"txn_{minute}",
                "mer_1",
                "payment.captured",
                created_at=routes.clock() + timedelta(minutes=minute),
                status=DeliveryStatus.FAILED if minute == 3 else DeliveryStatus.SUCCEEDED,
                attempts=4 if minute == 3 else 1,
                last_status_code=500 if minute == 3 else 200,
            )
        )
    routes.deliveries.add(Delivery("we_b", "txn_b", "mer_1", "payment.captured", created_at=routes.clock()))

    status, first = routes.list("we_a", MERCHANT_1, limit="2")
    _, second = routes.list("we_a", MERCHANT_1, limit="2", nextToken=first["nextToken"])
    _, everything = routes.list("we_a", MERCHANT_1)

    assert status == 200
    assert [d["eventId"] for d in first["data"]] == ["txn_4", "txn_3"]
    assert [d["eventId"] for d in second["data"]] == ["txn_2", "txn_1"]
    assert [d["eventId"] for d in everything["data"]] == ["txn_4", "txn_3", "txn_2", "txn_1", "txn_0"]
    assert everything["nextToken"] is None
    failed = first["data"][1]
    assert (failed["status"], failed["attempts"], failed["lastStatusCode"], failed["type"]) == (
        "failed",
        4,
        500,
        "payment.captured",
    )


def test_another_merchants_endpoint_has_no_log_and_takes_no_test(routes: Routes) -> None:
    routes.endpoint("we_a")
    routes.deliveries.add(Delivery("we_a", "txn_1", "mer_1", "payment.captured", created_at=routes.clock()))

    listed = routes.list("we_a", MERCHANT_2)
    unknown = routes.list("we_unknown", MERCHANT_2)
    tested = routes.test("we_a", MERCHANT_2)

    assert (listed[0], listed[1]["error"]["code"]) == (404, "not_found")
    assert listed[1]["error"]["message"] == unknown[1]["error"]["message"].replace("we_unknown", "we_a")
    assert tested[0] == 404
    assert routes.queue.tasks == []


def test_a_platform_key_names_the_merchant(routes: Routes) -> None:
    routes.endpoint("we_a")
    assert routes.list("we_a", PLATFORM, merchantId="mer_1")[0] == 200
    status, body = routes.list("we_a", PLATFORM)
    assert (status, body["error"]["code"]) == (400, "invalid_request")


def test_a_bad_limit_is_refused(routes: Routes) -> None:
    routes.endpoint("we_a")
    assert routes.list("we_a", MERCHANT_1, limit="0")[0] == 400
    assert routes.list("we_a", MERCHANT_1, limit="ten")[0] == 400


def test_a_test_event_is_queued_for_that_endpoint_alone(routes: Routes) -> None:
    routes.endpoint("we_a", events=("payment.refunded", "payment.captured"))
    routes.endpoint("we_b")

    status, body = routes.test("we_a", MERCHANT_1)

    assert status == 202
    event_id = body["eventId"]
    assert event_id.startswith("evt_test_")
    (task,) = routes.queue.tasks
    assert (task.webhook_endpoint_id, task.event_id, task.generation) == ("we_a", event_id, 1)
    event = routes.events.get("mer_1", event_id)
    payload = json.loads(event.body)
    assert payload["type"] == event.event_type == "payment.refunded"  # the first type it wants
    assert payload["data"]["test"] is True
    assert payload["data"]["eventId"] == event_id
    delivery = routes.deliveries.get("we_a", event_id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
    assert routes.deliveries.list("we_b", limit=10, next_token=None).items == []


def test_an_endpoint_for_every_type_is_tested_with_an_authorization(routes: Routes) -> None:
    routes.endpoint("we_a")
    _, body = routes.test("we_a", MERCHANT_1)
    assert routes.events.get("mer_1", body["eventId"]).event_type == "payment.authorized"


def test_a_disabled_endpoint_takes_no_test(routes: Routes) -> None:
    routes.endpoint("we_a", enabled=False, disabled_reason=DisabledReason.GONE)
    status, body = routes.test("we_a", MERCHANT_1)
    assert (status, body["error"]["code"]) == (409, "invalid_state")
    assert routes.queue.tasks == []


# -- the spec says what the routes answer -----------------------------------------------------------------


def _schema(name: str) -> Any:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return spec, schema_validator(spec, {"$ref": f"#/components/schemas/{name}"})


def test_the_spec_describes_what_the_routes_answer(routes: Routes) -> None:
    routes.endpoint("we_a")
    routes.deliveries.add(Delivery("we_a", "txn_1", "mer_1", "payment.captured", created_at=routes.clock()))
    spec, deliveries = _schema("WebhookDeliveryList")
    _, sent = _schema("WebhookTestSent")

    listed = routes.list("we_a", MERCHANT_1)[1]
    tested = routes.test("we_a", MERCHANT_1)[1]

    deliveries.validate(listed)
    sent.validate(tested)
    properties = spec["components"]["schemas"]["WebhookDelivery"]["properties"]
    assert set(properties) == set(listed["data"][0])
    assert set(properties["status"]["enum"]) == {status.value for status in DeliveryStatus}


def test_the_page_token_in_the_spec_is_one_the_code_accepts() -> None:
    spec, _ = _schema("WebhookDeliveryList")
    example = spec["paths"]["/v1/webhook-endpoints/{webhookEndpointId}/deliveries"]["get"]["responses"]["200"]
    token = example["content"]["application/json"]["examples"]["waiting"]["value"]["nextToken"]
    key = page_tokens.decode(
        token, scope=("webhookEndpointId", "we_01JHMR6K20V5R1X5AM5BNPXYCM"), keys=PAGE_KEYS
    )
    assert key["eventId"] == {"S": "re_01JHMR6K20V5R1X5AM5BNPXYCM_1"}
