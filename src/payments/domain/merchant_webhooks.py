"""Merchant webhooks by the Standard Webhooks spec: what is sent, how it is signed, when it is retried,
and which URLs may receive it.

Signing: `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
bytes the secret's base64 part decodes to, so the official `standardwebhooks` library (or any
receiver following the spec) verifies it. The timestamp is signed, so a captured delivery cannot be
replayed later than the receiver's tolerance; the id is the event's, the same on every retry, so a
receiver can drop a repeat. While a secret is being rotated both secrets sign: the header carries one
signature per secret, separated by spaces, as the spec allows.

URLs: in AWS only `https` to a public address; a name is checked when the endpoint is set and again
for every delivery against what it resolves to then (DNS rebinding), and a delivery goes to the
address that was checked. The local stack also allows `http://127.0.0.1` (its receivers run there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from payments.domain.errors import InvalidRequest
from payments.domain.events import EventType, PaymentEvent

SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES: Final = 32  # the spec asks for 24 to 64
MAX_URL_LENGTH: Final = 2048
# SQS keeps a message invisible for at most 12 hours: the longest wait between two attempts.
MAX_RETRY_DELAY_SECONDS: Final = 43_200
# About 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over a day and a quarter.
DEFAULT_RETRY_SCHEDULE: Final = "5,300,1800,7200,18000,36000,36000"
JITTER: Final = 0.2  # each wait drawn within +-20 % of the schedule's, so retries do not march in step

PAYMENT_TYPES: Final = {
    EventType.AUTHORIZED: "payment.authorized",
    EventType.CAPTURED: "payment.captured",
    EventType.VOIDED: "payment.voided",
    EventType.DECLINED: "payment.declined",
    EventType.REFUNDED: "payment.refunded",
    EventType.DISPUTED: "payment.disputed",
    EventType.DISPUTE_WON: "payment.dispute_won",
    EventType.DISPUTE_LOST: "payment.dispute_lost",
}
EVENT_TYPES: Final = (
    *PAYMENT_TYPES.values(),
    "checkout.succeeded",
    "checkout.failed",
    "checkout.action_required",
    "refund_batch.completed",
)


# -- secrets and signatures -----------------------------------------------------------------------


def new_secret() -> str:
    """A new signing secret, `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    encoded = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `<id>.<timestamp>.<body>` with the secret's key."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per secret that signs now (two while rotating)."""
    if not secrets_:
        raise ValueError("at least one secret signs a delivery")
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


def delivery_headers(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
    }


# -- what is sent -----------------------------------------------------------------------------------


def payment_payload(event: PaymentEvent) -> dict[str, Any]:
    """A payment event as a delivery's body: `{type, timestamp, data}`. `data` holds what a receiver
    needs to act and to order what arrives out of order (the payment's `version` after the movement)."""
    data: dict[str, Any] = {
        "eventId": event.event_id,
        "paymentIntentId": event.payment_intent_id,
        "merchantId": event.merchant_id,
        "amount": event.amount.amount,
        "currency": event.amount.currency.code,
        "status": event.status.value,
    }
    if event.released is not None:
        data["released"] = event.released.amount
    if event.intent_version is not None:
        data["version"] = event.intent_version
    return envelope(PAYMENT_TYPES[event.event_type], event.occurred_at, data)


def envelope(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    timestamp = occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event_type, "timestamp": timestamp, "data": data}


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent (compact, keys in a fixed order)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def event_types(raw: object) -> tuple[str, ...] | None:
    """An endpoint's `events` filter: None (every type) or known types, each once."""
    if raw is None:
        return None
    if not isinstance(raw, list | tuple) or not raw or not all(isinstance(item, str) for item in raw):
        raise InvalidRequest("events must be a non-empty list of event types (leave it out for every type)")
    unknown = sorted(set(raw) - set(EVENT_TYPES))
    if unknown:
        raise InvalidRequest(f"unknown event type(s) {', '.join(unknown)}: use {', '.join(EVENT_TYPES)}")
    return tuple(dict.fromkeys(raw))


# -- when it is retried ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Seconds to wait before each retry; after the last, the delivery has failed."""

    delays: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        """`WebhookRetrySchedule`: whole seconds, comma-separated, each 1 to 43,200 (SQS's longest wait)."""
        parts = [part.strip() for part in text.split(",")]
        if not parts or not all(part.isdigit() for part in parts):
            raise ValueError(f"the retry schedule is whole seconds, comma-separated, got {text!r}")
        delays = tuple(int(part) for part in parts)
        if not all(1 <= delay <= MAX_RETRY_DELAY_SECONDS for delay in delays):
            raise ValueError(f"each retry waits 1 to {MAX_RETRY_DELAY_SECONDS} s, got {text!r}")
        return cls(delays)

    @property
    def attempts(self) -> int:
        """Attempts in all: the first and one per wait."""
        return len(self.delays) + 1

    def delay_after(self, attempt: int, draw: random.Random | None = None) -> int | None:
        """Seconds to wait after attempt `attempt` (1-based) failed, jittered; None after the last."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        if attempt > len(self.delays):
            return None
        base = self.delays[attempt - 1]
        spread = (draw or random).uniform(1 - JITTER, 1 + JITTER)
        return max(1, min(MAX_RETRY_DELAY_SECONDS, round(base * spread)))


# -- where it may go --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL's parts: where to connect and what to say in the request."""

    scheme: str
    host: str  # as written (a name, or an address)
    port: int
    target: str  # path and query


def check_url(url: object, *, allow_loopback: bool) -> Destination:
    """The URL's parts, or InvalidRequest saying what is wrong with it. An address written in the URL
    is checked here; a name is checked when it resolves (`check_addresses`)."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest("url must be a URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise InvalidRequest(f"url is not a valid URL: {error}") from None
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise InvalidRequest("url must not carry credentials: a delivery is authenticated by its signature")
    if not host:
        raise InvalidRequest("url must name a host")
    if parts.fragment:
        raise InvalidRequest("url must not have a fragment")
    loopback = _is_loopback_literal(host)
    if parts.scheme != "https" and not (allow_loopback and loopback and parts.scheme == "http"):
        raise InvalidRequest(
            "url must be https" + (" (or http://127.0.0.1 on the local stack)" if allow_loopback else "")
        )
    address = _literal(host)
    if address is not None:
        check_addresses([str(address)], allow_loopback=allow_loopback)
    elif host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        raise InvalidRequest(f"url must be a public address, not {host}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), target)


def check_addresses(addresses: Iterable[str], *, allow_loopback: bool) -> str:
    """The first address, once every one is public (or loopback where allowed); InvalidRequest else.
    Every address a name resolves to is checked, so no answer in the set can point inside."""
    listed = list(addresses)
    if not listed:
        raise InvalidRequest("the url's host resolves to no address")
    for text in listed:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback and allow_loopback:
            continue
        if not address.is_global or address.is_multicast:
            raise InvalidRequest(
                f"url must be a public address: {text} is "
                + ("loopback" if address.is_loopback else "private, link-local or reserved")
            )
    return listed[0]


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_literal(host: str) -> bool:
    address = _literal(host)
    return address is not None and address.is_loopback
