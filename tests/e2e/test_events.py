"""Events end to end: every recorded movement is published (from the transactions stream) and listed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import Api, RunningStack


def events_of(api: Api, payment_intent_id: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        reply = api.request("GET", f"/v1/events?paymentIntentId={payment_intent_id}")
        assert reply.status == 200
        if len(reply.body["data"]) >= count or time.monotonic() > deadline:
            return list(reply.body["data"])
        time.sleep(0.1)


def test_each_movement_is_one_event_in_order(api: Api) -> None:
    # 1,500.00 is a HIGH tier and stays below the fraud check's amount review (the whole suite's
    # requests come from one IP, which already adds velocity points).
    intent_id = api.create_intent(amount=150_000).body["paymentIntentId"]
    assert api.authorize(intent_id).status == 200
    assert api.request("POST", f"/v1/payment-intents/{intent_id}/capture", {"amount": 120_000}).status == 200
    assert api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": 5_000}).status == 201
    events = events_of(api, intent_id, 3)
    assert len(events) == 3, json.dumps(api.request("GET", "/_local/event-sources").body)
    assert [(e["eventType"], e["amount"], e["amountTier"]) for e in events] == [
        ("AUTHORIZED", 150_000, "HIGH"),
        ("CAPTURED", 120_000, "HIGH"),
        ("REFUNDED", 5_000, "LOW"),
    ]
    assert [e["paymentStatus"] for e in events] == ["AUTHORIZED", "CAPTURED", "PARTIALLY_REFUNDED"]
    assert len({e["eventId"] for e in events}) == 3


@pytest.mark.parametrize(
    ("method", "event_type"), [("pm_card_declined", "DECLINED"), ("pm_card_visa", "VOIDED")]
)
def test_declines_and_voids_are_events_too(api: Api, method: str, event_type: str) -> None:
    intent_id = api.create_intent(paymentMethod=method).body["paymentIntentId"]
    api.authorize(intent_id)
    if event_type == "VOIDED":
        assert api.request("POST", f"/v1/payment-intents/{intent_id}/void").status == 200
    events = events_of(api, intent_id, 2 if event_type == "VOIDED" else 1)
    assert events[-1]["eventType"] == event_type


def test_events_reach_the_topic_with_their_filter_attributes(api: Api, stack: RunningStack) -> None:
    url = stack.listen(":payment-events-local")
    sqs = stack.aws("sqs")
    intent_id = api.create_intent(amount=900).body["paymentIntentId"]
    assert api.authorize(intent_id).status == 200
    [event] = events_of(api, intent_id, 1)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    mine = [json.loads(m["Body"]) for m in messages if intent_id in m["Body"]]
    assert len(mine) == 1
    attributes = {name: value["Value"] for name, value in mine[0]["MessageAttributes"].items()}
    assert attributes == {"eventType": "AUTHORIZED", "amountTier": "LOW", "eventId": event["eventId"]}


def test_listing_needs_a_payment_and_a_token_of_its_own(api: Api) -> None:
    assert api.request("GET", "/v1/events").status == 400
    intent_id = api.create_intent().body["paymentIntentId"]
    assert api.request("GET", f"/v1/events?paymentIntentId={intent_id}&nextToken=bm9wZQ").status == 400
    assert api.request("GET", f"/v1/events?paymentIntentId={intent_id}").body == {
        "data": [],
        "nextToken": None,
    }
    unknown = api.request("GET", "/v1/events?paymentIntentId=pi_unknown")  # as its other views answer
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "not_found")


def test_a_failing_publisher_is_retried_and_publishes_once(api: Api) -> None:
    # Given the publisher crashes on its next two deliveries
    assert (
        api.request("POST", "/_local/faults", {"function": "EventsPublisherFunction", "count": 2}).status
        == 200
    )
    try:
        intent_id = api.create_intent().body["paymentIntentId"]
        assert api.authorize(intent_id).status == 200
        # Then the stream redelivers, and the event is there exactly once
        events = events_of(api, intent_id, 1)
        time.sleep(0.5)
        assert len(events_of(api, intent_id, 1)) == 1
        assert events[0]["eventType"] == "AUTHORIZED"
    finally:
        api.request("DELETE", "/_local/faults")
