"""A short fault campaign in `make test` (bench/chaos.py runs thousands): payments through their whole
life while the gateway fails at 10 % and then 30 % (refused, timed out, or done with the answer lost),
functions crash at random points and every asynchronous message is delivered twice or out of order.

Afterwards every payment must be in a terminal status with no hold left open at the gateway, nothing
captured or refunded twice, its ledger entries netting to what moved, every currency balanced and
nothing stuck in a queue (`bench/campaign.py` spells the invariants out). Meanwhile two webhook
endpoints of the merchant point at a receiver on 127.0.0.1, one refusing about 30 % of its deliveries:
every payment event must reach both, signed, one body per webhook-id, and no delivery may fail.

Then the same with two processors: the merchant's payments go to the sandbox, and to Stripe
(localstripe) where the sandbox provably never received the request, while the sandbox also goes down
now and then (its port refuses connections). Every payment is read back at both: none authorized at
both, every authorization of a payment that did not end captured voided."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.campaign import WEBHOOK_STACK_PARAMETERS, Campaign, CampaignSettings, route_to_sandbox_then_stripe
from bench.launcher import LaunchedStack, launch
from bench.webhook_receiver import WebhookReceiver
from tests.e2e.conftest import ROOT

SEED = 20261124
PAYMENTS = 40


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[tuple[str, str]]:
    """A stack of its own: faults and their leftovers (expired in-progress records) stay out of the
    other tests' way. Refund jobs that crash come back after 2 s instead of AWS's default, fan-outs and
    webhook attempts after 5 s; webhooks are retried a second apart."""
    stack = launch(cwd=ROOT, parameters={"RefundJobsVisibilityTimeout": "2", **WEBHOOK_STACK_PARAMETERS})
    try:
        yield stack.api, stack.gateway
    finally:
        stack.stop()


@pytest.mark.parametrize("gateway_fault_rate", [0.1, 0.3])
def test_nothing_is_lost_or_charged_twice_under_faults(
    chaos_stack: tuple[str, str], gateway_fault_rate: float
) -> None:
    api, gateway = chaos_stack
    settings = CampaignSettings(
        seed=SEED, payments=PAYMENTS, gateway_fault_rate=gateway_fault_rate, webhooks=True
    )
    with WebhookReceiver(seed=SEED) as receiver:
        result = Campaign(api, gateway, settings, receiver=receiver).run()
    figures = result.figures()
    assert result.violations == [], figures
    # The faults really happened, of every kind the campaign promises.
    faults = figures["faults"]
    assert faults["gateway_refused"] + faults["gateway_timed_out"] + faults["gateway_answer_lost"] > 0
    assert faults["crashes_before_a_call"] + faults["crashes_after_a_call"] + faults["crashes_at_return"] > 0
    assert faults["async_duplicated"] > 0
    assert faults["async_reordered"] > 0
    assert sum(result.final_statuses.values()) == PAYMENTS
    # Every event reached both endpoints, and the flaky one's refusals were retried.
    webhooks = figures["webhooks"]
    assert webhooks["events_expected"] > 0, figures
    assert webhooks["accepted"] >= webhooks["deliveries_expected"], figures
    assert webhooks["refused"] > 0, figures
    assert webhooks["retried"] > 0, figures
    assert webhooks["failed_deliveries"] == webhooks["signature_failures"] == 0, figures


@pytest.fixture(scope="module")
def two_processor_stack() -> Iterator[LaunchedStack]:
    """A stack with localstripe beside the sandbox, the chaos merchant's rules naming both. Its webhook
    queues too give a crashed fan-out back after 5 s (no endpoints here: webhooks are checked above).
    Refund jobs come back after 10 s, not 2: a refund at localstripe can take seconds on a loaded
    machine, and a job handed out again while it still runs is what AWS rules out (a queue's
    visibility timeout is at least its function's timeout)."""
    parameters = {"RefundJobsVisibilityTimeout": "10", **WEBHOOK_STACK_PARAMETERS}
    stack = launch(cwd=ROOT, parameters=parameters, processor="stripe")
    try:
        route_to_sandbox_then_stripe(stack.aws_endpoint)
        yield stack
    finally:
        stack.stop()


def test_failover_to_a_second_processor_never_authorizes_twice(two_processor_stack: LaunchedStack) -> None:
    settings = CampaignSettings(
        seed=SEED,
        payments=PAYMENTS,
        gateway_fault_rate=0.2,
        two_processors=True,
        gateway_outage_rate=0.3,
    )
    stack = two_processor_stack
    result = Campaign(stack.api, stack.gateway, settings, stripe=stack.stripe).run()
    figures = result.figures()
    assert result.violations == [], figures
    assert figures["double_authorizations"] == 0
    assert figures["failed_authorizations_voided"] == figures["failed_authorizations"], figures
    # The faults really happened: the sandbox went down, payments failed over, and some stayed put.
    assert figures["faults"]["gateway_outages"] > 0, figures
    assert figures["processors"].get("stripe", 0) > 0, figures
    assert figures["processors"].get("sandbox", 0) > 0, figures
    assert sum(result.final_statuses.values()) == PAYMENTS
