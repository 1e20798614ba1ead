"""Delivering payment events to merchant webhook endpoints, on the fakes of every port: the fan-out (each
event kept once, a delivery to each endpoint that wants it, queued at least once and copies harmless),
and the worker's attempts (signed as the official library verifies, retried on the schedule with the
same `webhook-id`, 410 and long failure disabling the endpoint, duplicates and stale messages dropped)."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from payments.adapters.event_topic import event_body
from payments.adapters.sqs_webhook_queue import task_body
from payments.domain.checkout import amount_tier
from payments.domain.errors import ConcurrentUpdate
from payments.domain.events import EventType, PaymentEvent
from payments.domain.intents import Status
from payments.domain.merchant_webhooks import RetrySchedule, body_bytes, payment_payload
from payments.domain.money import Money
from payments.domain.webhook_endpoints import (
    DISABLE_AFTER_FAILING_SECONDS,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    WebhookEndpoint,
)
from payments.functions import webhook_delivery_worker, webhook_dispatcher, webhook_wiring
from payments.service.webhook_delivery import (
    DeliveryWork,
    MessageTimer,
    attempt_delivery,
    dispatch,
    webhook_event_for,
)
from payments.service.webhook_ports import Answer, DeliveryQueue, DeliveryTask, WebhookSender
from tests.unit.fakes import FakeAlerts, FakeClock
from tests.unit.webhook_fakes import (
    FakeDeliveryQueue,
    FakeWebhookDeliveries,
    FakeWebhookEndpoints,
    FakeWebhookEvents,
    FakeWebhookSecrets,
    FakeWebhookSender,
)

SCHEDULE = "5,300,1800"


class Context:
    function_name = "payments-webhook-delivery-worker"


class World:
    """Every port, faked, around one merchant's endpoints."""

    def __init__(self) -> None:
        # Now, as the official library checks the signed timestamp against its own clock
        self.clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
        self.endpoints = FakeWebhookEndpoints()
        self.secrets = FakeWebhookSecrets()
        self.events = FakeWebhookEvents()
        self.deliveries = FakeWebhookDeliveries()
        self.queue = FakeDeliveryQueue()
        self.alerts = FakeAlerts()
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
        return endpoint

    def dispatch(self, event: PaymentEvent) -> list[DeliveryTask]:
        webhook_event = webhook_event_for(event)
        assert webhook_event is not None
        return dispatch(
            webhook_event,
            endpoints=self.endpoints,
            events=self.events,
            deliveries=self.deliveries,
            queue=self.queue,
            now=self.clock(),
        )

    def work(self, sender: WebhookSender | None = None) -> DeliveryWork:
        return DeliveryWork(
            endpoints=self.endpoints,
            secrets=self.secrets,
            events=self.events,
            deliveries=self.deliveries,
            sender=sender or self.sender,
            alerts=self.alerts,
            schedule=RetrySchedule.parse(SCHEDULE),
            clock=self.clock,
            draw=random.Random(7),
        )

    def delivery(self, endpoint_id: str, event_id: str = "txn_1_capt") -> Delivery:
        return self.deliveries.get(endpoint_id, event_id)


def payment_event(
    event_type: EventType = EventType.CAPTURED,
    *,
    merchant_id: str | None = "mer_1",
    event_id: str = "txn_1_capt",
) -> PaymentEvent:
    amount = Money.of(2500, "USD")
    return PaymentEvent(
        event_id=event_id,
        event_type=event_type,
        payment_intent_id="pi_1",
        customer_id="cus_1",
        amount=amount,
        amount_tier=amount_tier(amount),
        occurred_at=datetime(2026, 11, 24, 11, 59, tzinfo=UTC),
        status=Status.CAPTURED,
        released=Money.of(0, "USD"),
        merchant_id=merchant_id,
    )


@pytest.fixture
def world() -> World:
    return World()


# -- the fan-out --------------------------------------------------------------------------------------


def test_an_event_goes_to_each_of_its_merchants_endpoints_that_wants_it(world: World) -> None:
    world.endpoint("we_all")
    world.endpoint("we_captures", events=("payment.captured",))
    world.endpoint("we_refunds", events=("payment.refunded",))
    world.endpoint("we_off", enabled=False, disabled_reason=DisabledReason.BY_MERCHANT)
    world.endpoint("we_other", merchant_id="mer_2")

    tasks = world.dispatch(payment_event())

    assert sorted(task.webhook_endpoint_id for task in tasks) == ["we_all", "we_captures"]
    assert world.queue.tasks == tasks
    assert {task.generation for task in tasks} == {1}
    kept = world.events.get("mer_1", "txn_1_capt")
    assert kept.body == body_bytes(payment_payload(payment_event()))
    assert (kept.event_type, kept.payment_intent_id) == ("payment.captured", "pi_1")
    delivery = world.delivery("we_all")
    assert (delivery.status, delivery.attempts, delivery.event_type) == (
        DeliveryStatus.PENDING,
        0,
        "payment.captured",
    )


def test_an_event_that_names_no_merchant_is_delivered_to_no_one(world: World) -> None:
    world.endpoint("we_all")
    assert webhook_event_for(payment_event(merchant_id=None)) is None


def test_a_repeated_event_queues_a_delivery_again_only_while_no_attempt_was_made(world: World) -> None:
    world.endpoint("we_a")
    world.endpoint("we_b")
    world.dispatch(payment_event())
    # Given we_a's delivery was attempted (and failed) since
    task_a = next(task for task in world.queue.tasks if task.webhook_endpoint_id == "we_a")
    world.sender.answers = [Answer(500, 30)]
    attempt_delivery(task_a, "msg_a", world.work())
    world.queue.tasks.clear()

    # When the same event comes again (a duplicate notification, or a dispatch retried)
    tasks = world.dispatch(payment_event())

    # Then only the delivery that may never have been queued is queued again, and nothing is added
    assert [task.webhook_endpoint_id for task in tasks] == ["we_b"]
    assert len(world.deliveries.items) == 2
    assert world.delivery("we_a").attempts == 1


class BrokenOnce(DeliveryQueue):
    def __init__(self) -> None:
        self.broken = True
        self.tasks: list[DeliveryTask] = []

    def enqueue(self, tasks: Any) -> None:
        if self.broken:
            self.broken = False
            raise RuntimeError("the queue did not answer")
        self.tasks.extend(tasks)


def test_a_dispatch_that_fails_before_queueing_queues_its_deliveries_when_run_again(world: World) -> None:
    world.endpoint("we_a")
    world.queue = BrokenOnce()  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        world.dispatch(payment_event())
    assert world.delivery("we_a").status is DeliveryStatus.PENDING  # added, never queued

    world.dispatch(payment_event())

    assert [task.webhook_endpoint_id for task in world.queue.tasks] == ["we_a"]


def sqs_record(message_id: str, body: dict[str, Any], receipt: str = "") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt or f"rh-{message_id}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:payments-webhook-events-dev",
    }


def test_the_dispatcher_reads_the_topics_raw_messages_and_reports_a_bad_one_alone(world: World) -> None:
    world.endpoint("we_a")
    handler = webhook_dispatcher.handler.with_dependencies(
        webhook_wiring.Fanout(
            endpoints=world.endpoints,
            events=world.events,
            deliveries=world.deliveries,
            queue=world.queue,
            clock=world.clock,
        )
    )
    records = [
        sqs_record("m1", event_body(payment_event())),
        sqs_record("m2", {"eventId": "txn_broken"}),
        sqs_record("m3", event_body(payment_event(merchant_id=None, event_id="txn_old"))),
    ]

    response = handler({"Records": records}, Context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert [task.event_id for task in world.queue.tasks] == ["txn_1_capt"]


# -- one attempt ----------------------------------------------------------------------------------------


def test_a_delivery_is_signed_so_the_official_library_verifies_it(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())

    outcome = attempt_delivery(task, "msg_1", world.work())

    assert (outcome.retry_in, outcome.reason) == (None, "delivered")
    ((url, headers, body),) = world.sender.sent
    assert url == "https://hooks.example/we_a"
    assert headers["webhook-id"] == "txn_1_capt"
    assert Webhook(world.signing["we_a"]).verify(body, headers) == payment_payload(payment_event())
    delivery = world.delivery("we_a")
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )


def test_a_rotated_secret_signs_beside_the_new_one(world: World) -> None:
    world.endpoint("we_a")
    old = world.signing["we_a"]
    new = world.secrets.rotate("we_a", world.clock())
    (task,) = world.dispatch(payment_event())

    attempt_delivery(task, "msg_1", world.work())

    ((_, headers, body),) = world.sender.sent
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)


def test_a_failed_delivery_is_retried_on_the_schedule_with_the_same_id_then_fails(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    world.sender.answers = [Answer(503, 40)]
    waits = []
    for attempt, base in enumerate([5, 300, 1800], start=1):
        outcome = attempt_delivery(task, "msg_1", world.work())
        assert outcome.retry_in is not None, attempt
        assert 0.8 * base <= outcome.retry_in <= 1.2 * base  # the schedule's wait, jittered
        delivery = world.delivery("we_a")
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            DeliveryStatus.PENDING,
            attempt,
            503,
        )
        assert delivery.next_attempt_at == world.clock() + timedelta(seconds=outcome.retry_in)
        waits.append(outcome.retry_in)
        world.clock.advance(seconds=outcome.retry_in)

    last = attempt_delivery(task, "msg_1", world.work())

    assert (last.retry_in, last.reason) == (None, "failed after 4 attempts")
    assert world.delivery("we_a").status is DeliveryStatus.FAILED
    assert {headers["webhook-id"] for _, headers, _ in world.sender.sent} == {"txn_1_capt"}
    assert len({body for _, _, body in world.sender.sent}) == 1  # the same bytes every time
    assert world.endpoints.get("mer_1", "we_a").failing_since is not None


def test_a_message_back_before_its_attempt_is_due_waits_the_rest(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    world.sender.answers = [Answer(500, 40)]
    first = attempt_delivery(task, "msg_1", world.work())
    assert first.retry_in is not None
    world.clock.advance(seconds=first.retry_in - 3)

    early = attempt_delivery(task, "msg_1", world.work())

    assert (early.reason, early.retry_in) == ("not due yet", 3)
    assert len(world.sender.sent) == 1


def test_a_copy_of_the_message_is_dropped_once_the_first_made_an_attempt(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    world.sender.answers = [Answer(500, 40)]
    first = attempt_delivery(task, "msg_1", world.work())
    assert first.retry_in is not None
    world.clock.advance(seconds=first.retry_in)

    copy = attempt_delivery(task, "msg_2", world.work())

    assert (copy.retry_in, copy.reason) == (None, "a copy of the message that makes this delivery's attempts")
    assert len(world.sender.sent) == 1
    assert attempt_delivery(task, "msg_1", world.work()).attempt == 2  # the first carries on


class Preempted(FakeWebhookDeliveries):
    """Another worker records the same attempt while this one is sending."""

    def save(self, delivery: Delivery, *, expected_attempts: int, expected_generation: int) -> None:
        current = self.get(delivery.webhook_endpoint_id, delivery.event_id)
        self.items[(delivery.webhook_endpoint_id, delivery.event_id)] = replace(
            current, attempts=current.attempts + 1
        )
        super().save(delivery, expected_attempts=expected_attempts, expected_generation=expected_generation)


def test_an_attempt_another_worker_recorded_first_is_dropped_and_changes_nothing_else(world: World) -> None:
    world.endpoint("we_a", failing_since=world.clock() - timedelta(hours=1))
    (task,) = world.dispatch(payment_event())
    preempted = Preempted()
    preempted.items = world.deliveries.items
    world.deliveries = preempted

    outcome = attempt_delivery(task, "msg_2", world.work())

    assert outcome.reason == "another worker recorded this attempt"
    assert outcome.retry_in is None
    assert world.endpoints.get("mer_1", "we_a").failing_since is not None  # not this worker's to clear


def test_a_message_of_an_older_generation_or_a_settled_delivery_is_dropped_unsent(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    resent = world.delivery("we_a").sent_again(world.clock())
    world.deliveries.save(resent, expected_attempts=0, expected_generation=1)

    stale = attempt_delivery(task, "msg_1", world.work())
    current = attempt_delivery(replace(task, generation=2), "msg_2", world.work())
    again = attempt_delivery(replace(task, generation=2), "msg_2", world.work())

    assert stale.reason == "a message of generation 1, the delivery is at 2"
    assert current.reason == "delivered"
    assert again.reason == "the delivery is succeeded"
    assert len(world.sender.sent) == 1


def test_success_clears_the_endpoints_failure_and_saves_it_only_if_it_changed(world: World) -> None:
    world.endpoint("we_failing", failing_since=world.clock() - timedelta(days=1))
    world.endpoint("we_fine")
    tasks = world.dispatch(payment_event())

    for number, task in enumerate(tasks):
        attempt_delivery(task, f"msg_{number}", world.work())

    failing, fine = world.endpoints.get("mer_1", "we_failing"), world.endpoints.get("mer_1", "we_fine")
    assert (failing.failing_since, failing.version) == (None, 2)
    assert (fine.failing_since, fine.version) == (None, 1)


def test_410_disables_the_endpoint_and_fails_its_deliveries_unsent(world: World) -> None:
    world.endpoint("we_a")
    (first,) = world.dispatch(payment_event())
    (second,) = world.dispatch(payment_event(EventType.REFUNDED, event_id="txn_1_ref"))
    world.sender.answers = [Answer(410, 20)]

    gone = attempt_delivery(first, "msg_1", world.work())
    later = attempt_delivery(second, "msg_2", world.work())

    assert (gone.retry_in, gone.reason) == (None, "the endpoint answered 410: disabled")
    endpoint = world.endpoints.get("mer_1", "we_a")
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, DisabledReason.GONE)
    assert world.delivery("we_a").status is DeliveryStatus.FAILED
    assert later.reason == "not sent: the endpoint is disabled"
    assert world.delivery("we_a", "txn_1_ref").status is DeliveryStatus.FAILED
    assert len(world.sender.sent) == 1


class MovedWhileSending(FakeWebhookSender):
    """The merchant points the endpoint elsewhere while an attempt to the old URL is on its way."""

    def __init__(self, world: World, answer: Answer) -> None:
        super().__init__(answer)
        self.world = world

    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        current = self.world.endpoints.get("mer_1", "we_a")
        self.world.endpoints.save(replace(current, url="https://hooks.example/new"))
        return super().send(url, headers, body)


def test_an_answer_of_an_old_url_says_nothing_of_the_endpoints_new_one(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())

    outcome = attempt_delivery(task, "msg_1", world.work(MovedWhileSending(world, Answer(410, 20))))

    assert outcome.retry_in is None  # the delivery to the old URL is done with
    endpoint = world.endpoints.get("mer_1", "we_a")
    assert (endpoint.url, endpoint.enabled, endpoint.failing_since) == (
        "https://hooks.example/new",
        True,
        None,
    )


def test_a_deleted_endpoints_delivery_fails_unsent(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    world.endpoints.delete("mer_1", "we_a")

    outcome = attempt_delivery(task, "msg_1", world.work())

    assert outcome.retry_in is None
    assert outcome.reason.startswith("not sent: no webhook endpoint we_a")
    assert (world.delivery("we_a").status, world.delivery("we_a").attempts) == (DeliveryStatus.FAILED, 0)
    assert world.sender.sent == []


def test_an_endpoint_failing_for_five_days_is_disabled_and_ops_are_told_once(world: World) -> None:
    since = world.clock() - timedelta(seconds=DISABLE_AFTER_FAILING_SECONDS - 60)
    world.endpoint("we_a", failing_since=since)
    (task,) = world.dispatch(payment_event())
    world.sender.answers = [Answer(None, 15_000, error="no answer within 15 s")]

    first = attempt_delivery(task, "msg_1", world.work())
    assert world.endpoints.get("mer_1", "we_a").enabled  # not yet five days
    assert first.retry_in is not None
    world.clock.advance(seconds=first.retry_in + 60)
    attempt_delivery(task, "msg_1", world.work())

    endpoint = world.endpoints.get("mer_1", "we_a")
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, DisabledReason.FAILING)
    ((subject, details),) = world.alerts.alerts
    assert "disabled" in subject
    assert details["webhookEndpointId"] == "we_a"
    delivery = world.delivery("we_a")
    assert (delivery.last_status_code, delivery.attempts) == (None, 2)


# -- the worker's batches ----------------------------------------------------------------------------------


class Timer(MessageTimer):
    def __init__(self) -> None:
        self.postponed: list[tuple[str, int]] = []

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self.postponed.append((receipt_handle, seconds))


class ByUrl(WebhookSender):
    """Answers by endpoint; every call waits until `together` calls are in (or fails after a second)."""

    def __init__(self, answers: dict[str, Answer], together: int = 1) -> None:
        self.answers = answers
        self.barrier = threading.Barrier(together, timeout=1)

    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        self.barrier.wait()
        return self.answers[url.rsplit("/", 1)[1]]


def worker(world: World, sender: WebhookSender, timer: MessageTimer) -> Any:
    return webhook_delivery_worker.handler.with_dependencies(
        webhook_delivery_worker.Dependencies(
            endpoints=world.endpoints,
            secrets=world.secrets,
            events=world.events,
            deliveries=world.deliveries,
            sender=sender,
            alerts=world.alerts,
            timer=timer,
            schedule=RetrySchedule.parse(SCHEDULE),
            clock=world.clock,
        )
    )


def test_a_batch_is_attempted_at_once_and_reports_what_comes_back(world: World) -> None:
    for name in ("we_ok", "we_down", "we_slow"):
        world.endpoint(name)
    tasks = {task.webhook_endpoint_id: task for task in world.dispatch(payment_event())}
    timer = Timer()
    # Three receivers, each of which answers only once all three were called: only attempts made
    # at the same time get through
    sender = ByUrl({"we_ok": Answer(200, 5), "we_down": Answer(502, 5), "we_slow": Answer(200, 5)}, 3)
    records = [sqs_record(f"m_{name}", task_body(task), receipt=f"rh_{name}") for name, task in tasks.items()]
    records.append(sqs_record("m_junk", {"nothing": "here"}))

    response = worker(world, sender, timer)({"Records": records}, Context())

    assert sorted(item["itemIdentifier"] for item in response["batchItemFailures"]) == ["m_junk", "m_we_down"]
    ((receipt, seconds),) = timer.postponed
    assert receipt == "rh_we_down"
    assert 4 <= seconds <= 6
    assert world.delivery("we_ok").status is world.delivery("we_slow").status is DeliveryStatus.SUCCEEDED


class Raising(WebhookSender):
    def send(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        raise ConcurrentUpdate("stand-in for anything unexpected")


def test_a_record_whose_attempt_raises_is_reported_failed_alone(world: World) -> None:
    world.endpoint("we_a")
    (task,) = world.dispatch(payment_event())
    timer = Timer()

    response = worker(world, Raising(), timer)({"Records": [sqs_record("m1", task_body(task))]}, Context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert timer.postponed == []
    assert world.delivery("we_a").attempts == 0
