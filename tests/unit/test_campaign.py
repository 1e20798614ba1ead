"""The fault campaign's checks find what they look for (payments, and merchant webhooks on constructed
deliveries), its webhook receiver verifies and refuses as told, and its workload is the seed's."""

from __future__ import annotations

import base64
import json
import secrets
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from bench.campaign import (
    Campaign,
    CampaignSettings,
    Told,
    payment_violations,
    plan_payment,
    stripe_authorization,
    webhook_violations,
)
from bench.webhook_receiver import Received, WebhookReceiver


def authorization(**fields: Any) -> dict[str, Any]:
    view = {"id": "auth_1", "status": "approved", "voided": False, "captureId": None}
    return view | {"capturedAmount": 0, "refundedAmount": 0} | fields


def legs(*moves: tuple[str, str, int]) -> list[dict[str, Any]]:
    """Entries moving `amount` from the first account (debited) to the second (credited)."""
    return [
        {
            "legs": [
                {"account": debit, "direction": "debit", "amount": amount},
                {"account": credit, "direction": "credit", "amount": amount},
            ]
        }
        for debit, credit, amount in moves
    ]


HOLD = ("authorizations_pending", "customer_authorizations", 1000)
RELEASE = ("customer_authorizations", "authorizations_pending", 1000)


def captured_and_refunded() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], Told]:
    intent = {"status": "PARTIALLY_REFUNDED", "amountCaptured": 1000, "amountRefunded": 300}
    held = [authorization(captureId="cap_1", capturedAmount=1000, refundedAmount=300)]
    entries = legs(
        HOLD,
        RELEASE,
        ("gateway_clearing", "merchant_payable", 1000),
        ("merchant_payable", "gateway_clearing", 300),
    )
    return intent, held, entries, Told("pi_1", captured=1000, refunded=300)


def test_a_payment_whose_books_agree_has_no_violation() -> None:
    assert payment_violations("p", *captured_and_refunded()) == []
    voided = {"status": "VOIDED", "amountCaptured": 0, "amountRefunded": 0}
    assert (
        payment_violations("p", voided, [authorization(voided=True)], legs(HOLD, RELEASE), Told("pi_2")) == []
    )


def test_a_payment_left_authorized_or_pending_is_not_terminal() -> None:
    for status in ("PENDING", "AUTHORIZED"):
        intent = {"status": status, "amountCaptured": 0, "amountRefunded": 0}
        assert payment_violations("p", intent, [], [], Told("pi_1")) == ["p: not in a terminal status"]


def test_a_declined_payment_with_a_hold_left_at_the_gateway() -> None:
    intent = {"status": "DECLINED", "amountCaptured": 0, "amountRefunded": 0}
    found = payment_violations("p", intent, [authorization()], [], Told("pi_1"))
    assert found == ["p: authorization(s) ['auth_1'] still hold money at the gateway"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"refundedAmount": 600},
            "the gateway moved 1000 captured / 600 refunded, the payment records 1000 / 300",
        ),
        ({"capturedAmount": 2000}, "the gateway moved 2000 captured / 300 refunded"),
    ],
)
def test_money_moved_twice_at_the_gateway(change: dict[str, Any], expected: str) -> None:
    intent, held, entries, told = captured_and_refunded()
    held[0] |= change
    assert any(expected in violation for violation in payment_violations("p", intent, held, entries, told))


def test_two_captures_at_the_gateway() -> None:
    intent, held, entries, told = captured_and_refunded()
    held.append(authorization(id="auth_2", captureId="cap_2"))
    assert "p: captured twice at the gateway" in payment_violations("p", intent, held, entries, told)


def test_a_ledger_entry_posted_twice() -> None:
    intent, held, entries, told = captured_and_refunded()
    entries.append(entries[-1])  # the refund, again
    found = payment_violations("p", intent, held, entries, told)
    assert found == [
        "p: its ledger nets to {'gateway_clearing': 400, 'merchant_payable': -400}, expected "
        "{'gateway_clearing': 700, 'merchant_payable': -700}"
    ]


def test_a_hold_never_released() -> None:
    intent, held, entries, told = captured_and_refunded()
    del entries[1]
    assert len(payment_violations("p", intent, held, entries, told)) == 1


def test_what_the_client_was_told_must_be_in_the_books() -> None:
    intent, held, entries, told = captured_and_refunded()
    told.refunded = 500
    assert payment_violations("p", intent, held, entries, told) == [
        "p: the client was told 500 refunded, it has 300"
    ]
    told.refunded, told.captured = 300, 900
    assert payment_violations("p", intent, held, entries, told) == [
        "p: the client was told 900 captured, the payment has 1000"
    ]


def test_the_workload_is_the_seeds_and_mixes_every_path() -> None:
    plans = [plan_payment(7, number) for number in range(1000)]
    assert plans == [plan_payment(7, number) for number in range(1000)]
    assert plans != [plan_payment(8, number) for number in range(1000)]
    assert Counter(plan.checkout for plan in plans)[False] > 150
    assert {plan.then for plan in plans} == {"capture", "capture_part", "void"}
    assert len({plan.card for plan in plans}) == 8
    assert sum(plan.bulk_refund for plan in plans) > 100
    assert any(plan.automatic_capture for plan in plans)
    assert all(
        plan.checkout for plan in plans if plan.card in ("pm_card_3ds_required", "pm_card_risk_elevated")
    )
    assert all(type(plan.amount) is int for plan in plans)


# -- Stripe read back as the sandbox describes an authorization ---------------------------------------


def payment_intent(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pi_s1", "status": status, "amount": 1000, "metadata": {"reference": "pi_1"}} | fields


def charge(amount: int = 1000, *refunds: dict[str, Any]) -> dict[str, Any]:
    return {"id": "ch_1", "amount": amount, "refunds": {"data": list(refunds)}}


def test_a_hold_at_stripe_is_an_open_approved_authorization() -> None:
    held = stripe_authorization(payment_intent("requires_capture", latest_charge=charge()), 0)
    assert (held["status"], held["voided"], held["captureId"]) == ("approved", False, None)


def test_a_cancelled_hold_is_voided_and_a_cancel_before_any_charge_held_nothing() -> None:
    voided = stripe_authorization(payment_intent("canceled", latest_charge=charge()), 0)
    assert (voided["status"], voided["voided"]) == ("approved", True)
    never_held = stripe_authorization(payment_intent("canceled", latest_charge=None), 0)
    assert never_held["status"] == "canceled"


def test_a_partial_capture_counts_without_the_rest_localstripe_books_as_a_refund() -> None:
    rest = {"id": "re_rest", "amount": 400, "payment_intent": None}
    captured = stripe_authorization(payment_intent("succeeded", latest_charge=charge(1000, rest)), 250)
    assert (captured["captureId"], captured["capturedAmount"], captured["refundedAmount"]) == (
        "ch_1",
        600,
        250,
    )
    # Where Stripe tells the amount received, that is it.
    told = stripe_authorization(payment_intent("succeeded", amount_received=700, latest_charge=charge()), 0)
    assert told["capturedAmount"] == 700


def test_two_approved_authorizations_of_one_payment_at_two_processors_are_both_seen() -> None:
    intent = {"status": "VOIDED", "amountCaptured": 0, "amountRefunded": 0}
    at_stripe = stripe_authorization(payment_intent("requires_capture", latest_charge=charge()), 0)
    found = payment_violations("p", intent, [authorization(voided=True), at_stripe], [], Told())
    assert any("still hold money" in violation for violation in found)


# -- merchant webhooks: the receiver, and what the checks find --------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed(secret: str, webhook_id: str, body: bytes) -> dict[str, str]:
    """Headers as the stack sends them, signed by the official library."""
    now = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
    }


def event(event_id: str, kind: str = "CAPTURED", payment: str = "pi_1", amount: int = 1000) -> dict[str, Any]:
    """An event as `GET /v1/events` shows it."""
    return {
        "eventId": event_id,
        "eventType": kind,
        "paymentIntentId": payment,
        "amount": amount,
        "currency": "USD",
        "paymentStatus": kind,
        "intentVersion": 2,
    }


def body(shown: dict[str, Any], **changed: Any) -> bytes:
    """The delivery the stack makes of an event."""
    data = {
        "eventId": shown["eventId"],
        "paymentIntentId": shown["paymentIntentId"],
        "merchantId": "mer_chaos",
        "amount": shown["amount"],
        "currency": shown["currency"],
        "status": shown["paymentStatus"],
        "version": shown["intentVersion"],
    } | changed
    payload = {"type": f"payment.{shown['eventType'].lower()}", "timestamp": "2026-01-01T00:00:00.000Z"}
    return json.dumps(payload | {"data": data}, sort_keys=True).encode()


def got(endpoint: str, shown: dict[str, Any], answered: int = 200, **changed: Any) -> Received:
    return Received(endpoint, shown["eventId"], body(shown, **changed), answered, signed=True)


def logged(event_id: str, status: str = "succeeded", attempts: int = 1) -> dict[str, Any]:
    return {"eventId": event_id, "status": status, "attempts": attempts, "lastStatusCode": 200}


AUTHORIZED, CAPTURED = event("txn_1_auth", "AUTHORIZED"), event("txn_1_capt", "CAPTURED", amount=600)
EVENTS = {shown["eventId"]: shown for shown in (AUTHORIZED, CAPTURED)}


def all_delivered() -> tuple[list[Received], dict[str, list[dict[str, Any]]]]:
    """Both events at both endpoints; the flaky one refused the capture once, took it, then got it again."""
    received = [
        got("steady", AUTHORIZED),
        got("steady", CAPTURED),
        got("flaky", AUTHORIZED),
        got("flaky", CAPTURED, answered=500),
        got("flaky", CAPTURED),
        got("flaky", CAPTURED),  # a worker crashed after sending it: the same delivery again
    ]
    logs = {
        "steady": [logged("txn_1_auth"), logged("txn_1_capt")],
        "flaky": [logged("txn_1_auth"), logged("txn_1_capt", attempts=2)],
    }
    return received, logs


def test_every_event_taken_by_every_endpoint_is_no_violation_and_counts_what_happened() -> None:
    received, logs = all_delivered()
    figures, found = webhook_violations(EVENTS, received, logs, attempts=6)
    assert found == []
    assert (figures.events_expected, figures.received, figures.accepted, figures.refused) == (2, 6, 5, 1)
    assert (figures.duplicates, figures.retried, figures.failed_deliveries, figures.missing) == (1, 1, 0, 0)
    assert figures.as_dict()["deliveries_expected"] == 4


def test_an_event_an_endpoint_never_took_is_missing() -> None:
    received, logs = all_delivered()
    received = [r for r in received if not (r.endpoint == "flaky" and r.webhook_id == "txn_1_capt")]
    logs["flaky"] = [logged("txn_1_auth")]
    figures, found = webhook_violations(EVENTS, received, logs, attempts=6)
    assert found == ["flaky: event txn_1_capt (CAPTURED of pi_1) never accepted, and not in its delivery log"]
    assert figures.missing == 1


def test_one_id_with_two_bodies_and_a_body_that_is_not_its_event() -> None:
    received, logs = all_delivered()
    received.append(got("steady", CAPTURED, amount=700))
    figures, found = webhook_violations(EVENTS, received, logs, attempts=6)
    assert figures.ids_with_two_bodies == 1
    assert found[0] == "webhook txn_1_capt: 2 different bodies under one id"
    assert any("the body says ('payment.captured', 'txn_1_capt', 'pi_1', 700" in why for why in found)


def test_one_movement_under_two_ids() -> None:
    received, logs = all_delivered()
    again = event("txn_1_capt_again", "CAPTURED", amount=600)
    received += [got("steady", again), got("flaky", again)]
    logs["steady"].append(logged("txn_1_capt_again"))
    logs["flaky"].append(logged("txn_1_capt_again"))
    figures, found = webhook_violations(EVENTS | {"txn_1_capt_again": again}, received, logs, attempts=6)
    assert figures.movements_under_two_ids == 1
    assert found == [
        "payment.captured of pi_1 at version 2 delivered under 2 ids: ['txn_1_capt', 'txn_1_capt_again']"
    ]


def test_what_is_no_campaign_payments_event_or_fails_verification_or_goes_elsewhere() -> None:
    received, logs = all_delivered()
    stranger = event("txn_9_auth", "AUTHORIZED", payment="pi_9")
    received += [
        got("steady", stranger),
        Received("steady", "txn_1_auth", b"{}", 400, signed=False),
        got("nowhere", AUTHORIZED),
    ]
    figures, found = webhook_violations(EVENTS, received, logs, attempts=6)
    assert (figures.unexpected, figures.signature_failures) == (1, 1)
    assert found == [
        "webhook txn_1_auth to steady: its signature does not verify",
        "webhook txn_1_auth to nowhere: no campaign endpoint has that URL",
        "webhook txn_9_auth: not an event of a campaign payment",
    ]


@pytest.mark.parametrize(
    ("attempts", "refused", "excused"),
    [
        (6, 6, True),  # every attempt of the schedule refused by the endpoint: its own doing
        (6, 3, False),  # the endpoint took it at some attempt, yet the stack logs a failure
        (2, 2, False),  # given up before the schedule's end
    ],
)
def test_a_failed_delivery_is_a_violation_unless_the_endpoint_refused_every_attempt(
    attempts: int, refused: int, excused: bool
) -> None:
    received, logs = all_delivered()
    received = [r for r in received if not (r.endpoint == "flaky" and r.webhook_id == "txn_1_capt")]
    received += [got("flaky", CAPTURED, answered=500)] * refused
    logs["flaky"][1] = logged("txn_1_capt", "failed", attempts)
    figures, found = webhook_violations(EVENTS, received, logs, attempts=6)
    assert (figures.failed_deliveries, figures.exhausted) == (1, int(excused))
    if excused:
        assert found == []
    else:
        assert found[0] == (
            f"flaky: the delivery of txn_1_capt failed after {attempts} of 6 attempts (last answer 200); "
            f"the endpoint refused {refused}"
        )
        assert found[1].startswith("flaky: event txn_1_capt (CAPTURED of pi_1) never accepted")


def test_a_log_still_pending_or_claiming_a_success_the_endpoint_never_saw() -> None:
    received, logs = all_delivered()
    received = [r for r in received if not (r.endpoint == "steady" and r.webhook_id == "txn_1_capt")]
    logs["flaky"][0] = logged("txn_1_auth", "pending", 3)
    found = webhook_violations(EVENTS, received, logs, attempts=6)[1]
    assert found == [
        "flaky: the delivery of txn_1_auth is still pending after 3 attempt(s)",
        "steady: the delivery of txn_1_capt is logged succeeded, but the endpoint never accepted it",
        "steady: event txn_1_capt (CAPTURED of pi_1) never accepted",
    ]


def test_the_receiver_takes_what_its_secret_signed_and_refuses_the_rest() -> None:
    receiver, secret = WebhookReceiver(seed=1), new_secret()
    receiver.expect("hook", secret)
    delivery = body(AUTHORIZED)
    assert receiver.receive("/hook", signed(secret, "txn_1_auth", delivery), delivery) == 200
    assert receiver.receive("/hook", signed(new_secret(), "txn_1_auth", delivery), delivery) == 400
    assert receiver.receive("/other", signed(secret, "txn_1_auth", delivery), delivery) == 404
    first, forged, elsewhere = receiver.received()
    assert (first.signed, first.event_type, first.payment_intent_id) == (True, "payment.authorized", "pi_1")
    assert (forged.signed, forged.answered, elsewhere.endpoint) == (False, 400, "other")


def test_the_receiver_refuses_an_event_at_most_max_refusals_times_as_its_seed_draws() -> None:
    def answers(seed: int) -> list[int]:
        receiver, secret = WebhookReceiver(seed=seed, max_refusals=3), new_secret()
        receiver.expect("flaky", secret, refusal_rate=0.5)
        return [
            receiver.receive("/flaky", signed(secret, f"txn_{number}", b"{}"), b"{}")
            for number in range(40)
            for _ in range(5)
        ]

    drawn = answers(7)
    assert drawn == answers(7)
    assert drawn != answers(8)
    per_event = [drawn[start : start + 5] for start in range(0, len(drawn), 5)]
    assert all(tries.count(500) <= 3 for tries in per_event)
    assert 0.2 < drawn.count(500) / len(drawn) < 0.6
    with pytest.raises(ValueError, match="refusal rate"):
        WebhookReceiver(seed=1).expect("hook", new_secret(), refusal_rate=1.0)


def test_a_webhook_campaign_needs_a_receiver() -> None:
    settings = CampaignSettings(seed=1, payments=1, gateway_fault_rate=0.0, webhooks=True)
    with pytest.raises(ValueError, match="receiver"):
        Campaign("http://127.0.0.1:1", "http://127.0.0.1:2", settings)
