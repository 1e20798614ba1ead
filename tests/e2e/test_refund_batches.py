"""Refund batches end to end: a merchant's file over HTTP, its rows queued on refund-jobs.fifo and
refunded by the worker, each once, the counts adding up, and what keeps failing in the DLQ."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from tests.e2e.conftest import Api, RunningStack

UNKNOWN = "pi_00000000000000000000000000"


def upload(api: Api, lines: list[str]) -> Any:
    text = "merchantId,paymentIntentId,amount,reason\n" + "".join(f"{line}\n" for line in lines)
    return api.request("POST", "/v1/refund-batches", raw=text.encode(), content_type="text/csv")


def settled(api: Api, batch_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        batch: dict[str, Any] = api.request("GET", f"/v1/refund-batches/{batch_id}").body
        if batch["pending"] == 0 or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


def queue(stack: RunningStack, name: str) -> str:
    return str(stack.aws("sqs").get_queue_url(QueueName=name)["QueueUrl"])


def drained(api: Api, name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [depth] = [q for q in api.request("GET", "/_local/queues").body["data"] if q["name"] == name]
        if depth["visible"] == depth["inFlight"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} still holds messages")


def test_a_refund_file_refunds_each_good_row_once_and_reports_the_rest(api: Api, stack: RunningStack) -> None:
    first, second, third = api.captured(10_000), api.captured(5_000), api.captured(3_000)
    reply = upload(
        api,
        [
            f"mer_e2e,{first},2500,damaged box",  # line 2
            f"mer_e2e,{first},,",  # 3: the rest
            f"mer_e2e,{second},5000,",  # 4
            f"mer_e2e,{UNKNOWN},100,",  # 5: no such payment
            "mer_e2e,pi_nope,100,",  # 6: not a payment id
            f"mer_e2e,{third},9999,",  # 7: more than was captured
            f"mer_other,{third},1000,",  # 8: another merchant's payment
            f"mer_e2e,{third}",  # 9: two fields
        ],
    )
    assert reply.status == 202, reply.body
    assert (reply.body["total"], reply.body["failed"]) == (8, 2)
    assert [error["line"] for error in reply.body["errors"]] == [6, 9]

    batch = settled(api, reply.body["batchId"])
    assert {key: batch[key] for key in ("total", "succeeded", "failed", "deadLettered", "pending")} == {
        "total": 8,
        "succeeded": 3,
        "failed": 5,
        "deadLettered": 0,
        "pending": 0,
    }
    amounts = {intent: api.get_intent(intent).body["amountRefunded"] for intent in (first, second, third)}
    assert amounts == {first: 10_000, second: 5_000, third: 0}
    refunds = stack.gateway_stats()["refunds"]

    # When line 2's job is delivered again (past the queue's deduplication) and the file arrives again
    sqs = stack.aws("sqs")
    again = {
        "batchId": reply.body["batchId"],
        "line": 2,
        "merchantId": "mer_e2e",
        "paymentIntentId": first,
        "amount": 2500,
        "reason": "damaged box",
    }
    sqs.send_message(
        QueueUrl=queue(stack, "refund-jobs-local.fifo"),
        MessageBody=json.dumps(again),
        MessageGroupId="mer_e2e",
        MessageDeduplicationId="redelivered-line-2",
    )
    drained(api, "refund-jobs-local.fifo")
    api.quiet()
    # Then nothing more is refunded and nothing counts twice
    assert stack.gateway_stats()["refunds"] == refunds
    assert api.get_intent(first).body["amountRefunded"] == 10_000
    assert settled(api, reply.body["batchId"])["succeeded"] == 3


def test_a_job_that_keeps_failing_goes_to_the_dlq_and_a_redrive_finishes_it(
    api: Api, stack: RunningStack
) -> None:
    intent_id = api.captured(4_000)
    # Given the gateway is down for every attempt of every delivery (3 deliveries x 3 attempts)
    request = Request(f"{stack.gateway_url}/_sandbox/outage", data=b'{"requests": 9}', method="POST")  # noqa: S310
    with urlopen(request, timeout=10):  # noqa: S310
        pass
    reply = upload(api, [f"mer_e2e,{intent_id},4000,late delivery"])
    batch = settled(api, reply.body["batchId"])
    # Then the job is dead-lettered, counted, and waits in the DLQ
    assert (batch["deadLettered"], batch["succeeded"], batch["pending"]) == (1, 0, 0)
    dlq = queue(stack, "refund-jobs-dlq-local.fifo")
    sqs = stack.aws("sqs")
    deadline = time.monotonic() + 10
    messages: list[dict[str, Any]] = []
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=dlq,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,  # a look: it stays for the operator
        ).get("Messages", [])
    [message] = messages
    assert json.loads(message["Body"])["paymentIntentId"] == intent_id
    assert api.get_intent(intent_id).body["amountRefunded"] == 0

    # When the gateway is back and an operator looks, then redrives the DLQ
    shown = stack.cli("dlq", "show")
    assert "refund-jobs-dlq-local.fifo: 1 waiting" in shown.stdout, shown
    assert intent_id in shown.stdout
    redriven = stack.cli("dlq", "redrive")
    assert "moved 1 message(s)" in redriven.stdout, redriven
    deadline = time.monotonic() + 20
    while api.request("GET", f"/v1/refund-batches/{reply.body['batchId']}").body["succeeded"] == 0:
        assert time.monotonic() < deadline, "the redriven job never succeeded"
        time.sleep(0.1)
    # Then it refunds once and moves from deadLettered to succeeded
    batch = settled(api, reply.body["batchId"])
    assert (batch["deadLettered"], batch["succeeded"], batch["pending"]) == (0, 1, 0)
    assert api.get_intent(intent_id).body["amountRefunded"] == 4_000


def test_refunds_import_follows_the_batch_to_the_end(api: Api, stack: RunningStack, tmp_path: Path) -> None:
    first, second = api.captured(1_000), api.captured(1_000)
    file = tmp_path / "refunds.csv"
    file.write_text(
        f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{first},300,\nmer_e2e,{second},,\nmer_e2e,pi_x,1,\n"
    )
    done = stack.cli("refunds", "import", str(file), "--api", api.base_url)
    assert done.returncode == 0, done.stderr
    assert "line 4: paymentIntentId is not a payment intent id" in done.stderr
    # The progress bar's last state (a log, not a terminal: plain lines), then the batch as JSON.
    assert "settled [##############################] 3/3 100%" in done.stderr
    assert "(succeeded 2, failed 1, dead-lettered 0)" in done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["pending"] == 0
    # Run again (an answer lost, say): the same batch, nothing refunded twice
    again = stack.cli("refunds", "import", str(file), "--api", api.base_url)
    assert (
        json.loads(again.stdout.splitlines()[-1])["batchId"]
        == json.loads(done.stdout.splitlines()[-1])["batchId"]
    )
    assert [api.get_intent(i).body["amountRefunded"] for i in (first, second)] == [300, 1_000]


def test_bad_files_are_refused_whole(api: Api) -> None:
    no_header = api.request("POST", "/v1/refund-batches", raw=b"mer_1,pi_x,1,\n", content_type="text/csv")
    assert (no_header.status, no_header.body["error"]["code"]) == (400, "invalid_request")
    as_json = api.request("POST", "/v1/refund-batches", {"rows": []})
    assert (as_json.status, as_json.body["error"]["code"]) == (400, "invalid_request")
    assert api.request("GET", "/v1/refund-batches/rb_unknown").status == 404


def test_a_retried_upload_with_its_idempotency_key_is_the_same_batch(api: Api) -> None:
    intent_id = api.captured(2_000)
    text = f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{intent_id},500,\n".encode()
    first = api.request("POST", "/v1/refund-batches", raw=text, content_type="text/csv", key="upload-1")
    again = api.request("POST", "/v1/refund-batches", raw=text, content_type="text/csv", key="upload-1")
    assert (first.status, again.status) == (202, 202)
    assert again.body["batchId"] == first.body["batchId"]
    assert settled(api, first.body["batchId"])["succeeded"] == 1
    assert api.get_intent(intent_id).body["amountRefunded"] == 500
    other = text.replace(b",500,", b",600,")
    reused = api.request("POST", "/v1/refund-batches", raw=other, content_type="text/csv", key="upload-1")
    assert (reused.status, reused.body["error"]["code"]) == (409, "idempotency_conflict")
