"""Authorize latency over HTTP against `payments local up`, and AWS API calls per authorization.

The stack runs in its own process (as `make run` starts it); this process only sends requests, with
one keep-alive connection per client. AWS calls are counted by the emulator as it serves them, and
measured against moto's own in-process per-call cost (`bench/calls.py`): p99 / (calls x per-call) says
how far a request is from what the emulator itself allows. Throughput at the highest concurrency over
concurrency 1 says whether more clients get more done. Ends with one JSON line of the figures.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from calls import moto_in_process
from launcher import launch
from payments.local.api_key import authorization
from payments.progress import Progress

ROOT = Path(__file__).resolve().parents[1]


class Client:
    """One keep-alive HTTP connection, like one API client."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._address = (parts.hostname or "127.0.0.1", parts.port)
        self._connection = http.client.HTTPConnection(*self._address, timeout=30)
        self.last_aws_calls = 0  # the AWS calls the last request's functions made (local stacks say)

    def reconnect(self) -> None:
        """A new connection, after the old one failed."""
        self._connection.close()
        self._connection = http.client.HTTPConnection(*self._address, timeout=30)

    def call(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any, float]:
        headers = {"content-type": "application/json", **authorization()}
        if key:
            headers["idempotency-key"] = key
        payload = None if body is None else json.dumps(body)
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        data = json.loads(response.read() or b"null")
        server_ms = float(response.getheader("x-local-duration-ms") or 0)
        self.last_aws_calls = int(response.getheader("x-local-aws-calls") or 0)
        return response.status, data, server_ms


def create_intents(base_url: str, count: int, **fields: Any) -> list[str]:
    """`count` approvable intents, each for a customer of its own (so velocity never steps up)."""
    client = Client(base_url)
    ids = []
    for _ in range(count):
        status, body, _ = client.call(
            "POST",
            "/v1/payment-intents",
            {
                "amount": 4200,
                "currency": "USD",
                "customerId": f"cus_{uuid.uuid4().hex[:12]}",
                "merchantId": "mer_bench",
                "paymentMethod": "pm_card_visa",
                **fields,
            },
        )
        assert status == 201, body
        ids.append(body["paymentIntentId"])
    return ids


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


def run(base_url: str, intent_ids: list[str], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    server: list[float] = []
    request_calls: list[int] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()
    done = 0

    def authorize(payment_intent_id: str) -> None:
        nonlocal errors, done
        if not hasattr(local, "client"):
            local.client = Client(base_url)
        started = time.perf_counter()
        status, _, server_ms = local.client.call(
            "POST", f"/v1/payment-intents/{payment_intent_id}/authorize", key=str(uuid.uuid4())
        )
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            server.append(server_ms)
            request_calls.append(local.client.last_aws_calls)
            errors += status != 200
            done += 1
            progress.update(done)

    progress = Progress(f"  concurrency {concurrency}", len(intent_ids))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(authorize, intent_ids))
    progress.finish()
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(intent_ids),
        "errors": errors,
        "throughput_per_s": round(len(intent_ids) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "server_p50_ms": round(percentile(server, 0.50), 2),
        "server_p99_ms": round(percentile(server, 0.99), 2),
        "aws_calls_of_the_request": statistics.median(request_calls),
    }


def api_calls(base_url: str) -> dict[str, int]:
    _, body, _ = Client(base_url).call("GET", "/_local/api-calls")
    counts: dict[str, int] = body["byOperation"]
    return counts


def emulator_call_ms(aws_endpoint: str, samples: int = 300) -> float:
    """The emulator's per-call time over HTTP from another process: a strong GetItem, median of many."""
    import boto3  # noqa: PLC0415

    client = boto3.client(
        "dynamodb",
        endpoint_url=aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )
    key = {"paymentIntentId": {"S": "pi_missing"}}
    client.get_item(TableName="payment-intents-local", Key=key)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        client.get_item(TableName="payment-intents-local", Key=key, ConsistentRead=True)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="authorizations per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()

    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT)
    try:
        base = stack.api
        print("warming up ...", file=sys.stderr, flush=True)
        run(base, create_intents(base, 50), 2)
        results = []
        calls_per_authorization: dict[str, float] = {}
        for concurrency in args.concurrency:
            print(f"creating {args.requests} intents ...", file=sys.stderr, flush=True)
            ids = create_intents(base, args.requests)
            before = api_calls(base)
            results.append(run(base, ids, concurrency))
            after = api_calls(base)
            if not calls_per_authorization:
                calls_per_authorization = {
                    op: round((after[op] - before.get(op, 0)) / len(ids), 3)
                    for op in after
                    if after[op] != before.get(op, 0)
                }
        http_call_ms = emulator_call_ms(stack.aws_endpoint)
    finally:
        stack.stop()
    print("moto's in-process per-call cost ...", file=sys.stderr, flush=True)
    per_call_ms = moto_in_process(samples=300)["dynamodb GetItem"]

    fraud_calls = sum(n for op, n in calls_per_authorization.items() if "fraud-velocity" in op)
    total_calls = sum(calls_per_authorization.values())
    authorize_calls = total_calls - fraud_calls
    print("\nauthorize over HTTP (local stack, sandbox gateway included)")
    print(f"{'concurrency':>11} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in results:
        print(
            f"{r['concurrency']:>11} {r['throughput_per_s']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} "
            f"{r['p99_ms']:>8} {r['errors']:>6}"
        )
    print("\nAWS API calls per authorization, with what it set off (counted at the emulator):")
    for op, n in sorted(calls_per_authorization.items()):
        print(f"  {n:>6}  {op}")
    print(f"  authorize function: {authorize_calls:g}, fraud-check function: {fraud_calls:g}")
    print(f"\nper-call cost, GetItem median: moto in-process {per_call_ms:.2f} ms", end="")
    print(f", over HTTP from another process {http_call_ms:.2f} ms")
    request_calls = results[0]["aws_calls_of_the_request"]
    print(f"AWS calls of the request itself (median, the functions it ran): {request_calls:g}")
    budget = request_calls * per_call_ms
    for r in results:
        # A runtime without the x-local-aws-calls header (before it existed) gives no request calls.
        r["p99_over_calls_x_per_call"] = round(r["p99_ms"] / budget, 2) if budget else None
        ratio = r["p99_over_calls_x_per_call"]
        print(f"  concurrency {r['concurrency']}: p99 / (calls x per-call) = {ratio}")
    scaling = round(results[-1]["throughput_per_s"] / results[0]["throughput_per_s"], 2)
    highest, lowest = results[-1]["concurrency"], results[0]["concurrency"]
    print(f"throughput at concurrency {highest} / at {lowest}: {scaling:.2f}")
    print(
        json.dumps(
            {
                "bench": "authorize",
                "results": results,
                "aws_calls_per_authorization": total_calls,
                "aws_calls_of_the_request": request_calls,
                "aws_calls_authorize_function": authorize_calls,
                "aws_calls_fraud_function": fraud_calls,
                "calls_by_operation": calls_per_authorization,
                "moto_in_process_call_ms": round(per_call_ms, 3),
                "emulator_http_call_ms": round(http_call_ms, 3),
                "throughput_scaling": scaling,
            }
        )
    )


if __name__ == "__main__":
    main()
