"""Webhook events and deliveries on the emulator, in the tables of template.yaml: an event kept once
with its exact bytes and read back by its merchant only, a delivery added once, an attempt recorded by
exactly one of the workers racing for it, and the log newest first, page by page."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.adapters.dynamodb_webhook_deliveries import DynamoDBWebhookDeliveries, DynamoDBWebhookEvents
from payments.domain.errors import ConcurrentUpdate, InvalidRequest, NotFound
from payments.domain.webhook_endpoints import Delivery, DeliveryStatus, WebhookEvent

pytestmark = pytest.mark.enable_socket
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def events(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBWebhookEvents:
    return DynamoDBWebhookEvents(dynamodb, table=table_names["WebhookEventsTable"])


@pytest.fixture
def deliveries(dynamodb: Any, table_names: dict[str, str]) -> DynamoDBWebhookDeliveries:
    return DynamoDBWebhookDeliveries(dynamodb, table=table_names["WebhookDeliveriesTable"])


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_an_event_is_kept_once_with_its_exact_bytes_for_its_merchant_only(
    events: DynamoDBWebhookEvents, dynamodb: Any, table_names: dict[str, str]
) -> None:
    body = b'{"data":{"amount":2500,"note":"caf\xc3\xa9 \x00"},"type":"payment.captured"}'
    event = WebhookEvent(_id("txn"), "mer_1", "payment.captured", body, NOW, payment_intent_id="pi_1")

    assert events.add(event) is True
    assert events.add(replace(event, body=b"{}")) is False  # a repeat changes nothing

    assert events.get("mer_1", event.event_id) == event
    with pytest.raises(NotFound):
        events.get("mer_2", event.event_id)
    item = dynamodb.get_item(
        TableName=table_names["WebhookEventsTable"], Key={"eventId": {"S": event.event_id}}
    )
    assert int(item["Item"]["expiresAt"]["N"]) == int((NOW + timedelta(days=30)).timestamp())


def test_an_event_without_a_payment_reads_back_without_one(events: DynamoDBWebhookEvents) -> None:
    event = WebhookEvent(_id("evt_test"), "mer_1", "payment.authorized", b"{}", NOW)
    events.add(event)
    assert events.get("mer_1", event.event_id).payment_intent_id is None


def _delivery(endpoint: str, event_id: str, created: datetime = NOW) -> Delivery:
    return Delivery(endpoint, event_id, "mer_1", "payment.captured", created_at=created, updated_at=created)


def test_a_delivery_is_added_once_and_every_field_reads_back(deliveries: DynamoDBWebhookDeliveries) -> None:
    endpoint, event_id = _id("we"), _id("txn")
    delivery = _delivery(endpoint, event_id)
    assert deliveries.add(delivery) is True
    assert deliveries.add(replace(delivery, attempts=5)) is False
    assert deliveries.get(endpoint, event_id) == delivery

    attempted = replace(
        delivery.attempted(
            now=NOW + timedelta(seconds=1),
            status_code=503,
            latency_ms=42,
            error="HTTP 503",
            next_attempt_at=NOW + timedelta(seconds=6),
        ),
        attempted_by="msg-1",
    )
    deliveries.save(attempted, expected_attempts=0, expected_generation=1)

    assert deliveries.get(endpoint, event_id) == attempted
    with pytest.raises(NotFound):
        deliveries.get(endpoint, _id("txn"))


def test_of_workers_racing_to_record_one_attempt_exactly_one_wins(
    deliveries: DynamoDBWebhookDeliveries,
) -> None:
    endpoint, event_id = _id("we"), _id("txn")
    deliveries.add(_delivery(endpoint, event_id))

    def record(worker: int) -> bool:
        attempted = replace(
            _delivery(endpoint, event_id).attempted(
                now=NOW, status_code=200, latency_ms=worker, error=None, next_attempt_at=None
            ),
            attempted_by=f"msg-{worker}",
        )
        try:
            deliveries.save(attempted, expected_attempts=0, expected_generation=1)
        except ConcurrentUpdate:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(record, range(8)))

    assert won.count(True) == 1
    stored = deliveries.get(endpoint, event_id)
    assert (stored.attempts, stored.status) == (1, DeliveryStatus.SUCCEEDED)
    assert stored.attempted_by == f"msg-{won.index(True)}"


def test_a_save_over_another_generation_is_refused(deliveries: DynamoDBWebhookDeliveries) -> None:
    endpoint, event_id = _id("we"), _id("txn")
    delivery = _delivery(endpoint, event_id)
    deliveries.add(delivery)
    deliveries.save(delivery.sent_again(NOW), expected_attempts=0, expected_generation=1)
    with pytest.raises(ConcurrentUpdate):
        deliveries.save(delivery, expected_attempts=0, expected_generation=1)


def test_the_log_is_newest_first_page_by_page_and_a_token_is_its_endpoints_only(
    deliveries: DynamoDBWebhookDeliveries,
) -> None:
    endpoint, other = _id("we"), _id("we")
    ids = [f"txn_{n}" for n in range(5)]
    for minute, event_id in enumerate(ids):
        deliveries.add(_delivery(endpoint, event_id, NOW + timedelta(minutes=minute)))
    deliveries.add(_delivery(other, "txn_other"))

    seen, token, pages = [], None, 0
    while True:
        page = deliveries.list(endpoint, limit=2, next_token=token)
        seen += [delivery.event_id for delivery in page.items]
        pages += 1
        token = page.next_token
        if token is None:
            break

    assert seen == list(reversed(ids))
    assert pages == 3
    first = deliveries.list(endpoint, limit=2, next_token=None)
    assert first.next_token is not None
    with pytest.raises(InvalidRequest):
        deliveries.list(other, limit=2, next_token=first.next_token)


def test_failed_since_finds_the_endpoints_failures_from_then_on(
    deliveries: DynamoDBWebhookDeliveries,
) -> None:
    endpoint = _id("we")
    for hour, status in enumerate(
        [DeliveryStatus.FAILED, DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]
    ):
        deliveries.add(
            replace(_delivery(endpoint, f"txn_{hour}", NOW + timedelta(hours=hour)), status=status)
        )

    found = deliveries.failed_since(endpoint, NOW + timedelta(hours=1))

    assert sorted(delivery.event_id for delivery in found) == ["txn_1", "txn_3"]
