"""Load: concurrent API clients against `payments local up` for a fixed time, with the stack's memory
sampled throughout.

Each client loops over one payment's life on its own keep-alive connection: create, authorize, read,
capture half, refund a quarter, read. Every answer is checked against the contract (the status code and
the intent's status); anything else counts as an error. The stack's resident memory is read from /proc
every few seconds: "flat" means the second half of the run does not keep growing over the first.

    .venv/bin/python bench/load.py --clients 20 --seconds 60

Prints throughput, latency percentiles per request kind, errors and memory; ends with one JSON line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authorize import Client
from launcher import launch
from payments.progress import Progress

ROOT = Path(__file__).resolve().parents[1]

# (label, method, path template, body, expected status, expected intent status or None)
STEPS: list[tuple[str, str, str, dict[str, Any] | None, int, str | None]] = [
    ("authorize", "POST", "/v1/payment-intents/{id}/authorize", {}, 200, "AUTHORIZED"),
    ("get", "GET", "/v1/payment-intents/{id}", None, 200, "AUTHORIZED"),
    ("capture", "POST", "/v1/payment-intents/{id}/capture", {"amount": 2100}, 200, "CAPTURED"),
    ("refund", "POST", "/v1/refunds", {"amount": 1000}, 201, None),
    ("get", "GET", "/v1/payment-intents/{id}", None, 200, "PARTIALLY_REFUNDED"),
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Run:
    def __init__(self, api: str, until: float) -> None:
        self.api = api
        self.until = until
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.payments = 0

    def _timed(self, client: Client, label: str, method: str, path: str, body: Any) -> tuple[int, Any]:
        started = time.perf_counter()
        key = str(uuid.uuid4()) if method == "POST" else None
        try:
            status, answer, _ = client.call(method, path, body, key=key)
        except (OSError, http.client.HTTPException) as error:  # a refused or reset connection is an error
            client.reconnect()
            return 0, {"error": repr(error)}
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies.setdefault(label, []).append(elapsed)
        return status, answer

    def reader(self, number: int) -> None:
        """Reads only: one payment made, then read again and again (no data added while it runs)."""
        client = Client(self.api)
        body = {
            "amount": 4200,
            "currency": "USD",
            "customerId": f"cus_read_{number}",
            "merchantId": "mer_load",
            "paymentMethod": "pm_card_visa",
        }
        status, intent = self._timed(client, "create", "POST", "/v1/payment-intents", body)
        path = f"/v1/payment-intents/{intent.get('paymentIntentId')}"
        while time.monotonic() < self.until:
            status, answer = self._timed(client, "get", "GET", path, None)
            if status != 200:
                self._error(f"get: {status} {answer}")

    def client(self, number: int) -> None:
        client = Client(self.api)
        while time.monotonic() < self.until:
            body = {
                "amount": 4200,
                "currency": "USD",
                "customerId": f"cus_load_{number}_{uuid.uuid4().hex[:10]}",
                "merchantId": "mer_load",
                "paymentMethod": "pm_card_visa",
            }
            status, intent = self._timed(client, "create", "POST", "/v1/payment-intents", body)
            if status != 201:
                self._error(f"create: {status} {intent}")
                continue
            intent_id = intent["paymentIntentId"]
            for label, method, path, step_body, expected, intent_status in STEPS:
                payload = {**step_body, "paymentIntentId": intent_id} if label == "refund" else step_body
                status, answer = self._timed(client, label, method, path.format(id=intent_id), payload)
                if status != expected or (intent_status and answer.get("status") != intent_status):
                    self._error(f"{label} {intent_id}: {status} {answer}")
                    break
            else:
                with self.lock:
                    self.payments += 1

    def _error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--reads-only", action="store_true", help="read one payment per client: memory with no data added"
    )
    args = parser.parse_args()
    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT)
    try:
        for _ in range(3):  # every function on the path imported once, as a warm container would be
            Run(stack.api, time.monotonic() + 0.01).client(0)
        memory: list[tuple[float, float]] = []
        started = time.monotonic()
        run = Run(stack.api, started + args.seconds)
        work = run.reader if args.reads_only else run.client
        threads = [threading.Thread(target=work, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        progress = Progress(f"  {args.clients} clients", int(args.seconds))
        while any(thread.is_alive() for thread in threads):
            memory.append((time.monotonic() - started, rss_mb(stack.process.pid)))
            progress.update(
                min(int(time.monotonic() - started), int(args.seconds)), f"{run.payments} payments"
            )
            time.sleep(2)
        progress.finish(f"{run.payments} payments")
        elapsed = time.monotonic() - started
    finally:
        stack.stop()

    requests = sum(len(values) for values in run.latencies.values())
    half = [rss for t, rss in memory if t >= args.seconds / 2]
    first = [rss for t, rss in memory if t < args.seconds / 2]
    growth = (statistics.mean(half) - statistics.mean(first)) if half and first else float("nan")
    print(f"\n{args.clients} clients for {elapsed:.0f} s against the local stack (one process, 2 cores)")
    print(
        f"  requests {requests}, {requests / elapsed:.1f}/s; payments through their whole life {run.payments}"
    )
    print(f"  errors {len(run.errors)}")
    for error in run.errors[:5]:
        print(f"    {error[:200]}")
    print(f"  {'request':<10}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for label, values in sorted(run.latencies.items()):
        print(
            f"  {label:<10}{len(values):>7}{percentile(values, 0.5):>9.1f}"
            f"{percentile(values, 0.95):>9.1f}{percentile(values, 0.99):>9.1f}"
        )
    print(
        f"  memory (RSS): {memory[0][1]:.0f} MB at start, {memory[-1][1]:.0f} MB at the end; "
        f"second half's mean minus the first's: {growth:+.1f} MB"
    )
    figures = {
        "bench": "load-reads" if args.reads_only else "load",
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "payments": run.payments,
        "errors": len(run.errors),
        "latency_ms": {
            label: {
                q: round(percentile(values, p), 1) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            }
            for label, values in sorted(run.latencies.items())
        },
        "rss_mb": {
            "start": round(memory[0][1]),
            "end": round(memory[-1][1]),
            "half_over_half": round(growth, 1),
        },
    }
    print(json.dumps(figures))
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
