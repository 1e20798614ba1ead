"""A refund file through the local stack: wall time, refunds per second, peak memory, none lost or doubled.

Captured payments are seeded first (authorized and captured at the sandbox gateway, stored as
CAPTURED intents), spread over merchants as a vendor file would be. The file gives each payment
`--per-payment` partial refunds adding up to what was captured. It goes in through
`POST /v1/refund-batches`; the clock runs until `GET /v1/refund-batches/{id}` says nothing is pending.

Verified afterwards: the batch counts every row succeeded; the gateway made exactly one refund per row;
every payment is REFUNDED, to the cent; the ledger holds one REFUNDED entry per row.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from authorize import Client
from calls import moto_in_process
from emulator import emulator_client  # bench/ is on the path when run as a script
from launcher import LaunchedStack, LaunchError, launch
from payments.adapters.dynamodb_items import intent_to_item
from payments.adapters.gateway_client import HttpGateway
from payments.domain.intents import PaymentIntent
from payments.domain.money import Money
from payments.local.api_key import authorization
from payments.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
AMOUNT = 10_000  # minor units captured per payment


def seed(stack: LaunchedStack, payments: int, merchants: int) -> list[PaymentIntent]:
    """Captured payments: real authorizations and captures at the gateway, intents stored as CAPTURED."""
    gateway = HttpGateway(stack.gateway, read_timeout=5.0)
    now = datetime.now(UTC)

    def one(number: int) -> PaymentIntent:
        intent = PaymentIntent.create(
            amount=Money.of(AMOUNT, "USD"),
            customer_id=f"cus_refunds_{number}",
            merchant_id=f"mer_{number % merchants:03d}",
            payment_method="pm_card_visa",
            now=now,
            time_to_live=timedelta(days=1),
        )
        key = intent.payment_intent_id
        authorization = gateway.authorize(
            idempotency_key=f"{key}:authorize",
            amount=intent.amount,
            payment_method="pm_card_visa",
            reference=key,
        )
        assert authorization.reference is not None
        intent.authorize(authorization_id=authorization.reference, now=now)
        capture = gateway.capture(
            idempotency_key=f"{key}:capture", authorization_id=authorization.reference, amount=intent.amount
        )
        assert capture.reference is not None
        intent.capture(amount=None, now=now, gateway_reference=capture.reference)
        return intent

    with ThreadPoolExecutor(8) as pool:
        intents = list(pool.map(one, range(payments)))
    dynamodb = emulator_client(stack, "dynamodb")
    for start in range(0, len(intents), 25):
        requests = [{"PutRequest": {"Item": intent_to_item(i)}} for i in intents[start : start + 25]]
        while requests:
            left = dynamodb.batch_write_item(RequestItems={"payment-intents-local": requests})
            requests = left.get("UnprocessedItems", {}).get("payment-intents-local", [])
    return intents


def refund_file(intents: list[PaymentIntent], per_payment: int) -> bytes:
    share = AMOUNT // per_payment
    lines = ["merchantId,paymentIntentId,amount,reason"]
    for part in range(per_payment):
        amount = share if part < per_payment - 1 else AMOUNT - share * (per_payment - 1)
        lines += [f"{i.merchant_id},{i.payment_intent_id},{amount},vendor reconciliation" for i in intents]
    return ("\n".join(lines) + "\n").encode()


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--per-payment", type=int, default=10, help="partial refunds per payment")
    parser.add_argument("--merchants", type=int, default=50)
    args = parser.parse_args()
    payments = args.rows // args.per_payment

    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT)
    try:
        rss_at_start = rss_mb(stack.process.pid)
        print(f"seeding {payments} captured payments ...", file=sys.stderr, flush=True)
        intents = seed(stack, payments, args.merchants)
        rss_seeded = rss_mb(stack.process.pid)
        body = refund_file(intents, args.per_payment)
        client = Client(stack.api)
        refunds_before = json.loads(urlopen_text(f"{stack.gateway}/_sandbox/stats"))["refunds"]

        _, calls_before, _ = client.call("GET", "/_local/api-calls")
        started = time.perf_counter()
        answer = post_file(f"{stack.api}/v1/refund-batches", body)
        batch_id = answer["batchId"]
        accepted = time.perf_counter() - started
        progress = Progress("  settled", int(answer["total"]))
        while True:
            _, batch, _ = client.call("GET", f"/v1/refund-batches/{batch_id}")
            progress.update(batch["total"] - batch["pending"])
            if batch["pending"] == 0:
                progress.finish()
                break
            time.sleep(2)
        seconds = time.perf_counter() - started
        peak = peak_rss_mb(stack.process.pid)
        rss_after = rss_mb(stack.process.pid)

        refunds = json.loads(urlopen_text(f"{stack.gateway}/_sandbox/stats"))["refunds"] - refunds_before
        refunded = {
            i.payment_intent_id: client.call("GET", f"/v1/payment-intents/{i.payment_intent_id}")[1]
            for i in intents[:: max(1, payments // 200)]
        }  # a sample read over the API
        books = wait_for_events(client) - started  # the REFUNDED events reach the topic and the ledger
        _, calls_after, _ = client.call("GET", "/_local/api-calls")  # a refund's calls, events and ledger too
        ledger = emulator_client(stack, "dynamodb").get_paginator("scan")
        ours = {i.payment_intent_id for i in intents}
        entries = sum(
            1
            for page in ledger.paginate(TableName="ledger-local")
            for item in page["Items"]
            if item["kind"]["S"] == "REFUNDED" and item["paymentIntentId"]["S"] in ours
        )
    finally:
        try:
            stack.stop(timeout=180)  # a long backlog of events takes a while to set down
        except LaunchError as error:
            print(f"warning: {error}; the figures below stand", file=sys.stderr)

    print("moto's in-process per-call cost ...", file=sys.stderr, flush=True)
    per_call_ms = moto_in_process(samples=300)["dynamodb GetItem"]
    per_row = {
        op: round((n - calls_before["byOperation"].get(op, 0)) / args.rows, 2)
        for op, n in calls_after["byOperation"].items()
        if n - calls_before["byOperation"].get(op, 0) >= args.rows / 10  # what each row costs, not polling
    }
    checks = {
        "every_row_succeeded": batch["succeeded"] == args.rows
        and batch["failed"] == batch["deadLettered"] == 0,
        "one_gateway_refund_per_row": refunds == args.rows,
        "payments_refunded_in_full": all(
            (p["status"], p["amountRefunded"]) == ("REFUNDED", AMOUNT) for p in refunded.values()
        ),
        "one_ledger_entry_per_refund": entries == args.rows,
    }
    shape = f"{args.rows} rows, {payments} payments, {args.merchants} merchants"
    print(f"\nrefund file through the local stack: {shape}")
    print(f"  accepted in {accepted:.1f} s; settled in {seconds:.1f} s: {args.rows / seconds:.0f} refunds/s")
    print(f"  the events and the ledger caught up {books:.1f} s after the upload")
    calls_per_row = sum(per_row.values())
    allowed = 1000 / per_call_ms / calls_per_row  # refunds/s the emulator's own per-call cost allows
    share = args.rows / books / allowed  # the whole of each refund's work, done, against the allowance
    print(f"  the emulator allows {allowed:.0f} refunds/s ", end="")
    print(f"({calls_per_row:.1f} calls at {per_call_ms:.2f} ms each): ", end="")
    print(f"{args.rows / books:.1f} refunds/s with the books caught up, {share:.2f} of it")
    print(f"  the stack's memory: {rss_at_start:.0f} MB started, {rss_seeded:.0f} MB seeded, ", end="")
    print(
        f"{rss_after:.0f} MB after the file ({rss_after / rss_at_start:.2f} x at start), peak {peak:.0f} MB"
    )
    print(f"  gateway refunds {refunds}, ledger REFUNDED entries {entries}")
    print(f"  AWS calls per row (worker, events, ledger): {sum(per_row.values()):.1f}")
    for op, n in sorted(per_row.items(), key=lambda item: -item[1]):
        print(f"    {n:>6}  {op}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name.replace('_', ' ')}")
    print(
        json.dumps(
            {
                "bench": "refunds",
                "rows": args.rows,
                "payments": payments,
                "merchants": args.merchants,
                "accepted_seconds": round(accepted, 2),
                "seconds": round(seconds, 1),
                "refunds_per_second": round(args.rows / seconds, 1),
                "books_caught_up_seconds": round(books, 1),
                "peak_rss_mb": round(peak),
                "rss_at_start_mb": round(rss_at_start),
                "rss_seeded_mb": round(rss_seeded),
                "rss_after_mb": round(rss_after),
                "rss_after_over_start": round(rss_after / rss_at_start, 2),
                "moto_in_process_call_ms": per_call_ms,
                "emulator_allowed_refunds_per_second": round(allowed, 1),
                "refunds_per_second_books_caught_up": round(args.rows / books, 1),
                "share_of_emulator_allowance": round(share, 2),
                "gateway_refunds": refunds,
                "ledger_entries": entries,
                "aws_calls_per_row": per_row,
                "checks": checks,
            }
        )
    )
    if not all(checks.values()):
        raise SystemExit("verification failed")


def wait_for_events(client: Client) -> float:
    """Until the stream pollers have published every refund's event and the topic's subscribers (the
    ledger) have taken them all: the moment the books caught up with the batch."""
    last, calm = None, 0
    while calm < 3:
        sources = client.call("GET", "/_local/event-sources")[1]["data"]
        pending = client.call("GET", "/_local/functions")[1]["async"]["pending"]
        counts = [(source["fetched"], source["delivered"] + source["dropped"]) for source in sources]
        quiet = counts == last and pending == 0 and all(fetched == done for fetched, done in counts)
        calm, last = (calm + 1 if quiet else 0), counts
        time.sleep(0.5)
    return time.perf_counter()


def post_file(url: str, body: bytes) -> dict[str, Any]:
    from urllib.request import Request, urlopen  # noqa: PLC0415

    headers = {"content-type": "text/csv", **authorization()}
    request = Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    with urlopen(request, timeout=120) as response:  # noqa: S310 (the local stack)
        assert response.status == 202
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def urlopen_text(url: str) -> str:
    from urllib.request import urlopen  # noqa: PLC0415

    with urlopen(url, timeout=10) as response:  # noqa: S310 (the local sandbox)
        return str(response.read().decode())


if __name__ == "__main__":
    main()
