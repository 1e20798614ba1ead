"""Resending an event and recovering an endpoint's failed deliveries, on the fakes of every port and
through the worker's own attempt: a delivery sent again is a new generation of the same delivery (the
retry still waiting from before is dropped), arrives again under the same `webhook-id`, and only the
caller's merchant's events and endpoints are reached; and the two routes over the fakes, their refusals
and the spec's word on them."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, InvalidState, NotFound
from payments.domain.merchant_webhooks import RetrySchedule, body_bytes, envelope
from payments.domain.webhook_endpoints import (
    Delivery,
    DeliveryStatus,
    DisabledReason,
    WebhookEndpoint,
    WebhookEvent,
)
from payments.functions import http, recover_webhook_endpoint, resend_event, webhook_wiring
from payments.functions.recover_webhook_endpoint import MAX_SINCE_LENGTH, RecoverBody, since_time
from payments.service import webhook_replay
from payments.service.webhook_delivery import DeliveryWork, attempt_delivery, dispatch, send_test_event
from payments.service.webhook_ports import Answer, DeliveryTask
from payments.service.webhook_replay import Recovered, recover_deliveries
from payments.service.webhook_replay import resend_event as resend
from tests.unit.fakes import FakeAlerts, FakeClock
from tests.unit.inventory import SPEC_PATH
from tests.unit.test_openapi import schema_validator
from tests.unit.webhook_fakes import (
    FakeDeliveryQueue,
    FakeWebhookDeliveries,
    FakeWebhookEndpoints,
    FakeWebhookEvents,
    FakeWebhookSecrets,
    FakeWebhookSender,
)

EVENT_ID = "txn_1_capt"
MERCHANT_1 = {"scope": "merchant", "merchantId": "mer_1", "keyId": "key_1"}
MERCHANT_2 = {"scope": "merchant", "merchantId": "mer_2", "keyId": "key_2"}


class Context:
    function_name = "payments-webhook-replay"


class World:
    """Every port, faked; the clock is now, as the official library checks a signature's timestamp."""

    def __init__(self) -> None:
        self.clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        self.endpoints = FakeWebhookEndpoints()
        self.secrets = FakeWebhookSecrets()
        self.events = FakeWebhookEvents()
        self.deliveries = FakeWebhookDeliveries()
        self.queue = FakeDeliveryQueue()
        self.sender = FakeWebhookSender()
        self.signing: dict[str, str] = {}

    def endpoint(self, endpoint_id: str, *, merchant_id: str = "mer_1", **fields: Any) -> WebhookEndpoint:
        endpoint = WebhookEndpoint(
            webhook_endpoint_id=endpoint_id,
            merchant_id=merchant_id,
            url=f"https://hooks.example/{endpoint_id}",
            events=None,
            enabled=True,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        endpoint = replace(endpoint, **fields)
        self.endpoints.add(endpoint)
        self.signing[endpoint_id] = self.secrets.create(endpoint_id)
        self.clock.advance(seconds=1)  # listed oldest first
        return endpoint

    def event(self, event_id: str = EVENT_ID, *, merchant_id: str = "mer_1") -> WebhookEvent:
        data = {"eventId": event_id, "merchantId": merchant_id, "amount": 2500, "currency": "USD"}
        return WebhookEvent(
            event_id=event_id,
            merchant_id=merchant_id,
            event_type="payment.captured",
            body=body_bytes(envelope("payment.captured", self.clock(), data)),
            occurred_at=self.clock(),
            payment_intent_id="pi_1",
        )

    def dispatch(self, event: WebhookEvent | None = None) -> list[DeliveryTask]:
        return dispatch(
            event or self.event(),
            endpoints=self.endpoints,
            events=self.events,
            deliveries=self.deliveries,
            queue=self.queue,
            now=self.clock(),
        )

    def resend(self, event_id: str = EVENT_ID, merchant_id: str = "mer_1") -> list[str]:
        return resend(
            merchant_id,
            event_id,
            endpoints=self.endpoints,
            events=self.events,
            deliveries=self.deliveries,
            queue=self.queue,
            now=self.clock(),
        )

    def recover(self, endpoint_id: str, since: datetime, merchant_id: str = "mer_1") -> Recovered:
        return recover_deliveries(
            merchant_id,
            endpoint_id,
            since,
            endpoints=self.endpoints,
            deliveries=self.deliveries,
            queue=self.queue,
            now=self.clock(),
        )

    def attempt(self, task: DeliveryTask, message_id: str) -> str:
        work = DeliveryWork(
            endpoints=self.endpoints,
            secrets=self.secrets,
            events=self.events,
            deliveries=self.deliveries,
            sender=self.sender,
            alerts=FakeAlerts(),
            schedule=RetrySchedule.parse("5,300,1800"),
            clock=self.clock,
            draw=random.Random(7),
        )
        return attempt_delivery(task, message_id, work).reason

    def failed(self, endpoint_id: str, event_id: str, created_at: datetime, **fields: Any) -> Delivery:
        delivery = Delivery(
            endpoint_id,
            event_id,
            "mer_1",
            "payment.captured",
            created_at=created_at,
            status=DeliveryStatus.FAILED,
            attempts=4,
            last_status_code=500,
            **fields,
        )
        self.deliveries.add(delivery)
        return delivery


@pytest.fixture
def world() -> World:
    return World()


# -- resend ---------------------------------------------------------------------------------------------


def test_a_resend_is_a_new_generation_and_the_retry_still_waiting_from_before_is_dropped(
    world: World,
) -> None:
    world.endpoint("we_a")
    (first,) = world.dispatch()
    world.sender.answers = [Answer(500, 30), Answer(200, 12)]
    assert world.attempt(first, "msg_1") == "attempt 1 failed"  # its retry now waits in the queue
    world.queue.tasks.clear()

    assert world.resend() == ["we_a"]

    (again,) = world.queue.tasks
    assert (again.webhook_endpoint_id, again.event_id, again.generation) == ("we_a", EVENT_ID, 2)
    delivery = world.deliveries.get("we_a", EVENT_ID)
    assert (delivery.status, delivery.attempts, delivery.generation) == (DeliveryStatus.PENDING, 0, 2)
    # When the old retry comes back, it is dropped unsent; the new generation is sent
    assert world.attempt(first, "msg_1") == "a message of generation 1, the delivery is at 2"
    assert world.attempt(again, "msg_2") == "delivered"
    assert len(world.sender.sent) == 2
    assert world.deliveries.get("we_a", EVENT_ID).attempts == 1


def test_a_succeeded_delivery_resent_arrives_again_with_the_same_webhook_id(world: World) -> None:
    world.endpoint("we_a")
    (first,) = world.dispatch()
    assert world.attempt(first, "msg_1") == "delivered"
    world.clock.advance(seconds=30)

    world.resend()
    (again,) = world.queue.tasks[1:]
    assert world.attempt(again, "msg_2") == "delivered"

    (_, before, body_before), (_, after, body_after) = world.sender.sent
    verify = Webhook(world.signing["we_a"])
    assert verify.verify(body_after, after) == verify.verify(body_before, before)
    assert before["webhook-id"] == after["webhook-id"] == EVENT_ID
    assert int(after["webhook-timestamp"]) == int(before["webhook-timestamp"]) + 30  # signed afresh
    delivery = world.deliveries.get("we_a", EVENT_ID)
    assert (delivery.status, delivery.attempts, delivery.generation) == (DeliveryStatus.SUCCEEDED, 1, 2)


def test_a_resend_reaches_the_endpoints_that_have_it_or_want_it_now_and_only_enabled_ones(
    world: World,
) -> None:
    world.endpoint("we_had")
    world.endpoint("we_off_since")
    world.dispatch()
    world.endpoints.save(
        world.endpoints.get("mer_1", "we_off_since").disabled(DisabledReason.BY_MERCHANT, world.clock())
    )
    world.endpoint("we_new")  # added after the event
    world.endpoint("we_refunds", events=("payment.refunded",))
    world.endpoint("we_other", merchant_id="mer_2")
    world.queue.tasks.clear()

    sent_to = world.resend()

    assert sent_to == ["we_had", "we_new"]
    assert [(t.webhook_endpoint_id, t.generation) for t in world.queue.tasks] == [
        ("we_had", 2),
        ("we_new", 1),
    ]
    assert world.deliveries.get("we_off_since", EVENT_ID).generation == 1  # left as it was
    added = world.deliveries.get("we_new", EVENT_ID)
    assert (added.status, added.attempts, added.merchant_id) == (DeliveryStatus.PENDING, 0, "mer_1")
    with pytest.raises(NotFound):
        world.deliveries.get("we_refunds", EVENT_ID)


def test_a_test_event_is_resent_to_its_own_endpoint_alone(world: World) -> None:
    world.endpoint("we_a")
    world.endpoint("we_b")
    test = send_test_event(
        "mer_1",
        "we_a",
        endpoints=world.endpoints,
        events=world.events,
        deliveries=world.deliveries,
        queue=world.queue,
        now=world.clock(),
    )

    assert world.resend(test.event_id) == ["we_a"]


def test_another_merchants_event_or_an_unknown_one_is_not_found_and_nothing_is_sent(world: World) -> None:
    world.endpoint("we_a")
    world.endpoint("we_b", merchant_id="mer_2")
    world.dispatch()
    world.queue.tasks.clear()

    with pytest.raises(NotFound):
        world.resend(merchant_id="mer_2")
    with pytest.raises(NotFound):
        world.resend("txn_unknown")

    assert world.queue.tasks == []
    assert world.deliveries.get("we_a", EVENT_ID).generation == 1


class Raced(FakeWebhookDeliveries):
    """A worker records an attempt between the resend's read and its save, `races` times."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    def save(self, delivery: Delivery, *, expected_attempts: int, expected_generation: int) -> None:
        if self.races and delivery.generation == expected_generation + 1:
            self.races -= 1
            current = self.get(delivery.webhook_endpoint_id, delivery.event_id)
            self.items[(delivery.webhook_endpoint_id, delivery.event_id)] = replace(
                current, attempts=current.attempts + 1
            )
        super().save(delivery, expected_attempts=expected_attempts, expected_generation=expected_generation)


def test_a_resend_raced_by_a_worker_reads_the_delivery_again(world: World) -> None:
    world.deliveries = Raced(races=1)
    world.endpoint("we_a")
    world.dispatch()

    assert world.resend() == ["we_a"]
    assert world.deliveries.get("we_a", EVENT_ID).generation == 2

    world.deliveries.races = 10
    with pytest.raises(ConcurrentUpdate):
        world.resend()


# -- recover --------------------------------------------------------------------------------------------


def test_recover_sends_again_only_the_endpoints_failed_deliveries_since_the_time(world: World) -> None:
    world.endpoint("we_a")
    world.endpoint("we_b")
    since = world.clock() - timedelta(hours=2)
    world.failed("we_a", "txn_before", since - timedelta(seconds=1))
    world.failed("we_a", "txn_at", since)
    world.failed("we_a", "txn_after", since + timedelta(hours=1), generation=3)
    world.deliveries.add(
        Delivery("we_a", "txn_ok", "mer_1", "payment.captured", since, status=DeliveryStatus.SUCCEEDED)
    )
    world.deliveries.add(Delivery("we_a", "txn_waiting", "mer_1", "payment.captured", since, attempts=2))
    world.failed("we_b", "txn_other_endpoint", since)

    recovered = world.recover("we_a", since)

    assert recovered == Recovered(recovered=2, remaining=0)
    assert [(t.event_id, t.generation) for t in world.queue.tasks] == [("txn_at", 2), ("txn_after", 4)]
    again = world.deliveries.get("we_a", "txn_at")
    assert (again.status, again.attempts, again.next_attempt_at) == (DeliveryStatus.PENDING, 0, world.clock())
    assert world.deliveries.get("we_a", "txn_before").status is DeliveryStatus.FAILED
    assert world.deliveries.get("we_b", "txn_other_endpoint").status is DeliveryStatus.FAILED
    assert world.deliveries.get("we_a", "txn_waiting").generation == 1


def test_a_recovered_delivery_is_attempted_from_the_start_of_the_schedule(world: World) -> None:
    world.endpoint("we_a")
    world.events.add(world.event())
    world.failed("we_a", EVENT_ID, world.clock() - timedelta(days=2))

    world.recover("we_a", world.clock() - timedelta(days=3))
    (task,) = world.queue.tasks

    assert world.attempt(task, "msg_9") == "delivered"
    ((_, headers, _),) = world.sender.sent
    assert headers["webhook-id"] == EVENT_ID


def test_recover_sends_at_most_its_limit_oldest_first_and_says_how_many_are_left(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_replay, "MAX_RECOVERED", 3)
    world.endpoint("we_a")
    start = world.clock() - timedelta(hours=1)
    for minute in (4, 0, 3, 1, 2):
        world.failed("we_a", f"txn_{minute}", start + timedelta(minutes=minute))

    first = world.recover("we_a", start)
    second = world.recover("we_a", start)

    assert (first, second) == (Recovered(3, 2), Recovered(2, 0))
    assert [t.event_id for t in world.queue.tasks] == ["txn_0", "txn_1", "txn_2", "txn_3", "txn_4"]


class Stale(FakeWebhookDeliveries):
    """Lists failed deliveries as they were before a resend moved one on (an index read behind)."""

    def failed_since(self, webhook_endpoint_id: str, since: datetime) -> list[Delivery]:
        return [replace(d, status=DeliveryStatus.FAILED, generation=1) for d in self.items.values()]


def test_a_delivery_sent_again_meanwhile_is_not_recovered_twice(world: World) -> None:
    world.deliveries = Stale()
    world.endpoint("we_a")
    world.failed("we_a", "txn_resent", world.clock(), generation=2)  # a resend moved it on
    world.failed("we_a", "txn_failed", world.clock())

    assert world.recover("we_a", world.clock() - timedelta(minutes=1)) == Recovered(1, 0)
    assert [t.event_id for t in world.queue.tasks] == ["txn_failed"]


def test_recover_refuses_a_time_in_the_future_or_past_the_30_days(world: World) -> None:
    world.endpoint("we_a")
    world.failed("we_a", "txn_1", world.clock() - timedelta(days=29))

    with pytest.raises(InvalidRequest, match="future"):
        world.recover("we_a", world.clock() + timedelta(seconds=1))
    with pytest.raises(InvalidRequest, match="30 days"):
        world.recover("we_a", world.clock() - timedelta(days=30, seconds=1))
    assert world.recover("we_a", world.clock() - timedelta(days=30)) == Recovered(1, 0)


def test_recover_needs_the_merchants_own_enabled_endpoint(world: World) -> None:
    world.endpoint("we_off", enabled=False, disabled_reason=DisabledReason.GONE)
    world.endpoint("we_theirs", merchant_id="mer_2")
    world.failed("we_off", "txn_1", world.clock())
    since = world.clock() - timedelta(hours=1)

    with pytest.raises(InvalidState, match="disabled"):
        world.recover("we_off", since)
    with pytest.raises(NotFound):
        world.recover("we_theirs", since)
    assert world.queue.tasks == []


# -- the routes ------------------------------------------------------------------------------------------


def call(
    handler: Any,
    path: dict[str, str],
    authorizer: dict[str, str],
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    event = {
        "pathParameters": path,
        "queryStringParameters": None,
        "headers": {"content-type": content_type},
        "body": None if body is None else (body if isinstance(body, str) else json.dumps(body)),
        "requestContext": {"authorizer": {"lambda": authorizer}},
    }
    response = handler(event, Context())
    return response["statusCode"], json.loads(response["body"])


def resend_route(world: World, event_id: str, authorizer: dict[str, str]) -> tuple[int, Any]:
    handler = resend_event.handler.with_dependencies(
        http.Routed(
            webhook_wiring.Fanout(
                world.endpoints, world.events, world.deliveries, world.queue, clock=world.clock
            )
        )
    )
    return call(handler, {"eventId": event_id}, authorizer)


def recover_route(world: World, endpoint_id: str, authorizer: dict[str, str], body: Any) -> tuple[int, Any]:
    handler = recover_webhook_endpoint.handler.with_dependencies(
        http.Routed(
            recover_webhook_endpoint.Dependencies(
                world.endpoints, world.deliveries, world.queue, clock=world.clock
            )
        )
    )
    return call(handler, {"webhookEndpointId": endpoint_id}, authorizer, body)


def test_the_resend_route_answers_where_the_event_went_and_404_for_another_merchant(world: World) -> None:
    world.endpoint("we_a")
    world.dispatch()

    status, body = resend_route(world, EVENT_ID, MERCHANT_1)
    refused = resend_route(world, EVENT_ID, MERCHANT_2)

    assert (status, body) == (202, {"eventId": EVENT_ID, "webhookEndpointIds": ["we_a"]})
    assert (refused[0], refused[1]["error"]["code"]) == (404, "not_found")
    unknown = resend_route(world, "txn_unknown", MERCHANT_2)[1]
    assert refused[1]["error"]["message"] == unknown["error"]["message"].replace("txn_unknown", EVENT_ID)
    assert len(world.queue.tasks) == 2  # the dispatch's and the one resend


def test_the_recover_route_answers_how_many_and_refuses_a_bad_since(world: World) -> None:
    world.endpoint("we_a")
    world.failed("we_a", "txn_1", world.clock() - timedelta(minutes=5))
    hour_ago = (world.clock() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    assert recover_route(world, "we_a", MERCHANT_1, {"since": hour_ago}) == (
        202,
        {"recovered": 1, "remaining": 0},
    )
    refusals = [
        {"since": "yesterday"},
        {"since": "2026-11-24T12:00:00"},  # no offset: no moment
        {"since": "2026-11-24"},
        {"since": (world.clock() + timedelta(hours=1)).isoformat()},
        {"since": (world.clock() - timedelta(days=31)).isoformat()},
        {"since": 1732449600},
        {"since": hour_ago, "status": "failed"},
        {},
    ]
    for body in refusals:
        status, answer = recover_route(world, "we_a", MERCHANT_1, body)
        assert (status, answer["error"]["code"]) == (400, "invalid_request"), body
    assert recover_route(world, "we_a", MERCHANT_2, {"since": hour_ago})[0] == 404
    assert len(world.queue.tasks) == 1


def test_since_takes_an_offset_in_any_form_and_keeps_the_moment() -> None:
    moment = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    for text in ("2026-11-24T11:00:00Z", "2026-11-24T12:00:00+01:00", "2026-11-24T11:00:00.000+00:00"):
        assert since_time(text) == moment, text


# -- the spec says what the routes answer -----------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def test_the_spec_describes_what_the_routes_answer(spec: dict[str, Any], world: World) -> None:
    world.endpoint("we_01JHMR6K20V5R1X5AM5BNPXYCM")
    world.dispatch()
    world.failed("we_01JHMR6K20V5R1X5AM5BNPXYCM", "txn_2", world.clock())
    since = (world.clock() - timedelta(hours=1)).isoformat()

    resent = resend_route(world, EVENT_ID, MERCHANT_1)[1]
    recovered = recover_route(world, "we_01JHMR6K20V5R1X5AM5BNPXYCM", MERCHANT_1, {"since": since})[1]

    schema_validator(spec, {"$ref": "#/components/schemas/WebhookEventResent"}).validate(resent)
    schema_validator(spec, {"$ref": "#/components/schemas/WebhookDeliveriesRecovered"}).validate(recovered)
    schemas = spec["components"]["schemas"]
    assert set(schemas["WebhookEventResent"]["required"]) == set(resent)
    assert set(schemas["WebhookDeliveriesRecovered"]["required"]) == set(recovered)
    assert schemas["WebhookDeliveriesRecovered"]["properties"]["recovered"]["maximum"] == (
        webhook_replay.MAX_RECOVERED
    )


def test_the_recover_body_is_the_model_and_its_examples_are_accepted(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["RecoverWebhookEndpoint"]
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(RecoverBody.model_fields) == set(schema["required"])
    assert schema["properties"]["since"]["maxLength"] == MAX_SINCE_LENGTH
    operation = spec["paths"]["/v1/webhook-endpoints/{webhookEndpointId}/recover"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"].values()
    for example in examples:
        since_time(http.parse(RecoverBody, example["value"]).since)
    messages = {
        example["value"]["error"]["message"]
        for example in operation["responses"]["400"]["content"]["application/json"]["examples"].values()
    }
    world = World()
    world.endpoint("we_a")
    for since in ("soon", (world.clock() + timedelta(days=1)).isoformat(), "2000-01-01T00:00:00Z"):
        assert recover_route(world, "we_a", MERCHANT_1, {"since": since})[1]["error"]["message"] in messages
