"""GET /v1/payment-intents/{id}/refunds: a payment's refunds, oldest first, for its merchant only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from payments.domain.intents import PaymentIntent, refund_id_for
from payments.domain.money import Money
from payments.functions import http, list_intent_refunds
from payments.service.movements import CaptureIntent, RefundIntent, capture_intent, refund_intent
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository


class Context:
    function_name = "payments-list-intent-refunds"


def _captured(repo: FakeIntentRepository, clock: FakeClock) -> str:
    intent = PaymentIntent.create(
        amount=Money.of(10_000, "EUR"),
        customer_id="cus_1",
        merchant_id="mer_a",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
    )
    repo.add(intent)
    intent.authorize(authorization_id="auth_1", now=clock())
    repo.save(intent)
    capture_intent(CaptureIntent(intent.payment_intent_id), intents=repo, gateway=FakeGateway(), clock=clock)
    return intent.payment_intent_id


def _get(repo: FakeIntentRepository, payment_intent_id: str, authorizer: dict[str, str]) -> tuple[int, Any]:
    handler = list_intent_refunds.handler.with_dependencies(http.Routed(repo))
    event = {
        "pathParameters": {"paymentIntentId": payment_intent_id},
        "requestContext": {"authorizer": {"lambda": authorizer}},
    }
    response = handler(event, Context())
    return response["statusCode"], json.loads(response["body"])


MERCHANT_A = {"scope": "merchant", "merchantId": "mer_a", "keyId": "key_a"}
MERCHANT_B = {"scope": "merchant", "merchantId": "mer_b", "keyId": "key_b"}


@pytest.fixture
def repo() -> FakeIntentRepository:
    return FakeIntentRepository()


def test_the_refunds_are_listed_oldest_first(repo: FakeIntentRepository) -> None:
    clock = FakeClock()
    payment = _captured(repo, clock)
    for amount, reason in ((1_000, "damaged"), (2_500, None)):
        refund_intent(
            RefundIntent(payment, None, amount, reason), intents=repo, gateway=FakeGateway(), clock=clock
        )
    status, body = _get(repo, payment, MERCHANT_A)
    assert status == 200
    assert [(refund["amount"], refund.get("reason")) for refund in body["data"]] == [
        (1_000, "damaged"),
        (2_500, None),
    ]
    assert [refund["refundId"] for refund in body["data"]] == [
        refund_id_for(payment, 1),
        refund_id_for(payment, 2),
    ]


def test_a_payment_without_refunds_has_an_empty_list(repo: FakeIntentRepository) -> None:
    assert _get(repo, _captured(repo, FakeClock()), MERCHANT_A) == (200, {"data": []})


def test_another_merchants_payment_is_not_found(repo: FakeIntentRepository) -> None:
    payment = _captured(repo, FakeClock())
    status, body = _get(repo, payment, MERCHANT_B)
    unknown_status, unknown_body = _get(repo, "pi_unknown", MERCHANT_B)
    assert (status, body["error"]["code"]) == (404, "not_found")
    assert body["error"]["message"] == f"no payment intent {payment}"
    assert unknown_status == 404
    assert unknown_body["error"]["message"] == "no payment intent pi_unknown"
