"""Operator commands: `payments refunds import FILE`, `payments dlq show|redrive` and
`payments suppressions show|lift ADDRESS`.

`refunds import` sends the file to the API with an Idempotency-Key derived from its bytes, so running
it again after a lost answer never starts a second batch, then shows the batch settling row by row,
and at the end every row that was not refunded when it ran, with its reason (the rows refused at
import were shown first).
`dlq` works on the queues themselves (through AWS_ENDPOINT_URL locally): `show` lists what waits in a
dead-letter queue, `redrive` moves it back to its queue, where each job still runs only once.
`suppressions` reads the receipt suppression list, and lifts an address once the customer has fixed it
(its bounce count stays, so the third bounce still reaches customer success).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

from payments.local.api_key import authorization
from payments.progress import Progress

REDRIVE_BATCH = 10


def _call(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    headers = {**(headers or {}), **authorization()}  # PAYMENTS_API_KEY, or the local stack's sandbox key
    request = Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")  # noqa: S310
    try:
        with urlopen(request, timeout=60) as response:  # noqa: S310 (the operator's own API)
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def import_refunds(api: str, path: Path, *, out: TextIO = sys.stderr, poll_seconds: float = 0.5) -> int:
    body = path.read_bytes()
    key = "refunds-import-" + hashlib.sha256(body).hexdigest()[:48]
    status, answer = _call(
        f"{api}/v1/refund-batches", data=body, headers={"content-type": "text/csv", "idempotency-key": key}
    )
    if status != 202:
        print(f"refused ({status}): {answer['error']['message']}", file=out)
        return 1
    batch_id = answer["batchId"]
    print(f"batch {batch_id}: {answer['total']} rows, {len(answer['errors'])} refused at import", file=out)
    for error in answer["errors"]:
        print(f"  line {error['line']}: {error['message']}", file=out)
    progress = Progress("settled", int(answer["total"]), out=out)
    while True:
        _, batch = _call(f"{api}/v1/refund-batches/{batch_id}")
        detail = (
            f"(succeeded {batch['succeeded']}, failed {batch['failed']},"
            f" dead-lettered {batch['deadLettered']})"
        )
        progress.update(int(batch["total"]) - int(batch["pending"]), detail)
        if batch["pending"] == 0:
            progress.finish(detail)
            break
        time.sleep(poll_seconds)
    shown = {int(error["line"]) for error in answer["errors"]}
    for failure in _failures(api, batch_id):
        if failure["line"] not in shown:
            state = "failed" if failure["state"] == "FAILED" else "dead-lettered"
            print(f"  line {failure['line']} {state}: {failure['message']}", file=out)
    if batch["deadLettered"]:
        print(
            f"{batch['deadLettered']} kept failing: `payments dlq show`, then `payments dlq redrive`",
            file=out,
        )
    print(json.dumps(batch), flush=True)
    return 0


def _failures(api: str, batch_id: str) -> list[dict[str, Any]]:
    """Every row of the batch that was not refunded, page after page."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = "limit=100" + ("" if token is None else f"&nextToken={quote(token)}")
        status, page = _call(f"{api}/v1/refund-batches/{batch_id}/failures?{query}")
        if status != 200:
            raise RuntimeError(f"the batch's failures could not be read ({status}): {page}")
        found.extend(page["data"])
        token = page["nextToken"]
        if token is None:
            return found


def _sqs() -> Any:
    import boto3  # noqa: PLC0415 (only the dlq commands need it)

    return boto3.client("sqs")


def _source_of(sqs: Any, dlq_url: str) -> str:
    """The queue whose redrive policy names this dead-letter queue."""
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise LookupError(f"{arn} is the dead-letter queue of {len(sources)} queues; expected one")
    return str(sources[0])


def dlq_show(queue: str, *, out: TextIO = sys.stdout) -> int:
    sqs = _sqs()
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    print(f"{queue}: {depth['Attributes']['ApproximateNumberOfMessages']} waiting", file=out)
    # A short look: the messages become visible again right away, still in the queue.
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, MessageSystemAttributeNames=["All"]
    ).get("Messages", [])
    for message in messages:
        print(f"  {message['MessageId']}  {message['Body'][:200]}", file=out)
    return 0


def redrive_messages(sqs: Any, queue: str) -> tuple[int, str]:
    """Move every message of the dead-letter queue `queue` back to its source queue: sent first, then
    deleted, so none is lost in between (a crash in between leaves a copy in both, which the worker's
    idempotency absorbs). (messages moved, the source queue's name)."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    target = _source_of(sqs, url)
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=REDRIVE_BATCH,
            VisibilityTimeout=60,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            send: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
            group = message.get("Attributes", {}).get("MessageGroupId")
            if group:
                send.update(MessageGroupId=group, MessageDeduplicationId=f"redrive-{message['MessageId']}")
            sqs.send_message(**send)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved, str(target).rsplit("/", 1)[-1]


def dlq_redrive(queue: str, *, out: TextIO = sys.stdout) -> int:
    try:
        moved, target = redrive_messages(_sqs(), queue)
    except LookupError as error:
        print(f"payments dlq redrive: {error}", file=sys.stderr)
        return 1
    print(f"moved {moved} message(s) from {queue} back to {target}", file=out)
    return 0


def _suppression_list(table: str) -> Any:
    import boto3  # noqa: PLC0415

    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList  # noqa: PLC0415

    return DynamoDBSuppressionList(boto3.client("dynamodb"), table=table)


def suppressions(action: str, address: str, *, table: str, out: TextIO = sys.stdout) -> int:
    from payments.domain.receipts import normalise_address  # noqa: PLC0415

    address = normalise_address(address)
    listed = _suppression_list(table)
    if action == "lift":
        lifted = listed.lift(address)
        print(f"{address}: {'receipts will be sent again' if lifted else 'was not suppressed'}", file=out)
        return 0 if lifted else 1
    entry = listed.get(address)
    if entry is None:
        print(f"{address}: never bounced or complained", file=out)
        return 0
    state = "suppressed" if entry.suppressed else "not suppressed"
    print(
        f"{address}: {state}; {entry.bounces} bounce(s), {entry.complaints} complaint(s);"
        f" last: {entry.reason} at {entry.updated_at}",
        file=out,
    )
    return 0


def _api_keys(table: str) -> Any:
    import boto3  # noqa: PLC0415

    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys  # noqa: PLC0415

    return DynamoDBApiKeys(boto3.client("dynamodb"), table=table)


def api_keys(
    action: str,
    *,
    table: str,
    merchant: str | None = None,
    stage: str = "",
    key: str = "",
    out: TextIO = sys.stdout,
) -> int:
    """`create`: a new key, printed once (only its hash is kept): for one merchant, or with no
    merchant a platform key; `revoke`: by the key itself or by its id (`sk_live_…a1b2`)."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from payments.domain.api_keys import new_secret  # noqa: PLC0415
    from payments.domain.merchants import MERCHANT_ID  # noqa: PLC0415

    if action == "create" and merchant is not None and not MERCHANT_ID.fullmatch(merchant):
        print("payments api-keys: --merchant must be 1 to 128 letters, digits or _.:-", file=sys.stderr)
        return 2
    keys = _api_keys(table)
    if action == "create":
        secret = new_secret(stage)
        made = keys.add(secret, merchant_id=merchant, now=datetime.now(UTC))
        acts_for = "the platform (any merchant)" if merchant is None else merchant
        print(f"{made.key_id} for {acts_for}: {secret}", file=out)
        print("Keep it now: it is not stored and cannot be shown again.", file=out)
        return 0
    revoked = keys.revoke(key, now=datetime.now(UTC))
    print(f"{revoked} key(s) revoked (API Gateway may accept a revoked key for up to 5 minutes)", file=out)
    return 0 if revoked else 1
