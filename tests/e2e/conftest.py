"""End-to-end fixtures: `payments local up` started as its own process, reached only over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from bench.launcher import launch
from payments.local.api_key import authorization

ROOT = Path(__file__).resolve().parents[2]
# Short, so the timed-out challenge is seen within the test; long enough that on a loaded machine the
# step-up task (a Lambda that records the task token) and a test's answer both land well within it.
STEP_UP_TIMEOUT_SECONDS = 5
REFUND_JOBS_VISIBILITY_TIMEOUT = 1
# Receipts link to the order's page; a query string shows how the link survives the HTML part.
ORDER_PAGE_URL_TEMPLATE = "https://shop.example/orders/{orderId}?from=receipt&v=3"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class Api:
    """A small HTTP client for the contract's API."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self.api_key = api_key  # None: the local stack's own key (a platform key)

    def with_key(self, api_key: str) -> Api:
        """The same API, called with another key (a merchant's, say)."""
        return Api(self.base_url, api_key)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key: str | None = None,
        content_type: str = "application/json",
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"content-type": content_type, **authorization(self.api_key)}
        if key is not None:
            headers["idempotency-key"] = key
        request = Request(f"{self.base_url}{path}", method=method, data=data, headers=headers)  # noqa: S310
        try:
            with urlopen(request, timeout=30) as response:  # noqa: S310
                payload = response.read()
                return Reply(response.status, json.loads(payload or b"null"), dict(response.headers))
        except HTTPError as error:
            payload = error.read()
            return Reply(error.code, json.loads(payload or b"null"), dict(error.headers))

    def create_intent(self, *, key: str | None = None, **fields: Any) -> Reply:
        body = {
            "amount": 2500,
            "currency": "USD",
            "customerId": f"cus_{uuid.uuid4().hex[:12]}",
            "merchantId": "mer_e2e",
            "paymentMethod": "pm_card_visa",
            **fields,
        }
        return self.request("POST", "/v1/payment-intents", body, key=key)

    def authorize(self, payment_intent_id: str, *, key: str | None = None, body: Any = None) -> Reply:
        return self.request("POST", f"/v1/payment-intents/{payment_intent_id}/authorize", body, key=key)

    def authorized(self, amount: int = 10_000, **fields: Any) -> str:
        """A new payment, authorized: its id."""
        intent_id = str(self.create_intent(amount=amount, **fields).body["paymentIntentId"])
        assert self.authorize(intent_id).status == 200
        return intent_id

    def captured(self, amount: int = 10_000, **fields: Any) -> str:
        """A new payment, authorized and captured in full: its id."""
        intent_id = self.authorized(amount, **fields)
        assert self.request("POST", f"/v1/payment-intents/{intent_id}/capture").status == 200
        return intent_id

    def get_intent(self, payment_intent_id: str) -> Reply:
        return self.request("GET", f"/v1/payment-intents/{payment_intent_id}")

    def list_intents(self, customer_id: str, query: str = "") -> Reply:
        return self.request("GET", f"/v1/customers/{customer_id}/payment-intents{query}")

    def wait_for_event(self, payment_intent_id: str, event_type: str, timeout: float = 20) -> None:
        """Until the payment's `event_type` event is in the events log (the publisher logs an event once
        SNS has taken it; its subscribers get it asynchronously: see `quiet`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.request("GET", f"/v1/events?paymentIntentId={payment_intent_id}").body["data"]
            if any(event["eventType"] == event_type for event in events):
                return
            time.sleep(0.05)
        raise AssertionError(f"no {event_type} event for {payment_intent_id}")

    def quiet(self, timeout: float = 20) -> None:
        """Until the stream pollers have delivered all they read, read nothing new for a while, and no
        asynchronous invocation (an SNS delivery) is queued or running: nothing earlier is in flight."""
        deadline, last, calm = time.monotonic() + timeout, None, 0
        while calm < 3:
            sources = self.request("GET", "/_local/event-sources").body["data"]
            pending = self.request("GET", "/_local/functions").body["async"]["pending"]
            counts = [(s["fetched"], s["delivered"] + s["dropped"]) for s in sources]
            settled = counts == last and pending == 0 and all(fetched == done for fetched, done in counts)
            calm, last = (calm + 1 if settled else 0), counts
            if time.monotonic() > deadline:
                raise AssertionError(f"event sources still busy: {sources}")
            time.sleep(0.2)

    def ledger(
        self, payment_intent_id: str, *, kinds: list[str] | None = None, timeout: float = 20
    ) -> list[Any]:
        """The payment's ledger entries; with `kinds`, once exactly those were posted (events reach
        the ledger asynchronously, through the stream and the topic)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.request("GET", f"/v1/payment-intents/{payment_intent_id}/ledger")
            assert reply.status == 200, reply.body
            entries: list[Any] = reply.body["data"]
            posted = sorted(entry["kind"] for entry in entries)
            if kinds is None or posted == sorted(kinds):
                return entries
            if time.monotonic() > deadline:
                raise AssertionError(f"{payment_intent_id}: expected entries {sorted(kinds)}, found {posted}")
            time.sleep(0.05)


def net(entries: list[Any]) -> dict[tuple[str, str], int]:
    """What entries leave on each (account, currency), zeros dropped: debits minus credits."""
    totals: dict[tuple[str, str], int] = {}
    for entry in entries:
        for leg in entry["legs"]:
            key = (leg["account"], leg["currency"])
            totals[key] = totals.get(key, 0) + (
                leg["amount"] if leg["direction"] == "debit" else -leg["amount"]
            )
    return {key: total for key, total in totals.items() if total}


@dataclass
class RunningStack:
    api: Api
    aws_endpoint: str
    gateway_url: str
    output: Iterable[str]

    def aws(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def listen(self, topic_suffix: str) -> str:
        """A test listener (not part of the stack): an SQS queue subscribed to the topic; its URL."""
        sqs, sns = self.aws("sqs"), self.aws("sns")
        url = str(sqs.create_queue(QueueName=f"e2e-listener-{uuid.uuid4().hex[:8]}")["QueueUrl"])
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic = next(
            t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(topic_suffix)
        )
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        return url

    def merchant_api(self, merchant_id: str) -> Api:
        """The API as one merchant's servers call it: with a new key for that merchant only."""
        made = self.cli("api-keys", "create", "--merchant", merchant_id)
        assert made.returncode == 0, made.stderr
        return self.api.with_key(made.stdout.splitlines()[0].rpartition(": ")[2])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The operator's `payments` command, against this stack's AWS endpoint."""
        environment = {
            **os.environ,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        return subprocess.run(  # noqa: S603 (our own interpreter and module)
            [sys.executable, "-m", "payments.cli", *args],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def gateway_stats(self) -> dict[str, int]:
        with urlopen(f"{self.gateway_url}/_sandbox/stats", timeout=10) as response:  # noqa: S310
            stats: dict[str, int] = json.loads(response.read())
            return stats


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    # A short 3-D Secure wait, so the timed-out challenge is seen within the test; refund jobs that
    # fail come back after a second, so three deliveries and the dead-letter queue take seconds.
    launched = launch(
        cwd=ROOT,
        parameters={
            "StepUpTimeoutSeconds": str(STEP_UP_TIMEOUT_SECONDS),
            "RefundJobsVisibilityTimeout": str(REFUND_JOBS_VISIBILITY_TIMEOUT),
            "OrderPageUrlTemplate": ORDER_PAGE_URL_TEMPLATE,
        },
    )
    try:
        running = RunningStack(Api(launched.api), launched.aws_endpoint, launched.gateway, launched.output)
        health = running.api.request("GET", "/healthz")
        assert (health.status, health.body) == (200, {"status": "ok"})
        yield running
    finally:
        code = launched.stop()
        if code != 0:
            pytest.fail(f"payments local up exited with {code} on Ctrl-C:\n" + "".join(launched.output))


@pytest.fixture
def api(stack: RunningStack) -> Api:
    return stack.api
