"""Checkout and refund batch outcomes as merchant webhook events: each built from its record, its id made
from what it announces (so a record read again, or a stream batch retried, is the same event, kept
once), found in the tables' writes (the real adapters on the in-process emulator, each write's item
before and after standing for its stream record's images), sent onto the webhook-events queue in a
shape the dispatcher tells from a payment event's, and fanned out like one."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from payments.adapters.dynamodb_checkouts import DynamoDBCheckoutRepository, outcomes_of
from payments.adapters.dynamodb_refund_batches import DynamoDBRefundBatches, completed_batch
from payments.adapters.event_topic import event_body
from payments.adapters.sqs_webhook_events import (
    SqsWebhookEventQueue,
    is_webhook_event,
    message_body,
    webhook_event_from_message,
)
from payments.domain.checkout import CheckoutStatus, amount_tier
from payments.domain.events import EventType, PaymentEvent
from payments.domain.intents import PaymentIntent, Status
from payments.domain.merchant_webhooks import EVENT_TYPES, event_types
from payments.domain.money import Money
from payments.domain.refund_batches import RowError, RowState
from payments.domain.webhook_endpoints import WebhookEndpoint, WebhookEvent
from payments.functions import checkout_tasks, webhook_dispatcher, webhook_outcomes, webhook_wiring
from payments.service.ports import (
    AuditArchive,
    CheckoutRecord,
    CheckoutRepository,
    ExecutionStatus,
    RefundBatch,
    Workflow,
)
from payments.service.webhook_outcomes import (
    OUTCOME_TYPES,
    CheckoutOutcome,
    WebhookEventQueue,
    checkout_event,
    refund_batch_event,
)
from tests.unit.fakes import FakeAlerts, FakeClock, FakeIntentRepository
from tests.unit.webhook_fakes import (
    FakeDeliveryQueue,
    FakeWebhookDeliveries,
    FakeWebhookEndpoints,
    FakeWebhookEvents,
)

CHECKOUTS = "checkouts-test"
BATCHES = "refund-batches-test"
AT = datetime(2026, 11, 24, 12, 0, 5, tzinfo=UTC)
WRITTEN = 1_795_521_605  # AT as a stream record's ApproximateCreationDateTime
SUCCEEDED = CheckoutOutcome(CheckoutStatus.SUCCEEDED)
DECLINED = CheckoutOutcome(CheckoutStatus.FAILED, error_code="card_declined")


def action_required(step_up: int) -> CheckoutOutcome:
    return CheckoutOutcome(CheckoutStatus.ACTION_REQUIRED, step_up=step_up)


def an_intent(**fields: Any) -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=Money.of(4_999, "EUR"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_3ds_required",
        now=AT - timedelta(minutes=1),
        time_to_live=timedelta(hours=24),
    )
    return replace(intent, **fields)


def data(event: WebhookEvent) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(event.body)
    assert (payload["type"], payload["timestamp"]) == (event.event_type, "2026-11-24T12:00:05.000Z")
    found: dict[str, Any] = payload["data"]
    return found


class Queue(WebhookEventQueue):
    def __init__(self) -> None:
        self.sent: list[WebhookEvent] = []

    def send(self, event: WebhookEvent) -> None:
        self.sent.append(event)


# -- the events ------------------------------------------------------------------------------------------


def test_each_checkout_outcome_is_an_event_named_by_what_it_announces() -> None:
    intent = an_intent(status=Status.AUTHORIZED, version=3)

    succeeded = checkout_event("chk_1", SUCCEEDED, intent, AT)

    assert (succeeded.event_id, succeeded.event_type) == ("evt_chk_1_succeeded", "checkout.succeeded")
    assert (succeeded.merchant_id, succeeded.payment_intent_id) == ("mer_1", intent.payment_intent_id)
    assert data(succeeded) == {
        "eventId": "evt_chk_1_succeeded",
        "merchantId": "mer_1",
        "trackingId": "chk_1",
        "paymentIntentId": intent.payment_intent_id,
        "status": "SUCCEEDED",
        "paymentStatus": "AUTHORIZED",
        "version": 3,
    }
    # A failure says its code, not its message (which may name a fault)
    failed = checkout_event("chk_1", DECLINED, replace(intent, status=Status.DECLINED), AT)
    assert (failed.event_id, failed.event_type) == ("evt_chk_1_failed", "checkout.failed")
    assert (data(failed)["status"], data(failed)["paymentStatus"]) == ("FAILED", "DECLINED")
    assert data(failed)["error"] == {"code": "card_declined"}


def test_each_wait_for_a_challenge_is_its_own_event_with_the_url_the_processor_gave() -> None:
    url = "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3"
    waiting = an_intent(authentication_url=url)

    first = checkout_event("chk_1", action_required(1), an_intent(), AT)
    second = checkout_event("chk_1", action_required(2), waiting, AT)

    assert (first.event_id, second.event_id) == (
        "evt_chk_1_action_required_1",
        "evt_chk_1_action_required_2",
    )
    assert first.event_type == second.event_type == "checkout.action_required"
    assert (data(first)["status"], data(first)["paymentStatus"]) == ("ACTION_REQUIRED", "PENDING")
    assert "redirectUrl" not in data(first)
    assert data(second)["redirectUrl"] == url
    # ... and only a wait carries it: the URL means nothing once the checkout is over
    assert "redirectUrl" not in data(checkout_event("chk_1", SUCCEEDED, waiting, AT))


def test_an_outcome_made_again_is_the_same_event_byte_for_byte() -> None:
    intent = an_intent(status=Status.AUTHORIZED)
    assert checkout_event("chk_1", SUCCEEDED, intent, AT) == checkout_event("chk_1", SUCCEEDED, intent, AT)
    batch = RefundBatch("rb_1", total=3, succeeded=2, failed=1, merchant_id="mer_1")
    assert refund_batch_event(batch, AT) == refund_batch_event(batch, AT)


def test_an_outcome_is_only_what_its_status_allows() -> None:
    with pytest.raises(ValueError, match="SUCCEEDED, FAILED or ACTION_REQUIRED"):
        CheckoutOutcome(CheckoutStatus.RUNNING)
    with pytest.raises(ValueError, match="step-up number"):
        CheckoutOutcome(CheckoutStatus.ACTION_REQUIRED)
    with pytest.raises(ValueError, match="step-up number"):
        CheckoutOutcome(CheckoutStatus.SUCCEEDED, step_up=1)
    with pytest.raises(ValueError, match="error code"):
        CheckoutOutcome(CheckoutStatus.FAILED)


def test_a_completed_refund_batch_is_its_counts_and_a_platform_batch_is_no_ones() -> None:
    batch = RefundBatch(
        "rb_1", total=4, succeeded=2, failed=1, dead_lettered=1, queued=3, merchant_id="mer_1"
    )

    event = refund_batch_event(batch, AT)

    assert event is not None
    assert (event.event_id, event.event_type, event.merchant_id) == (
        "evt_rb_1_completed",
        "refund_batch.completed",
        "mer_1",
    )
    assert event.payment_intent_id is None
    assert data(event) == {
        "eventId": "evt_rb_1_completed",
        "merchantId": "mer_1",
        "batchId": "rb_1",
        "total": 4,
        "succeeded": 2,
        "failed": 1,
        "deadLettered": 1,
    }
    assert refund_batch_event(replace(batch, merchant_id=None), AT) is None
    with pytest.raises(ValueError, match="1 row"):
        refund_batch_event(replace(batch, succeeded=1), AT)


def test_every_outcome_type_is_a_type_endpoints_may_ask_for() -> None:
    assert set(EVENT_TYPES) >= OUTCOME_TYPES
    assert event_types(sorted(OUTCOME_TYPES)) == tuple(sorted(OUTCOME_TYPES))
    assert not OUTCOME_TYPES & {t for t in EVENT_TYPES if t.startswith("payment.")}


# -- found in the tables' writes ------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        dynamodb.create_table(
            TableName=CHECKOUTS,
            KeySchema=[{"AttributeName": "trackingId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "trackingId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName=BATCHES,
            KeySchema=[
                {"AttributeName": "batchId", "KeyType": "HASH"},
                {"AttributeName": "item", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "batchId", "AttributeType": "S"},
                {"AttributeName": "item", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


Image = dict[str, Any]


def write(
    client: Any, table: str, key: Image, change: Callable[[], object]
) -> tuple[Image | None, Image | None]:
    """The item before and after `change`: what its stream record's images hold (NEW_AND_OLD_IMAGES)."""
    old = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    change()
    return old, client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_each_checkout_write_announces_what_it_newly_recorded_and_nothing_twice(client: Any) -> None:
    checkouts = DynamoDBCheckoutRepository(client, table=CHECKOUTS)
    key = {"trackingId": {"S": "chk_1"}}

    def recorded(change: Callable[[], object]) -> list[CheckoutOutcome]:
        return outcomes_of(*write(client, CHECKOUTS, key, change))

    assert recorded(lambda: checkouts.create_if_absent(CheckoutRecord("chk_1", "pi_1", "arn:x"))) == []
    # Each wait for a challenge counts once, by its token: a step-up run again with the same token is
    # the same wait, and clearing the token after the answer announces nothing
    assert recorded(lambda: checkouts.require_action("chk_1", "token-1")) == [action_required(1)]
    assert recorded(lambda: checkouts.require_action("chk_1", "token-1")) == []
    assert checkouts.waiting_task_token("chk_1") == "token-1"
    assert recorded(lambda: checkouts.clear_task_token("chk_1", "token-1")) == []
    assert recorded(lambda: checkouts.require_action("chk_1", "token-2")) == [action_required(2)]
    # The failure once, however often it is written (four workflow states write one)
    failed = CheckoutOutcome(CheckoutStatus.FAILED, error_code="authentication_failed")
    assert recorded(lambda: checkouts.record_failure("chk_1", "authentication_failed", "no")) == [failed]
    assert recorded(lambda: checkouts.record_failure("chk_1", "authentication_failed", "no")) == []
    assert checkouts.get("chk_1").task_token is None

    # A success, once
    other = {"trackingId": {"S": "chk_2"}}
    checkouts.create_if_absent(CheckoutRecord("chk_2", "pi_2", "arn:y"))
    assert outcomes_of(*write(client, CHECKOUTS, other, lambda: checkouts.record_success("chk_2"))) == [
        SUCCEEDED
    ]
    assert outcomes_of(*write(client, CHECKOUTS, other, lambda: checkouts.record_success("chk_2"))) == []
    assert outcomes_of(None, None) == []


def test_no_outcome_is_recorded_on_a_checkout_that_does_not_exist(client: Any) -> None:
    checkouts = DynamoDBCheckoutRepository(client, table=CHECKOUTS)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        checkouts.require_action("chk_x", "t")
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        checkouts.record_success("chk_x")
    assert "Item" not in client.get_item(TableName=CHECKOUTS, Key={"trackingId": {"S": "chk_x"}})


def test_the_write_that_settles_a_batchs_last_pending_row_completes_it_once(client: Any) -> None:
    batches = DynamoDBRefundBatches(client, table=BATCHES)
    batches.create(
        RefundBatch("rb_1", total=3, failed=1, errors=(RowError(4, "bad"),), merchant_id="mer_1"),
        refused=[RowError(4, "bad")],
    )
    key = {"batchId": {"S": "rb_1"}, "item": {"S": "BATCH"}}

    def settled(line: int, state: RowState) -> RefundBatch | None:
        return completed_batch(
            *write(client, BATCHES, key, lambda: batches.settle_row("rb_1", line, state, "x"))
        )

    assert settled(2, RowState.SUCCEEDED) is None
    done = settled(3, RowState.DEAD_LETTERED)
    assert done == batches.get("rb_1")
    assert (done.total, done.succeeded, done.failed, done.dead_lettered, done.pending) == (3, 1, 1, 1, 0)
    # A redrive that settles the dead-lettered row leaves nothing pending before or after: no second one
    assert settled(3, RowState.SUCCEEDED) is None
    # Nor does a write to any other item of the batch's partition
    row = {"batchId": {"S": "rb_1"}, "item": {"S": "ROW#000002"}}
    assert completed_batch(*write(client, BATCHES, row, lambda: None)) is None


def test_a_batch_whose_every_row_was_refused_at_import_is_complete_when_created(client: Any) -> None:
    batches = DynamoDBRefundBatches(client, table=BATCHES)
    key = {"batchId": {"S": "rb_2"}, "item": {"S": "BATCH"}}
    refused = [RowError(2, "bad"), RowError(3, "bad")]

    old, new = write(
        client,
        BATCHES,
        key,
        lambda: batches.create(RefundBatch("rb_2", total=2, failed=2, merchant_id="mer_1"), refused=refused),
    )

    assert old is None
    assert new is not None
    done = completed_batch(old, new)
    assert done is not None
    assert (done.batch_id, done.total, done.failed, done.merchant_id) == ("rb_2", 2, 2, "mer_1")
    # ... and one still to run is not
    assert completed_batch(None, {**new, "failed": {"N": "1"}}) is None


# -- the stream function --------------------------------------------------------------------------------


class Context:
    function_name = "payments-webhook-outcomes"


def stream_record(sequence: str, keys: Image, old: Image | None, new: Image | None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Keys": keys,
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "ApproximateCreationDateTime": WRITTEN,
    }
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {
        "eventID": sequence,
        "eventName": "MODIFY" if old is not None and new is not None else ("INSERT" if new else "REMOVE"),
        "eventSource": "aws:dynamodb",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/x/stream/2026-11-24T00:00:00.000",
        "dynamodb": change,
    }


def checkout_image(tracking_id: str, payment_intent_id: str, **attributes: Image) -> Image:
    return {
        "trackingId": {"S": tracking_id},
        "paymentIntentId": {"S": payment_intent_id},
        "executionArn": {"S": f"arn:aws:states:us-east-1:000000000000:execution:checkout:{tracking_id}"},
        **attributes,
    }


def batch_image(**counts: int) -> Image:
    return {
        "batchId": {"S": "rb_1"},
        "item": {"S": "BATCH"},
        "merchantId": {"S": "mer_1"},
        "queued": {"N": "2"},
        "errors": {"S": "[]"},
        **{name: {"N": str(value)} for name, value in counts.items()},
    }


class Announcer:
    def __init__(self) -> None:
        self.intents = FakeIntentRepository()
        self.queue = Queue()
        self.handler = webhook_outcomes.handler.with_dependencies(
            webhook_outcomes.Dependencies(intents=self.intents, queue=self.queue, clock=FakeClock(AT))
        )

    def run(self, *records: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.handler({"Records": list(records)}, Context())
        return response


def test_the_stream_function_announces_each_outcome_and_a_retried_record_the_same_events() -> None:
    announcer = Announcer()
    intent = an_intent(status=Status.AUTHORIZED, version=4)
    announcer.intents.add(intent)
    pi = intent.payment_intent_id
    waiting = checkout_image("chk_1", pi, taskToken={"S": "token-1"}, stepUps={"N": "1"})
    records = [
        stream_record("1", {"trackingId": {"S": "chk_1"}}, None, checkout_image("chk_1", pi)),
        stream_record("2", {"trackingId": {"S": "chk_1"}}, checkout_image("chk_1", pi), waiting),
        stream_record("3", {"trackingId": {"S": "chk_1"}}, waiting, {**waiting, "succeeded": {"BOOL": True}}),
        stream_record(
            "4",
            {"batchId": {"S": "rb_1"}, "item": {"S": "BATCH"}},
            batch_image(total=2, succeeded=1, failed=0, deadLettered=0),
            batch_image(total=2, succeeded=1, failed=1, deadLettered=0),
        ),
        # A checkout of a payment that does not exist failed `not_found`: it is no merchant's
        stream_record(
            "5",
            {"trackingId": {"S": "chk_2"}},
            checkout_image("chk_2", "pi_gone"),
            checkout_image("chk_2", "pi_gone", failureCode={"S": "not_found"}),
        ),
    ]

    assert announcer.run(*records) == {"batchItemFailures": []}
    first = list(announcer.queue.sent)
    assert [event.event_id for event in first] == [
        "evt_chk_1_action_required_1",
        "evt_chk_1_succeeded",
        "evt_rb_1_completed",
    ]
    assert [event.occurred_at for event in first] == [AT] * 3  # when the write was made
    assert data(first[2])["failed"] == 1

    # The stream delivers the batch again (a retry after a crash): the very same events
    announcer.queue.sent.clear()
    announcer.run(*records)
    assert announcer.queue.sent == first


def test_a_record_of_no_known_table_fails_alone_and_is_retried() -> None:
    announcer = Announcer()
    assert announcer.run(
        stream_record("1", {"somethingId": {"S": "x"}}, None, {"somethingId": {"S": "x"}}),
        stream_record("2", {"trackingId": {"S": "chk_1"}}, None, checkout_image("chk_1", "pi_1")),
    ) == {"batchItemFailures": [{"itemIdentifier": "1"}]}


# -- onto the queue, and fanned out ---------------------------------------------------------------------


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **call: Any) -> dict[str, Any]:
        self.sent.append(call)
        return {"MessageId": "m1"}


def test_an_event_goes_onto_the_queue_as_its_deliveries_send_it_and_comes_back_the_same() -> None:
    sqs = Sqs()
    event = checkout_event("chk_1", SUCCEEDED, an_intent(status=Status.AUTHORIZED), AT)

    SqsWebhookEventQueue(sqs, queue_url="https://sqs/q").send(event)

    ((call),) = sqs.sent
    assert call["QueueUrl"] == "https://sqs/q"
    body = json.loads(call["MessageBody"])
    assert body["kind"] == "webhook_event"
    assert is_webhook_event(body)
    assert webhook_event_from_message(body) == event
    batch = refund_batch_event(RefundBatch("rb_1", total=1, succeeded=1, merchant_id="mer_1"), AT)
    assert batch is not None
    assert webhook_event_from_message(json.loads(json.dumps(message_body(batch)))) == batch


def payment_event() -> PaymentEvent:
    amount = Money.of(1_000, "USD")
    return PaymentEvent(
        event_id="txn_1_auth",
        event_type=EventType.AUTHORIZED,
        payment_intent_id="pi_1",
        customer_id="cus_1",
        amount=amount,
        amount_tier=amount_tier(amount),
        occurred_at=AT,
        status=Status.AUTHORIZED,
        merchant_id="mer_1",
    )


def test_a_message_is_told_by_its_kind_never_guessed_from_its_shape() -> None:
    event = checkout_event("chk_1", SUCCEEDED, an_intent(status=Status.AUTHORIZED), AT)
    body = message_body(event)

    assert is_webhook_event(event_body(payment_event())) is False  # a payment event has no kind
    with pytest.raises(ValueError, match="unknown kind 'payment'"):
        is_webhook_event({**body, "kind": "payment"})
    # A payment type through this path, or a body that says another type than the message, is refused
    with pytest.raises(ValueError, match="no outcome event type"):
        webhook_event_from_message({**body, "type": "payment.captured"})
    with pytest.raises(ValueError, match=r"not a checkout\.failed event"):
        webhook_event_from_message({**body, "type": "checkout.failed"})


def endpoint(endpoint_id: str, events: tuple[str, ...] | None) -> WebhookEndpoint:
    return WebhookEndpoint(endpoint_id, "mer_1", f"https://hooks.example/{endpoint_id}", events, True, AT, AT)


def sqs_record(message_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:payments-webhook-events-dev",
    }


def test_the_dispatcher_fans_an_outcome_out_once_to_the_endpoints_that_want_it() -> None:
    endpoints, events, deliveries, queue = (
        FakeWebhookEndpoints(),
        FakeWebhookEvents(),
        FakeWebhookDeliveries(),
        FakeDeliveryQueue(),
    )
    endpoints.add(endpoint("we_all", None))
    endpoints.add(endpoint("we_checkouts", ("checkout.succeeded", "checkout.failed")))
    endpoints.add(endpoint("we_batches", ("refund_batch.completed",)))
    handler = webhook_dispatcher.handler.with_dependencies(
        webhook_wiring.Fanout(
            endpoints=endpoints, events=events, deliveries=deliveries, queue=queue, clock=FakeClock(AT)
        )
    )
    outcome = checkout_event("chk_1", SUCCEEDED, an_intent(status=Status.AUTHORIZED), AT)
    records = [
        sqs_record("m1", message_body(outcome)),
        sqs_record("m2", message_body(outcome)),  # announced twice (a retried stream record)
        sqs_record("m3", event_body(payment_event())),
        sqs_record("m4", {**message_body(outcome), "kind": "mystery"}),
    ]

    response = handler({"Records": records}, Context())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m4"}]}
    assert events.items["evt_chk_1_succeeded"] == outcome
    # One delivery per endpoint that wants it (a copy of its queued task is dropped by the worker)
    assert sorted(deliveries.items) == [
        ("we_all", "evt_chk_1_succeeded"),
        ("we_all", "txn_1_auth"),
        ("we_checkouts", "evt_chk_1_succeeded"),
    ]
    assert {(t.webhook_endpoint_id, t.event_id) for t in queue.tasks} == set(deliveries.items)


# -- where the checkout's success is recorded -------------------------------------------------------------


class Checkouts(CheckoutRepository):
    """Records each success (failing them when told to); nothing else is reached here."""

    def __init__(self, *, failing: bool = False) -> None:
        self.succeeded: list[str] = []
        self.failing = failing

    def create_if_absent(self, record: CheckoutRecord) -> CheckoutRecord:
        raise NotImplementedError

    def get(self, tracking_id: str) -> CheckoutRecord:
        raise NotImplementedError

    def require_action(self, tracking_id: str, task_token: str) -> None:
        raise NotImplementedError

    def waiting_task_token(self, tracking_id: str) -> str:
        raise NotImplementedError

    def clear_task_token(self, tracking_id: str, task_token: str) -> None:
        raise NotImplementedError

    def record_failure(self, tracking_id: str, code: str, message: str) -> None:
        raise NotImplementedError

    def record_success(self, tracking_id: str) -> None:
        if self.failing:
            raise RuntimeError("DynamoDB is unavailable")
        self.succeeded.append(tracking_id)


class History(Workflow):
    def __init__(self, checkouts: Checkouts) -> None:
        self.checkouts = checkouts

    def execution_arn(self, name: str) -> str:
        raise NotImplementedError

    def start(self, name: str, payload: dict[str, object]) -> None:
        raise NotImplementedError

    def status(self, execution_arn: str) -> ExecutionStatus:
        raise NotImplementedError

    def resume(self, task_token: str, output: dict[str, object]) -> None:
        raise NotImplementedError

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        raise NotImplementedError

    def history(self, execution_arn: str) -> list[dict[str, object]]:
        assert self.checkouts.succeeded == ["chk_1"]  # recorded before anything else of the step
        raise RuntimeError("GetExecutionHistory throttled")


class Archive(AuditArchive):
    def store(self, key: str, document: dict[str, object]) -> None:
        raise NotImplementedError


def test_the_last_step_records_the_success_before_the_audit_that_may_fail() -> None:
    checkouts = Checkouts()
    handler = checkout_tasks.write_audit.with_dependencies(
        checkout_tasks.AuditDependencies(
            workflow=History(checkouts),
            archive=Archive(),
            alerts=FakeAlerts(),
            checkouts=checkouts,
            stage="test",
        )
    )
    event = {"trackingId": "chk_1", "paymentIntentId": "pi_1", "executionArn": "arn:x", "steps": {}}

    with pytest.raises(RuntimeError, match="throttled"):
        handler(event, Context())

    assert checkouts.succeeded == ["chk_1"]


def test_report_incident_records_the_success_and_alerts_even_when_that_fails() -> None:
    caught = {"Error": "RuntimeError", "Cause": json.dumps({"errorMessage": "GetExecutionHistory throttled"})}
    event: dict[str, Any] = {"trackingId": "chk_1", "paymentIntentId": "pi_1", "executionArn": "arn:x"}
    event["steps"] = {"PublishEvent": {"MessageId": "m"}, "SendReceipt": {}, "WriteAudit": caught}
    for failing in (False, True):
        checkouts, alerts = Checkouts(failing=failing), FakeAlerts()
        handler = checkout_tasks.alert_ops.with_dependencies(
            checkout_tasks.AlertDependencies(
                intents=FakeIntentRepository(), checkouts=checkouts, alerts=alerts, stage="test"
            )
        )

        reported = handler(event, Context())

        ((subject, details),) = alerts.alerts
        if failing:
            assert reported == {"reported": ["RecordSuccess", "WriteAudit"]}
            assert subject == "checkout chk_1 succeeded, but WriteAudit, RecordSuccess failed"
            assert details["failed RecordSuccess"] == "RuntimeError: DynamoDB is unavailable"
            assert "checkout.succeeded" in str(details["to do (RecordSuccess)"])
        else:
            assert reported == {"reported": ["WriteAudit"]}
            assert checkouts.succeeded == ["chk_1"]
