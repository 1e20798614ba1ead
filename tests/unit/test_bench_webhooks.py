"""The webhook bench's figures: percentiles, what arrived against what was expected, which counted calls
are the webhook path's, and their price."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from bench.webhooks import (
    FAILING_GROUP,
    HEALTHY,
    Hit,
    TimedReceiver,
    cost_per_million,
    percentile,
    tally,
    webhook_calls,
)

AUTHORIZED = ("pi_1", "payment.authorized")
CAPTURED = ("pi_1", "payment.captured")


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert percentile([], 0.5) is None


def test_every_movement_at_every_endpoint_is_expected_and_timed_from_its_movement() -> None:
    moved = {AUTHORIZED: 10.0, CAPTURED: 11.0}
    events = {"evt_a": AUTHORIZED, "evt_c": CAPTURED}
    hits = [
        Hit("e1", "evt_a", 10.5, 200),
        Hit("e1", "evt_c", 11.2, 200),
        Hit("e0", "evt_a", 10.4, 500),  # refused, then taken on the retry: no duplicate
        Hit("e0", "evt_a", 12.0, 200),
        Hit("e0", "evt_a", 12.5, 200),  # after it was taken: a duplicate
    ]
    found = tally(hits, events, moved, ["e0", "e1"], "e0")
    assert (found.expected, found.received) == (4, 3)
    assert found.lost == [("e0", "pi_1", "payment.captured")]
    assert found.duplicates == {HEALTHY: 0, FAILING_GROUP: 1}
    assert found.latencies[HEALTHY] == pytest.approx([0.5, 0.2])
    assert found.latencies[FAILING_GROUP] == pytest.approx([2.0])
    assert (found.failing_requests, found.failing_refused) == (3, 1)
    assert found.last_healthy_receipt == 11.2
    assert (found.signature_failures, found.unexpected) == (0, 0)


def test_a_delivery_signed_wrong_counts_and_one_of_no_movement_is_unexpected() -> None:
    moved = {AUTHORIZED: 1.0}
    hits = [Hit("e1", "evt_a", 2.0, 400), Hit("e1", "evt_other", 2.5, 200)]
    found = tally(hits, {"evt_a": AUTHORIZED, "evt_other": ("pi_9", "payment.captured")}, moved, ["e1"], "e0")
    assert found.signature_failures == 1
    assert found.unexpected == 1
    assert found.lost == [("e1", "pi_1", "payment.authorized")]
    assert found.received == 0


def test_the_webhook_path_keeps_its_tables_queues_and_secrets_only() -> None:
    counted = {
        "dynamodb PutItem:webhook-deliveries-local": 20,
        "dynamodb TransactWriteItems:payment-intents-local": 2,  # the payment's own
        "dynamodb GetRecords": 50,  # the stream poller's
        "sqs SendMessageBatch": 2,
        "sqs ReceiveMessage": 300,  # every poller's, mostly empty
        "sqs ChangeMessageVisibility": 1,
        "secretsmanager GetSecretValue": 3,
        "sns Publish": 2,
    }
    assert webhook_calls(counted, receives=4) == {
        "dynamodb PutItem:webhook-deliveries-local": 20,
        "sqs SendMessageBatch": 2,
        "sqs ChangeMessageVisibility": 1,
        "secretsmanager GetSecretValue": 3,
        "sqs ReceiveMessage (with messages)": 4,
    }


def test_cost_per_million_deliveries_by_service() -> None:
    per_delivery = {
        "dynamodb PutItem:webhook-deliveries-local": 2.0,
        "dynamodb GetItem:webhook-events-local": 1.0,
        "sqs SendMessageBatch": 0.5,
        "sqs ReceiveMessage (with messages)": 0.5,
        "secretsmanager GetSecretValue": 0.5,
    }
    costs = cost_per_million(per_delivery, invocations=1.0)
    expected = {
        "lambda": 0.20 + 0.1 * 0.5 * 13.3334,  # request + 100 ms at 512 MB
        "sqs": 0.40,
        "dynamodb": (2 + 2) * 0.625 + 0.125,  # each delivery write writes its index too
        "secrets_manager": 0.5 * 5.0,
        "kms": 0.5 * 3.0,
    }
    assert costs == pytest.approx(expected, abs=0.01)


def test_the_timed_receiver_keeps_when_each_request_came_and_what_it_was() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    receiver = TimedReceiver(seed=1, max_refusals=0, measured=["e1"])
    receiver.expect("e1", secret)
    body = json.dumps({"type": "payment.captured", "data": {"paymentIntentId": "pi_1"}})
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("evt_1", now, body)
    headers = {"webhook-id": "evt_1", "webhook-timestamp": str(int(now.timestamp()))}
    assert receiver.receive("/e1", headers | {"webhook-signature": signature}, body.encode()) == 200
    assert receiver.receive("/e1", headers | {"webhook-signature": "v1,bm9wZQ=="}, body.encode()) == 400
    assert [(hit.endpoint, hit.webhook_id, hit.answered) for hit in receiver.hits()] == [
        ("e1", "evt_1", 200),
        ("e1", "evt_1", 400),
    ]
    assert receiver.accepted() == 1
    assert receiver.events() == {"evt_1": ("pi_1", "payment.captured")}
