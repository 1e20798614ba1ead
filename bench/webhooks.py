"""Merchant webhooks through the local stack: payments' events to ten endpoints, one of them refusing
about half its answers; delivery latency, deliveries per second, nothing lost or signed wrong, and what
a delivery costs in AWS.

One merchant registers ten endpoints on a receiver of this process (`bench/webhook_receiver.py`, every
delivery verified with the official Standard Webhooks library); endpoint e0 answers 500 to a seeded
half of its requests (never to an event's last scheduled attempt, so a lost delivery is the stack's
doing, not the draw's). The stack runs with a short retry schedule, `WebhookRetrySchedule=1,2,4,8,16`
(AWS's default waits minutes to hours), so e0's figures are those of retries seconds apart.

Each payment is created, authorized and captured by a few client threads: two events (authorized,
captured), each to ten endpoints. Latency is the first accepted receipt at an endpoint minus the time
the movement's API call answered; deliveries per second are the healthy endpoints' receipts over the
span from the first movement to the last receipt.

AWS calls are counted at the emulator (`/_local/api-calls`) and the event sources' invocations
(`/_local/event-sources`) over the run; what the webhook path makes is kept (its tables, its queues'
sends, deletes and visibility changes, one receive per invocation, the signing secrets' reads) and
priced with `bench/prices.py` into a cost per million deliveries, each write of a delivery counted
twice (its table, and its by-created index, which projects every attribute). Not in it: the payment
event's SNS publish (made for every subscriber), the pollers' empty receives (a fixed cost per queue,
not per delivery), the secrets' monthly fee; Lambda duration is assumed, 100 ms at 512 MB per
invocation, as `bench/checkout.py` does.

Unpaced, the clients move payments faster than the local stack (two pollers on a shared machine)
delivers: the deliveries per second are its capacity, and latency is mostly the queue's. `--pace`
below that rate measures the path's own latency:

    .venv/bin/python bench/webhooks.py --payments 1000
    .venv/bin/python bench/webhooks.py --payments 100 --pace 0.5

Ends with one JSON line of the figures; exits 1 if a delivery was lost or one came signed wrong.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

# Its siblings by their own names, imported as bench.webhooks too (a script has bench/ first already);
# last, so a test importing it shadows nothing.
sys.path.append(str(Path(__file__).resolve().parent))

from authorize import Client
from launcher import LaunchedStack, launch
from payments.progress import Progress
from prices import LIST_PRICES_USD, dynamodb_units
from webhook_receiver import UNKNOWN, UNSIGNED, WebhookReceiver

ROOT: Final = Path(__file__).resolve().parents[1]
RETRY_SCHEDULE: Final = (1, 2, 4, 8, 16)
EVENT_TYPES: Final = ("payment.authorized", "payment.captured")
MERCHANT: Final = "mer_bench_webhooks"
WARM_MERCHANT: Final = "mer_bench_webhooks_warm"
FAILING: Final = "e0"
HEALTHY: Final = "healthy"
FAILING_GROUP: Final = "failing"
AMOUNT: Final = 4200
# A failing endpoint is tried again within the schedule's 31 s: this long without a new receipt is a stall.
STALL_SECONDS: Final = 2 * sum(RETRY_SCHEDULE) + 30
SETTLE_SECONDS: Final = 3.0  # after the last expected receipt, for late duplicates to show
LAMBDA_GB: Final = 0.5  # the template's MemorySize, 512 MB
WEBHOOK_SQS_OPERATIONS: Final = frozenset(
    {"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility"}
)
WEBHOOK_FUNCTIONS: Final = ("webhook-dispatcher", "webhook-delivery-worker")
# A write to this table writes its by-created index too (projection ALL): one more write unit.
INDEXED_WRITES: Final = "dynamodb PutItem:webhook-deliveries"


# -- pure figures (tests/unit/test_bench_webhooks.py) -------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (the smallest value with `fraction` of them at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass(frozen=True, slots=True)
class Hit:
    """One request at an endpoint: when it came (the bench's monotonic clock) and what it was answered."""

    endpoint: str
    webhook_id: str
    at: float
    answered: int


@dataclass
class Tally:
    expected: int = 0
    received: int = 0
    lost: list[tuple[str, str, str]] = field(default_factory=list)  # (endpoint, payment, type)
    signature_failures: int = 0
    unexpected: int = 0  # accepted, but no movement of this run (or an unknown path)
    duplicates: dict[str, int] = field(default_factory=lambda: {HEALTHY: 0, FAILING_GROUP: 0})
    latencies: dict[str, list[float]] = field(default_factory=lambda: {HEALTHY: [], FAILING_GROUP: []})
    failing_requests: int = 0
    failing_refused: int = 0
    last_healthy_receipt: float | None = None


def tally(
    hits: Iterable[Hit],
    events: Mapping[str, tuple[str, str]],
    moved: Mapping[tuple[str, str], float],
    endpoints: Sequence[str],
    failing: str,
) -> Tally:
    """What arrived against what was expected: every movement (payment, type) at every endpoint.

    `events` names each webhook-id's (payment, type), from the signed bodies; `moved` is when each
    movement's API call answered. A delivery counts at its first 2xx; any request for the same id at
    the same endpoint after that is a duplicate (a retry after a refusal is not)."""
    found = Tally(expected=len(moved) * len(endpoints))
    accepted: dict[tuple[str, str], float] = {}
    for hit in sorted(hits, key=lambda h: h.at):
        group = FAILING_GROUP if hit.endpoint == failing else HEALTHY
        if hit.endpoint == failing:
            found.failing_requests += 1
            found.failing_refused += not 200 <= hit.answered < 300
        if hit.answered == UNSIGNED:
            found.signature_failures += 1
        if (hit.endpoint, hit.webhook_id) in accepted:
            found.duplicates[group] += 1
        elif 200 <= hit.answered < 300:
            accepted[hit.endpoint, hit.webhook_id] = hit.at
        elif hit.answered == UNKNOWN:
            found.unexpected += 1
    wanted = set(endpoints)
    first: set[tuple[str, str, str]] = set()
    for (endpoint, webhook_id), at in accepted.items():
        movement = events.get(webhook_id)
        if endpoint not in wanted or movement is None or movement not in moved:
            found.unexpected += 1
            continue
        first.add((endpoint, *movement))
        group = FAILING_GROUP if endpoint == failing else HEALTHY
        found.latencies[group].append(at - moved[movement])
        if group == HEALTHY and (found.last_healthy_receipt is None or at > found.last_healthy_receipt):
            found.last_healthy_receipt = at
    found.received = len(first)
    found.lost = sorted((e, p, t) for e in endpoints for (p, t) in moved if (e, p, t) not in first)
    return found


def webhook_calls(counted: Mapping[str, int], receives: int) -> dict[str, int]:
    """The counted AWS calls the webhook path made: its tables, its queues' sends, deletes and waits,
    the signing secrets' reads; plus `receives`, one per invocation of its queue-fed functions (the
    emulator cannot tell a receive that found messages from the pollers' empty ones)."""
    kept: dict[str, int] = {}
    for operation, count in counted.items():
        service, _, name = operation.partition(" ")
        action, _, table = name.partition(":")
        if (
            (service == "dynamodb" and "webhook" in table)
            or (service == "sqs" and action in WEBHOOK_SQS_OPERATIONS)
            or (service == "secretsmanager" and action == "GetSecretValue")
        ):
            kept[operation] = count
    if receives:
        kept["sqs ReceiveMessage (with messages)"] = receives
    return kept


def cost_per_million(per_delivery: Mapping[str, float], invocations: float) -> dict[str, float]:
    """USD per 1,000,000 deliveries by service, from per-delivery calls and Lambda invocations."""
    p = LIST_PRICES_USD
    wru, rru = dynamodb_units(per_delivery)
    wru += sum(n for op, n in per_delivery.items() if op.startswith(INDEXED_WRITES))
    secrets = sum(n for op, n in per_delivery.items() if op == "secretsmanager GetSecretValue")
    gb_seconds = invocations * p["lambda_assumed_ms"] / 1000 * LAMBDA_GB
    costs = {
        "lambda": invocations * p["lambda_request"] + gb_seconds * p["lambda_arm_gb_second"],
        "sqs": sum(n for op, n in per_delivery.items() if op.startswith("sqs ")) * p["sqs_request"],
        "dynamodb": wru * p["dynamodb_wru"] + rru * p["dynamodb_rru"],
        "secrets_manager": secrets * p["secrets_manager_request"],
        "kms": secrets * p["kms_request"],  # Secrets Manager decrypts each read with the data key
    }
    return {service: round(usd * 1_000_000, 2) for service, usd in costs.items()}


# -- the receiver, with each request's time ---------------------------------------------------------


class TimedReceiver(WebhookReceiver):
    """The shared receiver, keeping when each request came and counting the deliveries accepted."""

    def __init__(self, *, seed: int, max_refusals: int, measured: Iterable[str]) -> None:
        super().__init__(seed=seed, max_refusals=max_refusals)
        self._measured = frozenset(measured)
        self._hits: list[Hit] = []
        self._accepted: set[tuple[str, str]] = set()
        self._hits_lock = threading.Lock()

    def receive(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        at = time.monotonic()
        answered = super().receive(path, headers, body)
        name = path.lstrip("/").split("?", 1)[0]
        webhook_id = {key.lower(): value for key, value in headers.items()}.get("webhook-id", "")
        with self._hits_lock:
            self._hits.append(Hit(name, webhook_id, at, answered))
            if 200 <= answered < 300:
                self._accepted.add((name, webhook_id))
        return answered

    def hits(self) -> list[Hit]:
        with self._hits_lock:
            return list(self._hits)

    def accepted(self, endpoints: Iterable[str] | None = None) -> int:
        wanted = self._measured if endpoints is None else frozenset(endpoints)
        with self._hits_lock:
            return sum(1 for name, _ in self._accepted if name in wanted)

    def events(self) -> dict[str, tuple[str, str]]:
        """(payment, type) by webhook-id, from the bodies that verified."""
        return {
            r.webhook_id: (r.payment_intent_id, r.event_type)
            for r in self.received()
            if r.signed and r.payment_intent_id is not None and r.event_type is not None
        }


# -- the run ------------------------------------------------------------------------------------------


def register(client: Client, receiver: TimedReceiver, merchant: str, name: str, refusal_rate: float) -> None:
    status, body, _ = client.call(
        "POST",
        "/v1/webhook-endpoints",
        {"url": receiver.url(name), "merchantId": merchant},
        key=str(uuid.uuid4()),
    )
    if status != 201:
        raise SystemExit(f"creating the endpoint {name}: {status} {body}")
    receiver.expect(name, body["secret"], refusal_rate=refusal_rate)


def move_payments(
    api: str, count: int, clients: int, merchant: str, pace: float = 0.0
) -> dict[tuple[str, str], float]:
    """Create, authorize and capture `count` payments on `clients` threads, the n-th started no sooner
    than n / `pace` seconds in (0: as fast as they go): when each movement's API call answered, by
    (payment, event type)."""
    moved: dict[tuple[str, str], float] = {}
    errors: list[str] = []
    lock = threading.Lock()
    numbers = iter(range(count))
    progress = Progress("  payments", count)
    started = time.monotonic()

    def work() -> None:
        client = Client(api)
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            if pace > 0:
                time.sleep(max(0.0, started + number / pace - time.monotonic()))
            body = {
                "amount": AMOUNT,
                "currency": "USD",
                "customerId": f"cus_wh_{uuid.uuid4().hex[:12]}",  # one each: velocity never steps up
                "merchantId": merchant,
                "paymentMethod": "pm_card_visa",
            }
            status, intent, _ = client.call("POST", "/v1/payment-intents", body, key=str(uuid.uuid4()))
            if status != 201:
                with lock:
                    errors.append(f"create: {status} {intent}")
                continue
            intent_id = intent["paymentIntentId"]
            for step, event_type in (("authorize", EVENT_TYPES[0]), ("capture", EVENT_TYPES[1])):
                path = f"/v1/payment-intents/{intent_id}/{step}"
                status, answer, _ = client.call("POST", path, {}, key=str(uuid.uuid4()))
                answered = time.monotonic()
                if status != 200:
                    with lock:
                        errors.append(f"{step} {intent_id}: {status} {answer}")
                    break
                with lock:
                    moved[intent_id, event_type] = answered
            with lock:
                progress.advance()

    threads = [threading.Thread(target=work, name=f"payments-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.finish()
    if errors:
        raise SystemExit(f"{len(errors)} payment calls failed, e.g. {errors[0][:300]}")
    return moved


def wait_for_deliveries(receiver: TimedReceiver, expected: int, started: float, deadline: float) -> None:
    """Until every expected delivery was accepted, nothing new came for STALL_SECONDS, or the deadline."""
    progress = Progress("  deliveries", expected)
    progress.started = started  # its rate since the first payment, when deliveries began
    last, last_change = -1, time.monotonic()
    while True:
        done = receiver.accepted()
        now = time.monotonic()
        if done != last:
            last, last_change = done, now
        progress.update(min(done, expected))
        if done >= expected or now - last_change > STALL_SECONDS or now > deadline:
            break
        time.sleep(0.5)
    progress.finish()
    time.sleep(SETTLE_SECONDS)


def warm_up(stack: LaunchedStack, receiver: TimedReceiver) -> None:
    """The dispatcher and the worker imported once, with their connections made, off the figures."""
    client = Client(stack.api)
    register(client, receiver, WARM_MERCHANT, "warm", 0.0)
    move_payments(stack.api, 3, 1, WARM_MERCHANT)
    deadline = time.monotonic() + 120
    while receiver.accepted(["warm"]) < 3 * len(EVENT_TYPES) and time.monotonic() < deadline:
        time.sleep(0.2)


def invocations(client: Client) -> dict[str, int]:
    _, body, _ = client.call("GET", "/_local/event-sources")
    return {
        queue["function"]: int(queue["invocations"])
        for queue in body["queues"]
        if any(name in queue["function"] for name in WEBHOOK_FUNCTIONS)
    }


def api_calls(client: Client) -> dict[str, int]:
    _, body, _ = client.call("GET", "/_local/api-calls")
    counts: dict[str, int] = body["byOperation"]
    return counts


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4, help="threads creating and moving payments")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="payments started per second (0: as fast as the clients go, which queues deliveries up "
        "when the local stack delivers slower than the clients move payments)",
    )
    parser.add_argument("--refusal-rate", type=float, default=0.5, help="of e0's answers, about")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=1800, help="seconds to wait for deliveries")
    args = parser.parse_args()
    endpoints = [f"e{n}" for n in range(args.endpoints)]
    schedule = ",".join(str(wait) for wait in RETRY_SCHEDULE)

    # e0 refuses at most as often as there are retries: its last attempt is always accepted.
    receiver = TimedReceiver(seed=args.seed, max_refusals=len(RETRY_SCHEDULE), measured=endpoints)
    receiver.start()
    print(f"starting payments local up (WebhookRetrySchedule={schedule}) ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT, parameters={"WebhookRetrySchedule": schedule})
    try:
        client = Client(stack.api)
        warm_up(stack, receiver)
        for name in endpoints:
            register(client, receiver, MERCHANT, name, args.refusal_rate if name == FAILING else 0.0)
        calls_before, invoked_before = api_calls(client), invocations(client)
        started = time.monotonic()
        moved = move_payments(stack.api, args.payments, args.clients, MERCHANT, args.pace)
        expected = len(moved) * len(endpoints)
        wait_for_deliveries(receiver, expected, started, started + args.deadline)
        calls_after, invoked_after = api_calls(client), invocations(client)
    finally:
        stack.stop(timeout=60)
        receiver.stop()

    ours = [hit for hit in receiver.hits() if hit.endpoint in endpoints]  # not the warm-up's
    found = tally(ours, receiver.events(), moved, endpoints, FAILING)
    invoked = {fn: n - invoked_before.get(fn, 0) for fn, n in invoked_after.items()}
    counted = {
        op: n - calls_before.get(op, 0) for op, n in calls_after.items() if n != calls_before.get(op, 0)
    }
    delivered = max(1, found.received)
    kept = webhook_calls(counted, sum(invoked.values()))
    per_delivery = {op: round(n / delivered, 4) for op, n in sorted(kept.items())}
    invocations_per_delivery = round(sum(invoked.values()) / delivered, 4)
    costs = cost_per_million(per_delivery, invocations_per_delivery)
    first_movement, last_movement = min(moved.values()), max(moved.values())
    span = (found.last_healthy_receipt or first_movement) - first_movement
    healthy_received = len(found.latencies[HEALTHY])
    rate = healthy_received / span if span > 0 else 0.0
    latency = {
        group: {"p50": ms(percentile(values, 0.5)), "p99": ms(percentile(values, 0.99))}
        for group, values in found.latencies.items()
    }
    shared_publishes = counted.get("sns Publish", 0) / delivered
    # The receipts ran on well after the movements: deliveries queued, and latency is mostly the queue's.
    backlogged = span > 1.5 * (last_movement - first_movement) + 5

    print(
        f"\nmerchant webhooks through the local stack: {len(moved) // 2} payments, {len(moved)} events, "
        f"{len(endpoints)} endpoints ({FAILING} refusing {found.failing_refused} of its "
        f"{found.failing_requests} requests); WebhookRetrySchedule={schedule}"
    )
    print(f"  deliveries expected {found.expected}, received {found.received}, lost {len(found.lost)}")
    for endpoint, payment, event_type in found.lost[:5]:
        print(f"    lost: {event_type} of {payment} at {endpoint}")
    print(
        f"  signature failures {found.signature_failures}; duplicates (after an accepted one): "
        f"healthy {found.duplicates[HEALTHY]}, {FAILING} {found.duplicates[FAILING_GROUP]}; "
        f"unexpected {found.unexpected}"
    )
    for group, title in ((HEALTHY, "healthy endpoints"), (FAILING_GROUP, f"{FAILING} (refusing)")):
        print(
            f"  latency, movement answered -> first accepted receipt, {title}: "
            f"p50 {latency[group]['p50']} ms  p99 {latency[group]['p99']} ms"
        )
    print(
        f"  healthy deliveries per second: {rate:.1f} ({healthy_received} over {span:.1f} s from the first "
        f"movement; the movements took {last_movement - first_movement:.1f} s"
        + (f", paced at {args.pace:g} payments/s)" if args.pace else ", unpaced)")
    )
    if backlogged:
        print(
            "  (the stack delivered slower than the payments moved: the latency above is mostly waiting "
            "in the queue; --pace below the delivery rate measures the path itself)"
        )
    print(f"  invocations per delivery: {invocations_per_delivery:g} ({invoked})")
    print("  AWS calls per delivery (the webhook path):")
    for op, value in per_delivery.items():
        print(f"    {value:>8}  {op}")
    print(f"    ({shared_publishes:.3f} SNS publishes per delivery: the event's own, for every subscriber)")
    print("\nAWS cost per 1,000,000 deliveries (USD, list prices in bench/prices.py)")
    for service, usd in costs.items():
        print(f"  {service:<16}{usd:>8.2f}")
    print(f"  {'total':<16}{sum(costs.values()):>8.2f}")
    print(
        json.dumps(
            {
                "bench": "webhooks",
                "payments": len(moved) // 2,
                "events": len(moved),
                "endpoints": len(endpoints),
                "retry_schedule": schedule,
                "deliveries_expected": found.expected,
                "deliveries_received": found.received,
                "lost": len(found.lost),
                "signature_failures": found.signature_failures,
                "duplicates": found.duplicates,
                "unexpected": found.unexpected,
                "failing_endpoint": {"requests": found.failing_requests, "refused": found.failing_refused},
                "latency_ms": latency,
                "deliveries_per_second": round(rate, 1),
                "span_seconds": round(span, 1),
                "movements_seconds": round(last_movement - first_movement, 1),
                "pace_payments_per_second": args.pace or None,
                "backlogged": backlogged,
                "invocations_per_delivery": invocations_per_delivery,
                "calls_per_delivery": per_delivery,
                "sns_publishes_per_delivery_not_charged": round(shared_publishes, 4),
                "cost_per_million_usd": {"total": round(sum(costs.values()), 2), "by_service": costs},
            }
        )
    )
    return 1 if found.lost or found.signature_failures else 0


if __name__ == "__main__":
    sys.exit(main())
