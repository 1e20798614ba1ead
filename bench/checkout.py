"""Checkout end to end against `payments local up`: latency, and what one checkout costs in AWS.

Each checkout is timed from `POST /v1/checkouts` until `GET /v1/checkouts/{id}` says SUCCEEDED. The
AWS calls are counted at the emulator while the checkouts run; the status polling's own calls (measured
per GET before the run) are subtracted, so what remains is what the checkout itself does. State
transitions are read from each execution's history. Cost per million checkouts = counts x list prices
(`bench/prices.py`, sources in docs/cost.md), Standard and Express side by side.
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, bench/ is on the path: the authorize bench's keep-alive client and the price list.
from authorize import Client, create_intents
from emulator import emulator_client
from launcher import LaunchedStack, launch
from payments.progress import Progress
from prices import LIST_PRICES_USD, dynamodb_units

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.02
RECEIPT_EMAIL = "bench@example.com"


def _client(stack: LaunchedStack) -> Any:
    return Client(stack.api)


def api_calls(client: Any) -> dict[str, int]:
    _, body, _ = client.call("GET", "/_local/api-calls")
    counts: dict[str, int] = body["byOperation"]
    return counts


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


def run_checkout(client: Any, payment_intent_id: str) -> tuple[float, str, int]:
    """(seconds to SUCCEEDED, tracking id, GETs made)."""
    started = time.perf_counter()
    status, body, _ = client.call("POST", "/v1/checkouts", {"paymentIntentId": payment_intent_id})
    assert status == 202, body
    tracking_id = body["trackingId"]
    polls = 0
    while True:
        _, view, _ = client.call("GET", f"/v1/checkouts/{tracking_id}")
        polls += 1
        if view["status"] == "SUCCEEDED":
            return time.perf_counter() - started, tracking_id, polls
        if view["status"] != "RUNNING":
            raise SystemExit(f"checkout {tracking_id} ended {view}")
        time.sleep(POLL_SECONDS)


def transitions(stack: LaunchedStack, tracking_ids: list[str]) -> float:
    sfn = emulator_client(stack, "stepfunctions")
    [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    counts = []
    for tracking_id in tracking_ids:
        arn = f"{machine.replace(':stateMachine:', ':execution:')}:{tracking_id}"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        counts.append(sum(1 for event in events if event["type"].endswith("StateEntered")))
    return statistics.mean(counts)


def cost_per_million(per_checkout: dict[str, float], *, workflow: str, seconds: float) -> dict[str, float]:
    """USD per 1,000,000 checkouts, by service, from per-checkout counts."""
    p = LIST_PRICES_USD
    lambda_gb_seconds = per_checkout["lambda_invocations"] * p["lambda_assumed_ms"] / 1000 * 0.5
    costs = {
        "lambda": per_checkout["lambda_invocations"] * p["lambda_request"]
        + lambda_gb_seconds * p["lambda_arm_gb_second"],
        "dynamodb": per_checkout["dynamodb_wru"] * p["dynamodb_wru"]
        + per_checkout["dynamodb_rru"] * p["dynamodb_rru"],
        "sns": per_checkout["sns_publishes"] * p["sns_publish"],
        "ses": per_checkout["ses_emails"] * p["ses_email"],
        "s3": per_checkout["s3_puts"] * p["s3_put"],
        "kms": per_checkout["s3_puts"] * p["kms_request"],
        "api_gateway": per_checkout["api_requests"] * p["http_api_request"],
    }
    if workflow == "STANDARD":
        costs["step_functions"] = per_checkout["state_transitions"] * p["sfn_standard_transition"]
    else:
        billed_seconds = max(0.1, round(seconds + 0.049, 1))  # billed in 100 ms steps
        costs["step_functions"] = (
            p["sfn_express_request"] + billed_seconds * 0.0625 * p["sfn_express_gb_second"]
        )
    return {service: round(usd * 1_000_000, 2) for service, usd in costs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkouts", type=int, default=200)
    args = parser.parse_args()

    print("starting payments local up ...", file=sys.stderr, flush=True)
    stack = launch(cwd=ROOT)
    try:
        client = _client(stack)
        for intent_id in create_intents(stack.api, 5, receiptEmail=RECEIPT_EMAIL):  # warm every function
            run_checkout(client, intent_id)
        intent_ids = create_intents(stack.api, args.checkouts, receiptEmail=RECEIPT_EMAIL)
        latencies, tracking_ids, polls = [], [], 0
        before = api_calls(client)
        progress = Progress("  checkouts", len(intent_ids))
        for intent_id in intent_ids:
            seconds, tracking_id, gets = run_checkout(client, intent_id)
            latencies.append(seconds)
            tracking_ids.append(tracking_id)
            polls += gets
            progress.advance()
        progress.finish()
        counted = delta(api_calls(client), before)
        per_get = _calls_per_get(client, tracking_ids[0])
        state_transitions = transitions(stack, tracking_ids[:50])
    finally:
        stack.stop()

    n = len(intent_ids)
    own = {op: counted[op] - per_get.get(op, 0) * polls for op in counted}
    own = {op: value for op, value in own.items() if value}
    per_checkout_ops = {op: round(value / n, 3) for op, value in sorted(own.items())}
    lambda_workflow = sum(v for op, v in per_checkout_ops.items() if op.startswith("lambda Invoke"))
    wru, rru = dynamodb_units(per_checkout_ops)
    per_checkout = {
        "state_transitions": state_transitions,
        "lambda_invocations": lambda_workflow + 1,  # the workflow's tasks + the start-checkout API function
        "dynamodb_wru": wru,
        "dynamodb_rru": rru,
        "sns_publishes": sum(v for op, v in per_checkout_ops.items() if op == "sns Publish"),
        "ses_emails": sum(v for op, v in per_checkout_ops.items() if op == "ses SendTemplatedEmail"),
        "s3_puts": sum(v for op, v in per_checkout_ops.items() if op.startswith("s3 PutObject")),
        "api_requests": 1,
    }
    p50, p99 = statistics.median(latencies), sorted(latencies)[max(0, round(0.99 * n) - 1)]
    standard = cost_per_million(per_checkout, workflow="STANDARD", seconds=p50)
    express = cost_per_million(per_checkout, workflow="EXPRESS", seconds=p50)

    print(f"\ncheckout end to end, happy path, {n} checkouts one after another (local stack)")
    print(
        f"  p50 {p50 * 1000:.0f} ms   p99 {p99 * 1000:.0f} ms   (polling every {POLL_SECONDS * 1000:.0f} ms)"
    )
    print(f"  state transitions per checkout: {state_transitions:g}")
    print(f"  Lambda invocations per checkout: {per_checkout['lambda_invocations']:g}")
    print(f"  AWS API calls per checkout (polling excluded): {sum(per_checkout_ops.values()):g}")
    for op, value in per_checkout_ops.items():
        print(f"    {value:>6}  {op}")
    print("\nAWS cost per 1,000,000 checkouts (USD, list prices in bench/prices.py)")
    print(f"  {'service':<16}{'Standard':>10}{'Express':>10}")
    for service in standard:
        print(f"  {service:<16}{standard[service]:>10.2f}{express[service]:>10.2f}")
    print(f"  {'total':<16}{sum(standard.values()):>10.2f}{sum(express.values()):>10.2f}")
    print(
        json.dumps(
            {
                "bench": "checkout",
                "checkouts": n,
                "p50_ms": round(p50 * 1000, 1),
                "p99_ms": round(p99 * 1000, 1),
                "state_transitions": state_transitions,
                "per_checkout": per_checkout,
                "calls_by_operation": per_checkout_ops,
                "cost_per_million_usd": {
                    "standard": round(sum(standard.values()), 2),
                    "express": round(sum(express.values()), 2),
                    "standard_by_service": standard,
                    "express_by_service": express,
                },
            }
        )
    )


def _calls_per_get(client: Any, tracking_id: str) -> dict[str, int]:
    before = api_calls(client)
    client.call("GET", f"/v1/checkouts/{tracking_id}")
    return delta(api_calls(client), before)


if __name__ == "__main__":
    main()
