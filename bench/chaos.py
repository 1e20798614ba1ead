"""Fault campaigns: thousands of payments through `payments local up` while the gateway fails at 10 %
and at 30 % (refused, timed out, or done with its answer lost), functions crash at random points and
every asynchronous message is delivered twice or out of order; then the invariants
(`bench/campaign.py`) are checked. Seeded: the same seed replays the same workload and draws.

    .venv/bin/python bench/chaos.py                      # 1,000 payments at each rate
    .venv/bin/python bench/chaos.py --payments 200 --rates 0.3 --seed 7
    .venv/bin/python bench/chaos.py --two-processors     # the sandbox, failing over to Stripe
    .venv/bin/python bench/chaos.py --no-webhooks        # without merchant webhook endpoints

With `--two-processors` the stack runs with localstripe (`--processor stripe`), the merchant's rules
send payments to the sandbox and then to Stripe, and the sandbox also goes down now and then (its port
refuses connections, `--outage-rate`): the figures add where payments ended, double authorizations
(must be 0) and how many authorizations of payments that did not end captured were voided (all).

With webhooks (on unless `--no-webhooks`) two endpoints of the merchant point at a receiver on
127.0.0.1 (bench/webhook_receiver.py), one refusing about 30 % of its deliveries (`--webhook-refusal-rate`):
the figures add what they got (received, accepted, refused, duplicates by id, signature failures) and
what the delivery logs say (retried, failed, missing), and every event must have reached both.

Prints each campaign's figures (requests, faults injected by kind, final statuses, violations with
the first few spelled out) and one JSON line per campaign; exits 1 if any invariant was violated.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from campaign import (
    WEBHOOK_STACK_PARAMETERS,
    Campaign,
    CampaignResult,
    CampaignSettings,
    route_to_sandbox_then_stripe,
)
from launcher import launch
from payments.progress import Progress
from webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
# Refund jobs, fan-outs and webhook attempts that crash come back after 5 s rather than AWS's 180, and
# webhooks retry a second apart, so a campaign ends in minutes.
STACK_PARAMETERS = {"RefundJobsVisibilityTimeout": "5", **WEBHOOK_STACK_PARAMETERS}


def run_campaign(settings: CampaignSettings) -> CampaignResult:
    processor = "stripe" if settings.two_processors else "sandbox"
    stack = launch(cwd=ROOT, parameters=STACK_PARAMETERS, processor=processor)
    try:
        stripe = None
        if settings.two_processors:
            route_to_sandbox_then_stripe(stack.aws_endpoint)
            stripe = stack.stripe
        label = f"  payments at {settings.gateway_fault_rate:.0%} gateway faults"
        progress = Progress(label, settings.payments, out=sys.stderr, every_seconds=2.0)
        settling = _Settling(progress)
        receiver = WebhookReceiver(seed=settings.seed) if settings.webhooks else None
        with receiver or nullcontext():
            campaign = Campaign(
                stack.api,
                stack.gateway,
                settings,
                stripe=stripe,
                receiver=receiver,
                on_payment=progress.update,
                on_webhooks=settling.update,
            )
            result = campaign.run()
        settling.finish()
        return result
    finally:
        stack.stop()


class _Settling:
    """After the payments' bar, one for the webhook deliveries settling (the logs' count so far)."""

    def __init__(self, payments: Progress) -> None:
        self.payments = payments
        self.bar: Progress | None = None

    def update(self, settled: int, logged: int) -> None:
        if self.bar is None:
            self.payments.finish()
            self.bar = Progress("  webhook deliveries settled", logged, out=sys.stderr, every_seconds=2.0)
        self.bar.total = logged
        self.bar.update(settled)

    def finish(self) -> None:
        (self.bar or self.payments).finish()


def report(result: CampaignResult) -> None:
    figures = result.figures()
    faults = figures["faults"]
    print(
        f"\nseed {figures['seed']}, gateway faults {figures['gateway_fault_rate']:.0%}, "
        f"crashes {figures['crash_rate']:.0%} of invocations: {figures['payments']} payments "
        f"in {figures['seconds']:.0f} s, {figures['requests']} requests"
    )
    print(
        f"  gateway faults: {faults['gateway_refused']} refused, {faults['gateway_timed_out']} timed out, "
        f"{faults['gateway_answer_lost']} done with the answer lost"
    )
    print(
        f"  crashes: {faults['crashes_before_a_call']} before a call out, {faults['crashes_after_a_call']} "
        f"after one, {faults['crashes_at_return']} at return, of {faults['invocations']} invocations"
    )
    print(f"  async messages: {faults['async_duplicated']} duplicated, {faults['async_reordered']} reordered")
    if "processors" in figures:
        print(
            f"  sandbox outages: {faults['gateway_outages']} ({faults['gateway_seconds_down']:.1f} s down); "
            f"payments ended at {figures['processors']}"
        )
        print(
            f"  double authorizations: {figures['double_authorizations']}; authorizations of payments not "
            f"captured: {figures['failed_authorizations']}, {figures['failed_authorizations_voided']} voided"
        )
    if "webhooks" in figures:
        w = figures["webhooks"]
        print(
            f"  webhooks: {w['events_expected']} events to {w['endpoints']} endpoints "
            f"({w['deliveries_expected']} deliveries due), settled {w['seconds_to_settle']:.0f} s after the "
            f"stack was quiet; {w['received']} requests received, {w['accepted']} accepted, "
            f"{w['refused']} refused on purpose"
        )
        print(
            f"  webhooks: {w['duplicates']} duplicates by id, {w['ids_with_two_bodies']} ids with two "
            f"bodies, {w['movements_under_two_ids']} movements under two ids, {w['signature_failures']} "
            f"signature failures, {w['unexpected']} unexpected, {w['missing']} missing; log: "
            f"{w['retried']} retried, {w['failed_deliveries']} failed ({w['exhausted']} exhausted by the "
            f"endpoint)"
        )
    print(f"  answers: {figures['answers']}")
    print(f"  final statuses: {figures['final_statuses']}")
    print(f"  invariant violations: {figures['violations']}")
    for violation in result.violations[:10]:
        print(f"    {violation[:300]}")
    print(json.dumps({"bench": "chaos", **figures}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=1000)
    parser.add_argument("--rates", default="0.1,0.3", help="gateway fault rates, one campaign each")
    parser.add_argument("--crash-rate", type=float, default=0.02, help="the share of invocations that crash")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--two-processors", action="store_true", help="the sandbox, failing over to Stripe")
    parser.add_argument(
        "--webhooks",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="two merchant webhook endpoints on a local receiver, every event checked",
    )
    parser.add_argument(
        "--webhook-refusal-rate",
        type=float,
        default=0.3,
        help="the share of deliveries the flaky endpoint refuses (500), at most 3 times an event",
    )
    parser.add_argument(
        "--outage-rate",
        type=float,
        default=0.3,
        help="two processors: outage chance per 0.5 s",
    )
    args = parser.parse_args()
    violations = 0
    for rate in (float(text) for text in args.rates.split(",")):
        settings = CampaignSettings(
            seed=args.seed,
            payments=args.payments,
            gateway_fault_rate=rate,
            crash_rate=args.crash_rate,
            clients=args.clients,
            two_processors=args.two_processors,
            gateway_outage_rate=args.outage_rate if args.two_processors else 0.0,
            webhooks=args.webhooks,
            webhook_refusal_rate=args.webhook_refusal_rate,
        )
        result = run_campaign(settings)
        report(result)
        violations += len(result.violations)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
