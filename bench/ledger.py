"""The ledger under load, through the local stack: postings per second and DynamoDB calls per posting.

Payment histories (authorize, partial capture, partial refund; some voided instead) are built with the
domain model, and each of their events is published to the `payment-events` topic the way the events
publisher does, every event twice and in shuffled order, from several threads. The topic fans each
message out to its subscribers (the ledger, fraud feedback, analytics, ops alerts by filter), which run
asynchronously as in AWS; the clock stops when the last of them has finished.

Counted at the emulator: the ledger's `TransactWriteItems` (one per delivery: a duplicate is refused by
its condition) and every other DynamoDB call. Verified afterwards over the API: one entry per event,
the run's currency nets to what was captured and not refunded, every currency balances to zero.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Run as a script, bench/ is on the path: the authorize bench's keep-alive client.
from authorize import Client
from emulator import emulator_client
from launcher import LaunchedStack, launch
from payments.adapters.event_topic import event_body, event_from_body
from payments.domain.events import EventType, event_for
from payments.domain.intents import PaymentIntent
from payments.domain.ledger import postings_for
from payments.domain.money import Money

ROOT = Path(__file__).resolve().parents[1]
CURRENCY = "CHF"  # the run's own currency: its balances are this run's postings alone
# The stream pollers keep reading the (idle) transactions stream meanwhile: not the deliveries' calls.
STREAM_POLLING = frozenset({"dynamodb GetRecords", "dynamodb GetShardIterator", "dynamodb DescribeStream"})


def histories(payments: int, seed: int) -> tuple[list[dict[str, Any]], int]:
    """Every event of `payments` payment histories, and the amount left owed to merchants."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    owed = 0
    for number in range(payments):
        intent = PaymentIntent.create(
            amount=Money.of(rng.randint(100, 50_000), CURRENCY),
            customer_id=f"cus_bench_{number}",
            merchant_id="mer_bench",
            payment_method="pm_card_visa",
            now=now,
            time_to_live=timedelta(hours=1),
        )
        intent.authorize(authorization_id=f"auth_{number}", now=now)
        if rng.random() < 0.2:
            intent.void(now=now, gateway_reference=f"void_{number}")
        else:
            captured = rng.randint(1, intent.amount.amount)
            intent.capture(amount=Money.of(captured, CURRENCY), now=now, gateway_reference=f"cap_{number}")
            refunded = rng.randint(1, captured)
            intent.refund(amount=Money.of(refunded, CURRENCY), now=now, gateway_reference=f"re_{number}")
            owed += captured - refunded
        events += [event_body(event_for(transaction)) for transaction in intent.new_transactions]
    return events, owed


def ledger_items(stack: LaunchedStack) -> list[dict[str, Any]]:
    paginator = emulator_client(stack, "dynamodb").get_paginator("scan")
    return [item for page in paginator.paginate(TableName="ledger-local") for item in page["Items"]]


def publisher(stack: LaunchedStack) -> tuple[Any, str]:
    sns = emulator_client(stack, "sns")
    [topic] = [
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":payment-events-local")
    ]
    return sns, topic


def publish(sns: Any, topic: str, body: dict[str, Any]) -> None:
    """As the events publisher does: the body, with the attributes subscribers filter on."""
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(body),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": body[name]}
            for name in ("eventType", "amountTier", "eventId")
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--copies", type=int, default=2, help="deliveries of each event (duplicates)")
    args = parser.parse_args()

    events, owed = histories(args.payments, args.seed)
    money_events = [e for e in events if e["eventType"] != EventType.DECLINED]
    deliveries = events * args.copies
    # Items in each posting's transaction: the entry and each (currency, account) balance it moves
    items = [
        1 + len(entry.balance_changes()) for e in money_events if (entry := postings_for(event_from_body(e)))
    ]
    random.Random(args.seed).shuffle(deliveries)

    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT)
    try:
        client = Client(stack.api)
        sns, topic = publisher(stack)
        _, before, _ = client.call("GET", "/_local/api-calls")
        started = time.perf_counter()
        done = 0
        with ThreadPoolExecutor(args.concurrency) as pool:
            for _ in pool.map(lambda body: publish(sns, topic, body), deliveries):
                done += 1
                if done % 500 == 0:
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done}/{len(deliveries)} deliveries, {rate:.0f}/s", file=sys.stderr, flush=True)
        while client.call("GET", "/_local/functions")[1]["async"]["pending"]:  # deliveries still running
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        _, after, _ = client.call("GET", "/_local/api-calls")

        # Verify: every event posted once (the ledger table), the books exact and balanced (the API)
        _, balances, _ = client.call("GET", "/v1/ledger/balances")
        ours = {e["paymentIntentId"] for e in events}
        entries = sum(1 for item in ledger_items(stack) if item["paymentIntentId"]["S"] in ours)
    finally:
        stack.stop()

    calls = {
        op: n - before["byOperation"].get(op, 0)
        for op, n in after["byOperation"].items()
        if op.startswith("dynamodb ") and op not in STREAM_POLLING and n != before["byOperation"].get(op, 0)
    }
    ledger_writes = calls.get("dynamodb TransactWriteItems", 0)
    per_currency: dict[str, int] = {}
    for row in balances["data"]:
        per_currency[row["currency"]] = per_currency.get(row["currency"], 0) + row["balance"]
    payable = next(
        (
            row["balance"]
            for row in balances["data"]
            if (row["account"], row["currency"]) == ("merchant_payable", CURRENCY)
        ),
        0,
    )
    checks = {
        "one_entry_per_event": entries == len(money_events),
        "merchant_payable_is_captured_minus_refunded": payable == -owed,
        "every_currency_balances": set(per_currency.values()) <= {0},
    }
    postings = len(money_events)
    print(f"\nledger postings through the local stack: {args.payments} payments, {len(events)} events")
    shape = f"every event {args.copies}x, shuffled"
    print(f"  deliveries {len(deliveries)} ({shape}) from {args.concurrency} threads")
    print(
        f"  wall time {seconds:.1f} s: {postings / seconds:.0f} postings/s, "
        f"{len(deliveries) / seconds:.0f} deliveries/s"
    )
    print(
        f"  ledger TransactWriteItems: {ledger_writes} = {ledger_writes / len(deliveries):.2f} per delivery, "
        f"{ledger_writes / postings:.2f} per posting (a duplicate costs one refused transaction)"
    )
    print(
        f"  items per posting transaction: {sum(items) / len(items):.2f} (the entry + the balances it moves)"
    )
    print("  every DynamoDB call in the run (fraud feedback counts AUTHORIZED events too):")
    for op, n in sorted(calls.items()):
        print(f"    {n:>7}  {op}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name.replace('_', ' ')}")
    print(
        json.dumps(
            {
                "bench": "ledger",
                "payments": args.payments,
                "events": len(events),
                "postings": postings,
                "deliveries": len(deliveries),
                "concurrency": args.concurrency,
                "seconds": round(seconds, 2),
                "postings_per_second": round(postings / seconds, 1),
                "deliveries_per_second": round(len(deliveries) / seconds, 1),
                "ledger_transact_writes_per_delivery": round(ledger_writes / len(deliveries), 3),
                "ledger_transact_writes_per_posting": round(ledger_writes / postings, 3),
                "items_per_posting_transaction": round(sum(items) / len(items), 2),
                "copies": args.copies,
                "dynamodb_calls": calls,
                "checks": checks,
            }
        )
    )
    if not all(checks.values()):
        raise SystemExit("verification failed")


if __name__ == "__main__":
    main()
