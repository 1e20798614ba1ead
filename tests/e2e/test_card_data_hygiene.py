"""Card-data hygiene: after a full run, with card numbers and CVVs thrown at every free-text field, not
one Luhn-valid card number and not one CVV field is anywhere the stack keeps data: its logs, every
DynamoDB table, every queue, the events, every S3 object (Parquet read column by column), every
execution history and every email sent."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq

from payments.domain.cards import contains_card_number, luhn_valid
from tests.e2e.conftest import Api, RunningStack
from tests.e2e.test_webhooks import dispute, send

# Card numbers a careless client might send: the network test numbers, spaced and dashed.
CARDS = ["4242424242424242", "5555 5555 5555 4444", "3782-822463-10005", "6011000990139424"]
CVV_FIELD = re.compile(r"^(cvv2?|cvc2?|cid|card_?verification(_?(value|code))?|security_?code)$", re.I)
# Tokens mixing letters and digits (hex digests such as idempotency keys' hashes, ULIDs, page tokens)
# hold digit runs that pass Luhn by chance; a card number a client wrote stands apart from letters.
_GLUED_TO_LETTERS = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*")
# Timestamps in epoch milliseconds (13 digits, which pass Luhn one time in ten): EMF's, SQS's, API
# Gateway's and Powertools idempotency's in-progress expiry. Named one by one, never a payment's data.
TIMESTAMP_KEYS = frozenset({"Timestamp", "timestamp", "SentTimestamp", "timeEpoch", "in_progress_expiration"})


def findings(value: Any, where: str) -> Iterator[str]:
    """Every card number or CVV field in a value, JSON found inside strings included."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if CVV_FIELD.match(str(key)):
                yield f"{where}: a CVV field {key!r}"
            if str(key) not in TIMESTAMP_KEYS:
                yield from findings(inner, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            yield from findings(inner, f"{where}[{index}]")
    elif isinstance(value, str | bytes):
        yield from _text_findings(
            value if isinstance(value, str) else value.decode("utf-8", "replace"), where
        )
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        digits = str(abs(int(value)))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield f"{where}: a card number {digits}"


def _text_findings(text: str, where: str) -> Iterator[str]:
    """Text that is JSON is read as JSON (a CVV field is a key); any other text is searched whole."""
    text = text.strip()
    if text[:1] in "{[":
        try:
            yield from findings(json.loads(text), where)
            return
        except ValueError:
            pass
    if contains_card_number(_GLUED_TO_LETTERS.sub(" ", text)):
        yield f"{where}: a card number in {text[:120]!r}"


def _plain(item: dict[str, Any]) -> Any:
    """A DynamoDB item in plain values (numbers as Decimal, sets as lists)."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    deserialize = TypeDeserializer().deserialize
    return {key: deserialize(value) for key, value in item.items()}


def _hostile_requests(api: Api) -> None:
    """Card numbers and CVVs in every field a client controls: each request must be refused."""
    for card in CARDS:
        for field in ("description", "orderId", "customerId", "merchantId"):
            reply = api.create_intent(**{field: f"order for card {card}"})
            assert reply.status == 400, (field, reply.body)
        assert api.create_intent(paymentMethod=card).status == 400
    assert api.create_intent(cvv="123").status == 400
    assert api.create_intent(card={"number": CARDS[0], "cvc": "123"}).status == 400
    captured = api.captured(2_000)
    refund = api.request("POST", "/v1/refunds", {"paymentIntentId": captured, "reason": f"card {CARDS[0]}"})
    assert refund.status == 400, refund.body
    upload = api.request(
        "POST",
        "/v1/refund-batches",
        raw=f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{captured},100,card {CARDS[1]}\n".encode(),
        content_type="text/csv",
    )
    assert upload.status in (202, 400), upload.body


def _full_run(api: Api, stack: RunningStack) -> None:
    """Every path that writes: authorize, capture, refunds (single and batch), a checkout with a step-up,
    a receipt, a dispute by webhook, a settlement file and its report."""
    captured = api.captured(5_000, receiptEmail="success@simulator.amazonses.com", description="a good order")
    assert api.request("POST", "/v1/refunds", {"paymentIntentId": captured, "amount": 1_000}).status == 201
    text = f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{captured},500,damaged\n"
    assert api.request("POST", "/v1/refund-batches", raw=text.encode(), content_type="text/csv").status == 202
    stepped = api.create_intent(
        paymentMethod="pm_card_3ds_required", receiptEmail="success@simulator.amazonses.com"
    )
    checkout = api.request("POST", "/v1/checkouts", {"paymentIntentId": stepped.body["paymentIntentId"]})
    tracking = checkout.body["trackingId"]
    deadline = time.monotonic() + 30
    while api.request("GET", f"/v1/checkouts/{tracking}").body["status"] != "ACTION_REQUIRED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.request("POST", f"/v1/checkouts/{tracking}/challenge", {"outcome": "passed"}).status == 202
    while api.request("GET", f"/v1/checkouts/{tracking}").body["status"] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    disputed = api.captured(3_000)
    assert send(api, dispute("dispute.created", disputed))[0] == 200
    assert api.request("POST", "/_local/settlements/emit").status == 200
    api.wait_for_event(disputed, "DISPUTED")
    time.sleep(2)  # the settlement file's enrichment and report, and the subscribers, catch up


def _tables(stack: RunningStack) -> Iterator[tuple[str, Any]]:
    dynamodb = stack.aws("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            yield from ((f"table {table}", _plain(item)) for item in page["Items"])


def _queues(stack: RunningStack) -> Iterator[tuple[str, Any]]:
    sqs = stack.aws("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in messages:  # a look: each stays where it is, visible again at once
            yield f"queue {url.rsplit('/', 1)[-1]}", [message["Body"], message.get("MessageAttributes", {})]


def _objects(stack: RunningStack) -> Iterator[tuple[str, Any]]:
    s3 = stack.aws("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket["Name"], Key=entry["Key"])["Body"].read()
                where = f"s3://{bucket['Name']}/{entry['Key']}"
                # Parquet is compressed: it is read as the data it holds.
                yield (
                    where,
                    pq.read_table(io.BytesIO(body)).to_pylist()
                    if entry["Key"].endswith(".parquet")
                    else body,
                )


def _histories(stack: RunningStack) -> Iterator[tuple[str, Any]]:
    sfn = stack.aws("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            for event in sfn.get_execution_history(executionArn=execution["executionArn"])["events"]:
                details = {key: value for key, value in event.items() if key.endswith("Details")}
                yield f"execution {execution['name']}", details


def test_no_card_number_and_no_cvv_anywhere_after_a_full_run(api: Api, stack: RunningStack) -> None:
    _hostile_requests(api)
    _full_run(api, stack)
    stores = {
        "log lines": ((f"log line {n}", line) for n, line in enumerate(list(stack.output))),
        "table items": _tables(stack),
        "queued messages": _queues(stack),
        "S3 objects": _objects(stack),
        "execution history events": _histories(stack),
        "emails sent": (
            (f"email {m['messageId']}", m) for m in api.request("GET", "/_local/emails").body["data"]
        ),
    }
    looked = dict.fromkeys(stores, 0)
    found: list[str] = []
    for store, records in stores.items():
        for where, value in records:
            looked[store] += 1
            found += findings(value, where)
    # The scan looked everywhere (an empty store would prove nothing), and found nothing.
    assert all(count > 0 for count in looked.values()), looked
    assert found == [], "\n".join(found)


def test_the_scan_finds_what_it_looks_for() -> None:
    planted = {
        "note": f"paid with {CARDS[1]}",
        "nested": json.dumps({"card": {"CVC": "123"}}),
        "number": int(CARDS[0]),
        "Timestamp": 1_795_529_060_074,
        "id": f"pi_{uuid.uuid4().hex}",
        "digest": "api#a45bf07113f3fb9c64530269ed13a6a4894fa7c985814488414467631706d32f",  # found in CI
    }
    assert sorted(findings(planted, "x")) == [
        "x.nested.card: a CVV field 'CVC'",
        f"x.note: a card number in 'paid with {CARDS[1]}'",
        f"x.number: a card number {CARDS[0]}",
    ]
