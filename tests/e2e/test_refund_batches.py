"""Refund batches end to end: a merchant's file over HTTP, its rows queued on refund-jobs.fifo and
refunded by the worker, each once, the counts adding up, every failure's reason readable through the
API, what keeps failing in the DLQ, and each batch seen only by its own merchant's keys."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.request import Request, urlopen

from tests.e2e.conftest import Api, RunningStack

UNKNOWN = "pi_00000000000000000000000000"
UNTERMINATED_QUOTE = (
    "a quoted field is not closed on this line (a field cannot hold a line break: one line is one row)"
)


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


def failures(api: Api, batch_id: str, limit: int = 2) -> list[dict[str, Any]]:
    """Every row of the batch that was not refunded, read page after page."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = f"limit={limit}" + ("" if token is None else f"&nextToken={quote(token)}")
        page = api.request("GET", f"/v1/refund-batches/{batch_id}/failures?{query}")
        assert page.status == 200, page.body
        found.extend(page.body["data"])
        token = page.body["nextToken"]
        if token is None:
            return found


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
    # Every row not refunded is listed with its reason, those refused at import and those refused
    # when run; another merchant's payment is answered exactly as an unknown one.
    listed = failures(api, reply.body["batchId"])
    assert [(row["line"], row["state"]) for row in listed] == [(line, "FAILED") for line in (5, 6, 7, 8, 9)]
    reasons = {row["line"]: row["message"] for row in listed}
    assert reasons[5] == f"no payment intent {UNKNOWN}"
    assert reasons[8] == f"no payment intent {third}"
    assert reasons[6] == reply.body["errors"][0]["message"]
    assert reasons[9] == reply.body["errors"][1]["message"]
    assert reasons[7].startswith("refund amount must be between 1 and 3000"), reasons[7]
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


def test_an_unterminated_quote_loses_no_row_and_every_reason_is_readable(api: Api) -> None:
    # Given a file whose second line opens a quote that never closes, and six good rows after it
    payments = [api.captured(1_000) for _ in range(6)]
    quoted = api.captured(1_000)
    lines = [
        f'mer_e2e,{quoted},500,"damaged in transit',  # line 2: the quote never closes
        *(f"mer_e2e,{intent},{100 + n},after the quote" for n, intent in enumerate(payments)),  # 3 to 8
        f"mer_e2e,{UNKNOWN},100,",  # line 9: refused when run
        "mer_e2e,pi_nope,100,",  # line 10: refused at import
    ]
    reply = upload(api, lines)
    assert reply.status == 202, reply.body
    # Then every line is a row of the batch, and exactly lines 2 and 10 are refused at import
    assert (reply.body["total"], reply.body["failed"]) == (9, 2)
    assert reply.body["errors"] == [
        {"line": 2, "message": UNTERMINATED_QUOTE},
        {"line": 10, "message": "paymentIntentId is not a payment intent id (pi_ and 26 characters)"},
    ]
    batch = settled(api, reply.body["batchId"])
    assert (batch["succeeded"], batch["failed"], batch["deadLettered"], batch["pending"]) == (6, 3, 0, 0)
    # Each row after the quote refunded its own payment, by its own amount; the quoted one nothing
    assert [api.get_intent(intent).body["amountRefunded"] for intent in payments] == [
        100 + n for n in range(6)
    ]
    assert api.get_intent(quoted).body["amountRefunded"] == 0
    # And every reason, at import and from the worker, is readable through the API
    assert failures(api, reply.body["batchId"]) == [
        {"line": 2, "state": "FAILED", "message": UNTERMINATED_QUOTE},
        {"line": 9, "state": "FAILED", "message": f"no payment intent {UNKNOWN}"},
        {"line": 10, "state": "FAILED", "message": reply.body["errors"][1]["message"]},
    ]


def test_a_merchant_keys_batch_is_seen_only_by_its_merchant(api: Api, stack: RunningStack) -> None:
    mine, theirs = stack.merchant_api("mer_e2e"), stack.merchant_api("mer_e2e_other")
    intent_id = api.captured(2_000)
    text = (
        "merchantId,paymentIntentId,amount,reason\n"
        f"mer_e2e,{intent_id},700,\n"
        f"mer_e2e_other,{intent_id},100,\n"  # another merchant than the key's: refused at import
    ).encode()
    sent = mine.request("POST", "/v1/refund-batches", raw=text, content_type="text/csv")
    status, batch = sent.status, sent.body
    assert status == 202, batch
    assert batch["errors"] == [{"line": 3, "message": "merchantId must be the API key's own merchant"}]
    assert settled(api, batch["batchId"])["succeeded"] == 1
    assert api.get_intent(intent_id).body["amountRefunded"] == 700
    path = f"/v1/refund-batches/{batch['batchId']}"
    # Its own merchant's key reads it and its failures; another merchant's key gets an unknown id's 404
    assert mine.request("GET", path).status == 200
    assert mine.request("GET", f"{path}/failures").body["data"][0]["line"] == 3
    unknown = "rb_01JHQ5EWNSKBNQ19GP2ZRR902N"
    for suffix in ("", "/failures"):
        hidden = theirs.request("GET", f"{path}{suffix}")
        missing = theirs.request("GET", f"/v1/refund-batches/{unknown}{suffix}")
        assert hidden.status == missing.status == 404
        assert json.dumps(hidden.body) == json.dumps(missing.body).replace(unknown, batch["batchId"])


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
    listed = stack.cli("dlq", "show")  # every dead-letter queue, and where a redrive sends it back
    assert (
        "refund-jobs-dlq-local.fifo: 1 waiting; a redrive sends them to refund-jobs-local.fifo"
        in listed.stdout
    )
    shown = stack.cli("dlq", "show", "--queue", "refund-jobs-dlq-local.fifo")
    assert intent_id in shown.stdout, shown
    redriven = stack.cli("dlq", "redrive", "--queue", "refund-jobs-dlq-local.fifo")
    assert "moved 1 message(s)" in redriven.stdout, redriven
    deadline = time.monotonic() + 20
    while api.request("GET", f"/v1/refund-batches/{reply.body['batchId']}").body["succeeded"] == 0:
        assert time.monotonic() < deadline, "the redriven job never succeeded"
        time.sleep(0.1)
    # Then it refunds once and moves from deadLettered to succeeded
    batch = settled(api, reply.body["batchId"])
    assert (batch["deadLettered"], batch["succeeded"], batch["pending"]) == (0, 1, 0)
    assert failures(api, reply.body["batchId"]) == []
    assert api.get_intent(intent_id).body["amountRefunded"] == 4_000


def test_refunds_import_follows_the_batch_to_the_end(api: Api, stack: RunningStack, tmp_path: Path) -> None:
    first, second = api.captured(1_000), api.captured(1_000)
    file = tmp_path / "refunds.csv"
    file.write_text(
        f"merchantId,paymentIntentId,amount,reason\nmer_e2e,{first},300,\nmer_e2e,{second},,\nmer_e2e,pi_x,1,\n"
        f"mer_e2e,{UNKNOWN},1,\n"
    )
    done = stack.cli("refunds", "import", str(file), "--api", api.base_url)
    assert done.returncode == 0, done.stderr
    assert "line 4: paymentIntentId is not a payment intent id" in done.stderr
    # The progress bar's last state (a log, not a terminal: plain lines), then the batch as JSON.
    assert "settled [##############################] 4/4 100%" in done.stderr
    assert "(succeeded 2, failed 2, dead-lettered 0)" in done.stderr
    # The row refused when it ran, with its reason
    assert f"line 5 failed: no payment intent {UNKNOWN}" in done.stderr
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
    assert no_header.body["error"]["message"].startswith("line 1 ")
    header_only = b"merchantId,paymentIntentId,amount,reason\r\n"
    no_rows = api.request("POST", "/v1/refund-batches", raw=header_only, content_type="text/csv")
    assert (no_rows.status, no_rows.body["error"]["code"]) == (400, "invalid_request")
    assert "no data rows" in no_rows.body["error"]["message"]
    as_json = api.request("POST", "/v1/refund-batches", {"rows": []})
    assert (as_json.status, as_json.body["error"]["code"]) == (400, "invalid_request")
    assert api.request("GET", "/v1/refund-batches/rb_unknown").status == 404
    assert api.request("GET", "/v1/refund-batches/rb_unknown/failures").status == 404


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
