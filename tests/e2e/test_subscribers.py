"""The payment-events subscribers, with the document's filter policies, end to end."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import Api, RunningStack
from tests.e2e.test_webhooks import dispute, send


def ops_notifications_for(api: Api, intent_id: str) -> list[Any]:
    return [n for n in api.request("GET", "/_local/notifications").body["data"] if intent_id in json.dumps(n)]


def wait_until(check: Any, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_ops_hear_of_disputes_that_are_not_low_tier(api: Api) -> None:
    # Given a MEDIUM (500.00) and a LOW (30.00) payment, both disputed
    medium, low = api.captured(50_000), api.captured(3_000)
    for intent_id in (medium, low):
        assert send(api, dispute("dispute.created", intent_id))[0] == 200
    # Then the chat webhook hears of the MEDIUM one only
    assert wait_until(lambda: ops_notifications_for(api, medium))
    time.sleep(1)
    assert ops_notifications_for(api, low) == []
    [notification] = ops_notifications_for(api, medium)
    assert "DISPUTED" in json.dumps(notification)
    assert notification["text"].startswith(":rotating_light:")


def test_the_analytics_queue_receives_every_event(api: Api, stack: RunningStack) -> None:
    sqs = stack.aws("sqs")
    [url] = sqs.list_queues(QueueNamePrefix="payment-events-analytics-local")["QueueUrls"]
    intent_id = api.captured(1_000)

    def mine() -> list[str]:
        seen = []
        for _ in range(20):
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not batch:
                break
            for message in batch:
                body = json.loads(message["Body"])  # raw delivery: the event itself
                if body.get("paymentIntentId") == intent_id:
                    seen.append(body["eventType"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return seen

    received: list[str] = []
    deadline = time.monotonic() + 15
    while sorted(set(received)) != ["AUTHORIZED", "CAPTURED"] and time.monotonic() < deadline:
        received += mine()
        time.sleep(0.1)
    assert sorted(set(received)) == ["AUTHORIZED", "CAPTURED"]


def test_fraud_feedback_counts_each_customers_authorizations_only(api: Api, stack: RunningStack) -> None:
    customer = f"cus_{time.time_ns()}"
    approved = str(api.create_intent(customerId=customer, amount=1_000).body["paymentIntentId"])
    assert api.authorize(approved).status == 200
    assert (
        api.request("POST", f"/v1/payment-intents/{approved}/capture").status == 200
    )  # CAPTURED: not counted
    declined = str(
        api.create_intent(customerId=customer, paymentMethod="pm_card_declined").body["paymentIntentId"]
    )
    assert api.authorize(declined).status == 402  # DECLINED: not counted
    table = stack.aws("dynamodb")

    def history() -> dict[str, Any] | None:
        item = table.get_item(
            TableName="fraud-velocity-local", Key={"counterKey": {"S": f"approved#mer_e2e#{customer}"}}
        )
        return item.get("Item")

    assert wait_until(history)
    time.sleep(1)  # the capture and the decline had their chance to be (wrongly) counted
    assert history()["approvedCount"] == {"N": "1"}  # type: ignore[index]
