"""Stripe's webhooks end to end: `payments local up --processor stripe`, a payment authorized and
captured at localstripe through our API, then Stripe's events about it sent to `/v1/webhooks/stripe`.

localstripe has no disputes and sends no events: each event is built here as Stripe documents it (a
snapshot event around a Dispute or a PaymentIntent) and signed as Stripe signs it, with the local
stack's signing secret. The PaymentIntent it names is the real one at localstripe, which the stack
reads to find our payment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import stripe

from tests.e2e import test_stripe_payments as stripe_payments
from tests.e2e.conftest import Api
from tests.e2e.test_stripe_payments import at_stripe, balanced

# The stack of test_stripe_payments.py (`payments local up --processor stripe`), its API and the SDK
# reading localstripe: the same module-scoped fixtures, one stack for this module.
stripe_stack = stripe_payments.stripe_stack
api = stripe_payments.api
reader = stripe_payments.reader

SIGNING_SECRET = "whsec_local_stripe"  # what `payments local up --processor stripe` stores


def send(api: Api, payload: bytes, *, secret: str = SIGNING_SECRET, at: float | None = None) -> Any:
    timestamp = int(time.time() if at is None else at)
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    request = Request(  # noqa: S310 (the local stack)
        f"{api.base_url}/v1/webhooks/stripe",
        data=payload,
        method="POST",
        headers={
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": f"t={timestamp},v1={mac.hexdigest()}",
        },
    )
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def dispute_event(event_type: str, held: dict[str, Any], status: str, dispute_id: str) -> bytes:
    charge = held["latest_charge"]
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2025-06-30.basil",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": dispute_id,
                    "object": "dispute",
                    "amount": held["amount"],
                    "charge": charge["id"] if isinstance(charge, dict) else charge,
                    "created": int(time.time()),
                    "currency": held["currency"],
                    "is_charge_refundable": False,
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": held["id"],
                    "reason": "fraudulent",
                    "status": status,
                }
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        },
        indent=2,
    ).encode()


def captured_at_stripe(api: Api, reader: stripe.StripeClient, amount: int) -> tuple[str, dict[str, Any]]:
    intent_id = api.captured(amount)
    (held,) = at_stripe(reader, intent_id)
    assert held["status"] == "succeeded"
    return intent_id, held


def test_a_dispute_at_stripe_opens_and_is_won_once_with_balanced_books(
    api: Api, reader: stripe.StripeClient
) -> None:
    intent_id, held = captured_at_stripe(api, reader, 3_000)
    dispute_id = f"dp_{uuid.uuid4().hex[:24]}"
    opened = dispute_event("charge.dispute.created", held, "needs_response", dispute_id)

    assert send(api, opened) == (200, {"received": True, "result": "applied"})
    disputed = api.get_intent(intent_id).body
    assert (disputed["status"], disputed["processor"]) == ("DISPUTED", "stripe")

    assert send(api, opened) == (200, {"received": True, "result": "replayed"})
    assert api.get_intent(intent_id).body["version"] == disputed["version"]

    won = dispute_event("charge.dispute.closed", held, "won", dispute_id)
    assert send(api, won) == (200, {"received": True, "result": "applied"})
    assert api.get_intent(intent_id).body["status"] == "CAPTURED"
    entries = api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "DISPUTED", "DISPUTE_WON"])
    assert balanced(entries)


def test_a_lost_dispute_returns_the_funds(api: Api, reader: stripe.StripeClient) -> None:
    intent_id, held = captured_at_stripe(api, reader, 2_000)
    dispute_id = f"dp_{uuid.uuid4().hex[:24]}"
    assert send(api, dispute_event("charge.dispute.created", held, "needs_response", dispute_id))[0] == 200
    assert send(api, dispute_event("charge.dispute.closed", held, "lost", dispute_id))[0] == 200
    intent = api.get_intent(intent_id).body
    assert (intent["status"], intent["amountRefunded"]) == ("REFUNDED", 2_000)
    assert balanced(api.ledger(intent_id, kinds=["AUTHORIZED", "CAPTURED", "DISPUTED", "DISPUTE_LOST"]))


def test_a_bad_or_stale_signature_is_refused_and_changes_nothing(
    api: Api, reader: stripe.StripeClient
) -> None:
    intent_id, held = captured_at_stripe(api, reader, 1_500)
    event = dispute_event("charge.dispute.created", held, "needs_response", f"dp_{uuid.uuid4().hex[:24]}")
    before = api.get_intent(intent_id).body
    for reply in (
        send(api, event, secret="whsec_not_this_endpoint"),
        send(api, event, at=time.time() - 301),
    ):
        assert (reply[0], reply[1]["error"]["code"]) == (401, "invalid_signature")
    unsigned = api.request("POST", "/v1/webhooks/stripe", json.loads(event))
    assert (unsigned.status, unsigned.body["error"]["code"]) == (401, "invalid_signature")
    after = api.get_intent(intent_id).body
    assert (after["status"], after["version"]) == ("CAPTURED", before["version"])


def test_a_payment_intent_canceled_at_stripe_voids_the_payment(api: Api, reader: stripe.StripeClient) -> None:
    intent_id = api.authorized(1_200)
    (held,) = at_stripe(reader, intent_id)
    canceled = reader.v1.payment_intents.cancel(held["id"]).to_dict()  # at Stripe, not through us
    event = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2025-06-30.basil",
            "created": int(time.time()),
            "data": {"object": canceled},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "payment_intent.canceled",
        }
    ).encode()
    assert send(api, event) == (200, {"received": True, "result": "applied"})
    assert api.get_intent(intent_id).body["status"] == "VOIDED"
    assert send(api, event) == (200, {"received": True, "result": "replayed"})
    assert balanced(api.ledger(intent_id, kinds=["AUTHORIZED", "VOIDED"]))
