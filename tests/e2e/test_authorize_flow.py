"""The authorize path end to end, over HTTP, against `payments local up`."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Api, RunningStack


def _new_key() -> str:
    return str(uuid.uuid4())


def test_create_then_get_returns_the_pending_intent(api: Api) -> None:
    # Given a new intent
    created = api.create_intent(amount=1999, currency="EUR", locale="es-MX", orderId="ord_1")
    # Then it is PENDING, with its amounts, expiry and first version
    assert created.status == 201
    intent = created.body
    assert intent["status"] == "PENDING"
    assert (intent["amount"], intent["currency"], intent["version"]) == (1999, "EUR", 1)
    assert intent["paymentIntentId"].startswith("pi_")
    assert intent["expiresAt"] > intent["createdAt"]
    # And reading it back gives the same intent
    fetched = api.get_intent(intent["paymentIntentId"])
    assert (fetched.status, fetched.body) == (200, intent)


def test_approved_card_is_authorized_with_a_transaction(api: Api) -> None:
    intent = api.create_intent(paymentMethod="pm_card_visa").body
    reply = api.authorize(intent["paymentIntentId"], key=_new_key())
    assert reply.status == 200
    assert reply.body["status"] == "AUTHORIZED"
    assert reply.body["amountAuthorized"] == 2500
    assert reply.body["transactionId"].startswith("txn_")
    assert reply.body["version"] == 2
    assert api.get_intent(intent["paymentIntentId"]).body["status"] == "AUTHORIZED"


def test_automatic_capture_captures_in_full(api: Api, stack: RunningStack) -> None:
    intent = api.create_intent(paymentMethod="pm_card_mastercard", captureMethod="automatic").body
    reply = api.authorize(intent["paymentIntentId"])
    assert reply.status == 200
    assert (reply.body["status"], reply.body["amountCaptured"]) == ("CAPTURED", 2500)
    # Both movements are recorded as transactions (the stream later turns them into events).
    table = stack.aws("dynamodb")
    kinds = {
        item["kind"]["S"]
        for item in table.scan(TableName="transactions-local")["Items"]
        if item["paymentIntentId"]["S"] == intent["paymentIntentId"]
    }
    assert kinds == {"AUTHORIZATION", "CAPTURE"}


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [("pm_card_declined", "generic_decline"), ("pm_card_insufficient_funds", "insufficient_funds")],
)
def test_declined_cards_answer_402_and_decline_the_intent(api: Api, method: str, decline_code: str) -> None:
    intent = api.create_intent(paymentMethod=method).body
    reply = api.authorize(intent["paymentIntentId"])
    assert reply.status == 402
    assert reply.body["error"]["code"] == "card_declined"
    assert reply.body["error"]["declineCode"] == decline_code
    after = api.get_intent(intent["paymentIntentId"]).body
    assert (after["status"], after["declineCode"]) == ("DECLINED", decline_code)


# The issuer's challenge is the processor's: the intent records which authentication it asked for
# (one write, so the answer after the challenge names it). The fraud screen's asks nothing of it.
@pytest.mark.parametrize(("method", "version"), [("pm_card_3ds_required", 2), ("pm_card_risk_elevated", 1)])
def test_step_up_answers_authentication_required_and_stays_pending(
    api: Api, method: str, version: int
) -> None:
    intent = api.create_intent(paymentMethod=method).body
    reply = api.authorize(intent["paymentIntentId"])
    assert reply.status == 402
    assert reply.body["error"]["code"] == "authentication_required"
    after = api.get_intent(intent["paymentIntentId"]).body
    assert (after["status"], after["version"]) == ("PENDING", version)
    again = api.authorize(intent["paymentIntentId"])  # asked again: the same challenge, nothing more written
    assert again.status == 402
    assert api.get_intent(intent["paymentIntentId"]).body["version"] == version


def test_fraud_block_is_a_clean_decline_without_a_gateway_call(api: Api, stack: RunningStack) -> None:
    before = stack.gateway_stats()
    intent = api.create_intent(paymentMethod="pm_card_risk_highest").body
    reply = api.authorize(intent["paymentIntentId"])
    assert reply.status == 402
    assert reply.body["error"]["code"] == "fraud_suspected"
    assert api.get_intent(intent["paymentIntentId"]).body["status"] == "DECLINED"
    assert stack.gateway_stats()["authorizations"] == before["authorizations"]


def test_flaky_gateway_is_recovered_by_bounded_retries(api: Api) -> None:
    intent = api.create_intent(paymentMethod="pm_card_gateway_flaky").body
    reply = api.authorize(intent["paymentIntentId"])
    assert (reply.status, reply.body["status"]) == (200, "AUTHORIZED")


def test_gateway_down_answers_503_and_changes_nothing(api: Api) -> None:
    intent = api.create_intent(paymentMethod="pm_card_gateway_down").body
    reply = api.authorize(intent["paymentIntentId"], key=_new_key())
    assert reply.status == 503
    assert reply.body["error"]["code"] == "upstream_unavailable"
    after = api.get_intent(intent["paymentIntentId"]).body
    assert (after["status"], after["version"]) == ("PENDING", 1)


def test_unknown_intent_is_404(api: Api) -> None:
    missing = "pi_00000000000000000000000000"
    assert api.get_intent(missing).status == 404
    reply = api.authorize(missing)
    assert (reply.status, reply.body["error"]["code"]) == (404, "not_found")


def test_authorizing_twice_is_409_invalid_state(api: Api) -> None:
    intent = api.create_intent().body
    assert api.authorize(intent["paymentIntentId"]).status == 200
    again = api.authorize(intent["paymentIntentId"])
    assert (again.status, again.body["error"]["code"]) == (409, "invalid_state")


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "2500"},
        {"amount": 25.0},
        {"amount": 25.5},
        {"amount": True},
        {"amount": 0},
        {"amount": -5},
        {"currency": "usd"},
        {"currency": "XYZ"},
        {"currency": 840},
        {"captureMethod": "sometimes"},
        {"locale": "fr-FR"},
        {"customerId": ""},
        {"paymentMethod": "4242424242424242"},
        {"description": "card 4242 4242 4242 4242"},
        {"unexpected": "field"},
    ],
)
def test_wrong_input_is_400_and_writes_nothing(api: Api, change: dict[str, object]) -> None:
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    reply = api.create_intent(key=_new_key(), **{"customerId": customer, **change})
    assert reply.status == 400
    assert reply.body["error"]["code"] == "invalid_request"
    assert reply.body["error"]["message"]
    assert api.list_intents(customer).body["data"] == []


@pytest.mark.parametrize("missing", ["amount", "currency", "customerId", "merchantId", "paymentMethod"])
def test_missing_fields_are_400(api: Api, missing: str) -> None:
    body = {
        "amount": 1,
        "currency": "USD",
        "customerId": "c",
        "merchantId": "m",
        "paymentMethod": "pm_card_visa",
    }
    del body[missing]
    reply = api.request("POST", "/v1/payment-intents", body)
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_request")
    assert missing in reply.body["error"]["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'{"amount": NaN}', b"\xff\xfe"])
def test_malformed_bodies_are_400(api: Api, raw: bytes) -> None:
    reply = api.request("POST", "/v1/payment-intents", raw=raw)
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_request")


def test_oversized_body_is_413(api: Api) -> None:
    reply = api.request("POST", "/v1/payment-intents", raw=b'{"description": "' + b"x" * 70_000 + b'"}')
    assert (reply.status, reply.body["error"]["code"]) == (413, "payload_too_large")


def test_replay_returns_the_first_response(api: Api) -> None:
    key = _new_key()
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    first = api.create_intent(customerId=customer, key=key)
    replay = api.create_intent(customerId=customer, key=key)
    assert (replay.status, replay.body) == (first.status, first.body)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert len(api.list_intents(customer).body["data"]) == 1


def test_replay_of_a_decline_returns_the_same_402(api: Api) -> None:
    intent = api.create_intent(paymentMethod="pm_card_declined").body
    key = _new_key()
    first = api.authorize(intent["paymentIntentId"], key=key)
    replay = api.authorize(intent["paymentIntentId"], key=key)
    assert first.status == replay.status == 402
    assert replay.body == first.body


def test_same_key_with_another_body_is_409_conflict(api: Api) -> None:
    key = _new_key()
    assert api.create_intent(amount=100, key=key).status == 201
    reply = api.create_intent(amount=200, key=key)
    assert (reply.status, reply.body["error"]["code"]) == (409, "idempotency_conflict")


def test_twenty_concurrent_duplicates_authorize_once(api: Api, stack: RunningStack) -> None:
    # Given one intent and one idempotency key
    intent = api.create_intent().body
    payment_intent_id = intent["paymentIntentId"]
    key = _new_key()
    before = stack.gateway_stats()

    # When 20 clients send the same authorize at once
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda _: api.authorize(payment_intent_id, key=key), range(20)))

    # Then every answer is the one authorization, or "in progress, retry"
    statuses = sorted({reply.status for reply in replies})
    assert set(statuses) <= {200, 409}
    successes = [reply for reply in replies if reply.status == 200]
    assert successes, "at least the first request succeeds"
    assert {reply.body["transactionId"] for reply in successes} == {successes[0].body["transactionId"]}
    for reply in replies:
        if reply.status == 409:
            assert reply.body["error"]["code"] == "idempotency_in_progress"
            assert reply.headers.get("retry-after")
    # And the gateway authorized once, and one transaction was written
    assert stack.gateway_stats()["authorizations"] - before["authorizations"] == 1
    items = stack.aws("dynamodb").scan(TableName="transactions-local")["Items"]
    mine = [item for item in items if item["paymentIntentId"]["S"] == payment_intent_id]
    assert len(mine) == 1
    # And a retry after they settle replays the success
    retry = api.authorize(payment_intent_id, key=key)
    assert (retry.status, retry.body["transactionId"]) == (200, successes[0].body["transactionId"])


def test_customer_listing_is_newest_first_and_paginates(api: Api) -> None:
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    created = [
        api.create_intent(customerId=customer, amount=100 + n).body["paymentIntentId"] for n in range(5)
    ]
    first = api.list_intents(customer, "?limit=2")
    assert first.status == 200
    seen = [intent["paymentIntentId"] for intent in first.body["data"]]
    token = first.body["nextToken"]
    while token:
        page = api.list_intents(customer, f"?limit=2&nextToken={token}")
        seen += [intent["paymentIntentId"] for intent in page.body["data"]]
        token = page.body["nextToken"]
    assert seen == list(reversed(created))


def test_listing_rejects_a_forged_token_and_a_bad_limit(api: Api) -> None:
    assert api.list_intents("cus_x", "?nextToken=bm90LWEtdG9rZW4").status == 400
    assert api.list_intents("cus_x", "?limit=0").status == 400
    assert api.list_intents("cus_x", "?limit=abc").status == 400


def test_unknown_route_is_404_as_api_gateway_answers(api: Api) -> None:
    reply = api.request("GET", "/v1/nothing-here")
    assert reply.status == 404


def test_healthz_and_printed_urls(stack: RunningStack) -> None:
    text = "".join(stack.output)
    assert "API:" in text
    assert "AWS:" in text
    assert stack.api.request("GET", "/healthz").body == {"status": "ok"}
