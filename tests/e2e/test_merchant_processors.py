"""Processors per merchant, end to end: `payments local up --processor stripe` (Stripe the default,
localstripe behind it), each merchant's rules and key set by the operator's `payments processors`
against the stack's AWS endpoint, and payments made through the API landing at the processor and
account the rules and keys say: the sandbox gateway (its `/_sandbox/stats`) or localstripe (read with
the official SDK)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from urllib.request import urlopen

import stripe

from bench.launcher import LaunchedStack
from tests.e2e import test_stripe_payments as stripe_payments
from tests.e2e.conftest import Api
from tests.e2e.test_stripe_payments import at_stripe

# The stack of test_stripe_payments.py (`payments local up --processor stripe`), its API and the SDK
# reading localstripe: the same module-scoped fixtures, one stack for this module.
stripe_stack = stripe_payments.stripe_stack
api = stripe_payments.api
reader = stripe_payments.reader


def processors(stack: LaunchedStack, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`payments processors ...` as an operator runs it against this stack's AWS endpoint."""
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    ran = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "payments.cli", "processors", *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return ran


def sandbox_stats(stack: LaunchedStack) -> dict[str, int]:
    with urlopen(f"{stack.gateway}/_sandbox/stats", timeout=10) as response:  # noqa: S310 (loopback)
        stats: dict[str, int] = json.loads(response.read())
        return stats


def merchant(name: str) -> str:
    return f"mer_{name}_{uuid.uuid4().hex[:8]}"


def test_a_merchants_rule_sends_its_usd_payments_to_the_sandbox_and_a_merchant_without_rules_to_stripe(
    stripe_stack: LaunchedStack, api: Api, reader: stripe.StripeClient
) -> None:
    a, b = merchant("a"), merchant("b")
    processors(stripe_stack, "set", "--merchant", a, "--rule", "sandbox:USD")
    shown = json.loads(processors(stripe_stack, "show", "--merchant", a, "--json").stdout)
    assert shown["rules"] == [{"processor": "sandbox", "currencies": ["USD"]}]

    before = sandbox_stats(stripe_stack)
    a_usd = api.create_intent(merchantId=a, amount=3_000).body
    assert a_usd["processor"] == "sandbox"
    assert api.authorize(a_usd["paymentIntentId"]).status == 200
    captured = api.request("POST", f"/v1/payment-intents/{a_usd['paymentIntentId']}/capture")
    assert (captured.status, captured.body["status"]) == (200, "CAPTURED")
    after_a = sandbox_stats(stripe_stack)
    assert after_a["authorizations"] == before["authorizations"] + 1
    assert after_a["captures"] == before["captures"] + 1
    assert at_stripe(reader, a_usd["paymentIntentId"]) == []  # nothing of it reached Stripe

    # A's other currencies match no rule: the stack's default, Stripe.
    assert api.create_intent(merchantId=a, currency="EUR").body["processor"] == "stripe"

    b_usd = api.create_intent(merchantId=b, amount=3_000).body
    assert b_usd["processor"] == "stripe"
    assert api.authorize(b_usd["paymentIntentId"]).status == 200
    (held,) = at_stripe(reader, b_usd["paymentIntentId"])
    assert (held["status"], held["amount"]) == ("requires_capture", 3_000)
    assert sandbox_stats(stripe_stack)["authorizations"] == after_a["authorizations"]


def test_a_merchant_with_its_own_stripe_key_still_pays_at_stripe(
    stripe_stack: LaunchedStack, api: Api, reader: stripe.StripeClient
) -> None:
    c = merchant("c")
    key = f"sk_test_merchant_{uuid.uuid4().hex}"  # localstripe takes any sk_test_ key
    set_key = processors(stripe_stack, "set-key", "--merchant", c, "--processor", "stripe", stdin=key + "\n")
    assert key not in set_key.stdout + set_key.stderr
    shown = processors(stripe_stack, "show", "--merchant", c).stdout
    assert f"payments/stripe-api-key-local/{c} (the merchant's own): its Stripe payments use it" in shown
    assert key not in shown

    intent_id = api.authorized(4_200, merchantId=c)
    assert api.get_intent(intent_id).body["processor"] == "stripe"
    captured = api.request("POST", f"/v1/payment-intents/{intent_id}/capture")
    assert (captured.status, captured.body["status"]) == (200, "CAPTURED")
    (at,) = at_stripe(reader, intent_id)
    assert (at["status"], at["amount"]) == ("succeeded", 4_200)


def test_stripe_is_called_with_the_merchants_own_key_not_the_deployments(
    stripe_stack: LaunchedStack, api: Api, reader: stripe.StripeClient
) -> None:
    """localstripe refuses restricted keys (`rk_...`, which Stripe itself takes): a merchant whose own
    key is one is refused there while every other merchant pays, so its payments carry its own key."""
    d = merchant("d")
    processors(stripe_stack, "set-key", "--merchant", d, stdin=f"rk_test_{uuid.uuid4().hex}")
    intent_id = api.create_intent(merchantId=d).body["paymentIntentId"]
    refused = api.authorize(intent_id)
    assert (refused.status, refused.body["error"]["code"]) == (503, "upstream_unavailable")
    assert api.get_intent(intent_id).body["status"] == "PENDING"
    assert at_stripe(reader, intent_id) == []
    # The deployment's key still pays everyone else's.
    assert api.authorize(api.create_intent(merchantId=merchant("e")).body["paymentIntentId"]).status == 200
