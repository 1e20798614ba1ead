"""POST /v1/webhooks/stripe (payments-stripe-webhooks): Stripe's events, authenticated by their
`Stripe-Signature` alone, checked with Stripe's SDK.

A missing header, or one whose signature does not match or is more than 300 seconds old, is 401; a
header or body that cannot be read as Stripe writes them is 400. Either way nothing is read (but the
signing secret) and nothing changes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from payments import bootstrap
from payments.domain.errors import InvalidRequest, InvalidSignature
from payments.functions import http
from payments.service.ports import IntentRepository
from payments.service.stripe_webhooks import handle_stripe_event, parse_event

TOLERANCE_SECONDS: Final = 300  # Stripe's own default: a signature older than this is refused
# One `name=value` of the header, as Stripe writes it: `t=<unix seconds>,v1=<hex>[,v1=...][,v0=...]`.
_ITEM: Final = re.compile(r"([a-z][a-z0-9]*)=([A-Za-z0-9]+)")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    signing_secret: Callable[[], str]  # read on each request: a rolled secret is picked up
    reference_of: Callable[[str], str | None]  # Stripe's PaymentIntent id -> our intent id, at Stripe
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    stripe = bootstrap.stripe_gateway(env, max_attempts=env.settings.gateway_max_attempts)
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        signing_secret=bootstrap.stripe_webhook_secret(env),
        reference_of=stripe.reference_of,
    )


@http.route(wire, parse=http.no_body)
def handler(request: http.Request[None], deps: Dependencies) -> http.Response:
    raw = http.raw_body(request.event)
    # Nothing is read, let alone changed, before the signature holds.
    verify(request.header("stripe-signature"), raw, secret=deps.signing_secret())
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidRequest("the body is not valid JSON") from None
    result = handle_stripe_event(
        parse_event(body), intents=deps.intents, reference_of=deps.reference_of, clock=deps.clock
    )
    return http.respond(200, {"received": True, "result": result.value})


def verify(header: str | None, raw: bytes, *, secret: str) -> None:
    """Stripe's signature check (`stripe.WebhookSignature.verify_header`, 300 seconds' tolerance);
    the header is read first only to tell a malformed one (400) from one that does not hold (401)."""
    if not header:
        raise InvalidSignature("the Stripe-Signature header is missing")
    timestamp = _timestamp(header)
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8 text") from None
    import stripe  # noqa: PLC0415 (on first use: the SDK is heavier to import than the handler)

    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError:
        if timestamp < time.time() - TOLERANCE_SECONDS:
            raise InvalidSignature(f"the signature is older than {TOLERANCE_SECONDS} seconds") from None
        raise InvalidSignature("the signature does not match") from None


def _timestamp(header: str) -> int:
    """The header's `t`, if the header is `name=value` items with a `t` of digits and a `v1`."""
    items = [_ITEM.fullmatch(item) for item in header.split(",")]
    names = [item[1] for item in items if item is not None]
    stamps = [item[2] for item in items if item is not None and item[1] == "t"]
    if None in items or not stamps or not _TIMESTAMP.fullmatch(stamps[0]) or "v1" not in names:
        raise InvalidRequest("the Stripe-Signature header is not t=<unix seconds>,v1=<signature>")
    return int(stamps[0])
