"""Operator commands: `payments refunds import FILE`, `payments dlq show|redrive` and
`payments suppressions show|lift ADDRESS`.

`refunds import` sends the file to the API with an Idempotency-Key derived from its bytes, so running
it again after a lost answer never starts a second batch, then shows the batch settling row by row,
and at the end every row that was not refunded when it ran, with its reason (the rows refused at
import were shown first).
`dlq` works on the queues themselves (through AWS_ENDPOINT_URL locally): `show` lists every dead-letter
queue of the stack (found by the queues' redrive policies and the functions' dead-letter configs) or
what waits in one, `redrive` sends it back: a job to its queue, where it still runs only once; an
event to its function, invoked again (`payments.dead_letters`).
`suppressions` reads the receipt suppression list, and lifts an address once the customer has fixed it
(its bounce count stays, so the third bounce still reaches customer success).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

from payments.local.api_key import authorization
from payments.progress import Progress


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
            f"{batch['deadLettered']} kept failing: `payments dlq show` names the dead-letter queue,"
            " `payments dlq redrive --queue <it>` sends them back once fixed",
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


def aws_client(service: str) -> Any:
    """A boto3 client of the operator's region (AWS_ENDPOINT_URL locally). An unset or empty region
    is NoRegionError here: an empty one would otherwise surface as an invalid endpoint URL."""
    import boto3  # noqa: PLC0415 (only the AWS commands need it)
    from botocore.exceptions import NoRegionError  # noqa: PLC0415

    session = boto3.session.Session()
    if not session.region_name:
        raise NoRegionError
    return session.client(service)  # type: ignore[call-overload]


def _clients() -> Callable[[str], Any]:
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = aws_client(service)
        return made[service]

    return client


def dlq_show(queue: str | None, *, out: TextIO = sys.stdout) -> int:
    """Without a queue, every dead-letter queue, its depth and what a redrive sends its messages back
    to; with one, also a look at what waits in it."""
    from payments.dead_letters import dead_letter_queue, dead_letter_queues  # noqa: PLC0415

    clients = _clients()
    sqs = clients("sqs")
    try:
        queues = [dead_letter_queue(clients, queue)] if queue else dead_letter_queues(clients)
    except LookupError as error:
        print(f"payments dlq show: {error}", file=sys.stderr)
        return 1
    if not queues:
        print("no dead-letter queue here (is AWS_ENDPOINT_URL or the region right?)", file=out)
    for dead in queues:
        depth = sqs.get_queue_attributes(QueueUrl=dead.url, AttributeNames=["ApproximateNumberOfMessages"])
        waiting = depth["Attributes"]["ApproximateNumberOfMessages"]
        print(
            f"{dead.name}: {waiting} waiting; a redrive sends them to {', '.join(dead.returns_to)}", file=out
        )
        if queue is None:
            continue
        # A short look: the messages become visible again right away, still in the queue.
        messages = sqs.receive_message(
            QueueUrl=dead.url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        for message in messages:
            why = message.get("MessageAttributes", {}).get("ErrorMessage", {}).get("StringValue")
            print(f"  {message['MessageId']}  {message['Body'][:200]}", file=out)
            if why:
                print(f"    failed: {why}", file=out)
    return 0


def dlq_redrive(queue: str, *, out: TextIO = sys.stdout) -> int:
    from payments.dead_letters import redrive  # noqa: PLC0415

    try:
        done = redrive(_clients(), queue)
    except LookupError as error:
        print(f"payments dlq redrive: {error}", file=sys.stderr)
        return 1
    print(f"moved {done.moved} message(s) from {queue} back to {', '.join(done.to)}", file=out)
    if done.left:
        print(
            f"{done.left} left in {queue}: no function of the queue was named by the event"
            " (`payments dlq show --queue` shows them)",
            file=out,
        )
    return 0


def _suppression_list(table: str) -> Any:
    from payments.adapters.dynamodb_suppressions import DynamoDBSuppressionList  # noqa: PLC0415

    return DynamoDBSuppressionList(aws_client("dynamodb"), table=table)


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
    from payments.adapters.dynamodb_api_keys import DynamoDBApiKeys  # noqa: PLC0415

    return DynamoDBApiKeys(aws_client("dynamodb"), table=table)


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
