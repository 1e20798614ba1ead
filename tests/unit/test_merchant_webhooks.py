"""Merchant webhooks' rules: signatures the official `standardwebhooks` library verifies, the retry
schedule, and the URLs a delivery may go to."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.domain.checkout import amount_tier
from payments.domain.errors import InvalidRequest
from payments.domain.events import EventType, PaymentEvent
from payments.domain.intents import Status
from payments.domain.merchant_webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    EVENT_TYPES,
    RetrySchedule,
    body_bytes,
    check_addresses,
    check_url,
    delivery_headers,
    event_types,
    new_secret,
    payment_payload,
)
from payments.domain.money import Money

NOW = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


def event(event_type: EventType = EventType.CAPTURED) -> PaymentEvent:
    amount = Money.of(1250, "EUR")
    return PaymentEvent(
        event_id="txn_01_capture",
        event_type=event_type,
        payment_intent_id="pi_01",
        customer_id="cus_1",
        amount=amount,
        amount_tier=amount_tier(amount),
        occurred_at=NOW,
        status=Status.CAPTURED,
        released=Money.of(250, "EUR"),
        merchant_id="mer_1",
        intent_version=3,
    )


def test_the_official_library_verifies_a_delivery_and_reads_back_the_body() -> None:
    secret = new_secret()
    payload = payment_payload(event())
    body = body_bytes(payload)
    timestamp = int(datetime.now(UTC).timestamp())

    headers = delivery_headers([secret], "txn_01_capture", timestamp, body)

    assert Webhook(secret).verify(body, headers) == payload
    assert payload == {
        "type": "payment.captured",
        "timestamp": "2026-12-06T05:00:00.000Z",
        "data": {
            "eventId": "txn_01_capture",
            "paymentIntentId": "pi_01",
            "merchantId": "mer_1",
            "amount": 1250,
            "currency": "EUR",
            "status": "CAPTURED",
            "released": 250,
            "version": 3,
        },
    }


def test_a_tampered_body_another_secret_or_an_old_timestamp_fail_verification() -> None:
    secret, body = new_secret(), body_bytes(payment_payload(event()))
    now = int(datetime.now(UTC).timestamp())
    headers = delivery_headers([secret], "msg_1", now, body)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"1250", b"9250"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    stale = delivery_headers([secret], "msg_1", now - int(timedelta(minutes=10).total_seconds()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_while_rotating_both_secrets_sign_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = body_bytes(payment_payload(event()))
    headers = delivery_headers([new, old], "msg_1", int(datetime.now(UTC).timestamp()), body)

    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


def test_secrets_are_new_each_time_and_shaped_as_the_spec_asks() -> None:
    made = {new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(secret.startswith("whsec_") and len(secret) == 6 + 44 for secret in made)


def test_every_payment_event_has_a_type_and_every_type_is_known() -> None:
    types = {payment_payload(event(kind))["type"] for kind in EventType}
    assert types == {t for t in EVENT_TYPES if t.startswith("payment.")}
    assert event_types(None) is None
    assert event_types(["payment.captured", "payment.captured", "checkout.failed"]) == (
        "payment.captured",
        "checkout.failed",
    )
    for bad in ([], ["payment.paid"], "payment.captured", [1]):
        with pytest.raises(InvalidRequest):
            event_types(bad)


def test_the_default_schedule_waits_about_5s_5min_30min_2h_5h_10h_10h_with_jitter() -> None:
    schedule = RetrySchedule.parse(DEFAULT_RETRY_SCHEDULE)
    draw = random.Random(7)
    assert schedule.attempts == 8
    for attempt, base in enumerate((5, 300, 1800, 7200, 18000, 36000, 36000), start=1):
        waits = {schedule.delay_after(attempt, draw) for _ in range(50)}
        assert all(w is not None and 0.8 * base - 1 <= w <= 1.2 * base + 1 for w in waits)
        assert len(waits) > 1 or base < 5  # jittered, not in step
    assert schedule.delay_after(8, draw) is None  # the last attempt failed: no more


@pytest.mark.parametrize("text", ["", "5,,6", "5,-1", "0", "1.5", "43201", "a"])
def test_a_bad_schedule_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="retry"):
        RetrySchedule.parse(text)


def test_a_short_schedule_for_the_local_stack() -> None:
    assert RetrySchedule.parse("1,1,1").delays == (1, 1, 1)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/payments",
        "https://hooks.example.com:8443/in?merchant=1",
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
    ],
)
def test_public_https_urls_are_taken(url: str) -> None:
    assert check_url(url, allow_loopback=False).scheme == "https"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("https://127.0.0.1/", "loopback"),
        ("https://10.0.0.7/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://169.254.169.254/latest/meta-data", "private, link-local"),
        ("https://[::1]/", "loopback"),
        ("https://[fd00::1]/", "private"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://0.0.0.0/", "private"),
        ("https://localhost/", "public address"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https:///path", "host"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://x/" + "a" * 2100, "longer"),
    ],
)
def test_urls_that_could_reach_inside_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        check_url(url, allow_loopback=False)


def test_the_local_stack_allows_http_to_loopback_only() -> None:
    assert check_url("http://127.0.0.1:9000/hook", allow_loopback=True).port == 9000
    with pytest.raises(InvalidRequest):
        check_url("http://10.0.0.1:9000/hook", allow_loopback=True)
    with pytest.raises(InvalidRequest):
        check_url("http://hooks.example.com/", allow_loopback=True)


def test_every_address_a_name_resolves_to_must_be_public() -> None:
    assert check_addresses(["93.184.216.34"], allow_loopback=False) == "93.184.216.34"
    with pytest.raises(InvalidRequest, match=r"10\.1\.2\.3"):  # one bad answer in the set is enough
        check_addresses(["93.184.216.34", "10.1.2.3"], allow_loopback=False)
    with pytest.raises(InvalidRequest):
        check_addresses([], allow_loopback=False)
    assert check_addresses(["127.0.0.1"], allow_loopback=True) == "127.0.0.1"
