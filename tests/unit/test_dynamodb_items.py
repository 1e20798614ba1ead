"""The DynamoDB item format of intents and transactions, and the customer list's page tokens."""

from __future__ import annotations

import base64
import json
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.adapters.dynamodb_intents import decode_page_token, encode_page_token
from payments.adapters.dynamodb_items import (
    format_time,
    intent_from_item,
    intent_to_item,
    parse_time,
    transaction_from_item,
    transaction_to_item,
)
from payments.domain.errors import InvalidRequest
from payments.domain.intents import (
    SUPPORTED_LOCALES,
    CaptureMethod,
    PaymentIntent,
    Processor,
    ReceiptStatus,
    Status,
    Transaction,
    TransactionKind,
)
from payments.domain.money import CURRENCIES, Money

TIME_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
INTEGER = re.compile(r"^-?(0|[1-9]\d*)$")
NUMBER_ATTRIBUTES = {
    "amount",
    "version",
    "amountAuthorized",
    "amountCaptured",
    "amountRefunded",
    "refundCount",
}

# -- strategies ----------------------------------------------------------------------------------

fixed_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=fixed_offsets
).map(_to_milliseconds)

identifiers = st.text(alphabet=string.ascii_letters + string.digits + "_-.:", min_size=1, max_size=40)
optional_text = st.none() | st.text(max_size=60)
counts = st.integers(min_value=0, max_value=10**15)


@st.composite
def intents(draw: st.DrawFn) -> PaymentIntent:
    code = draw(st.sampled_from(sorted(CURRENCIES)))
    created = draw(moments)
    return PaymentIntent(
        payment_intent_id="pi_" + draw(identifiers),
        amount=Money(draw(st.integers(min_value=1, max_value=99_999_999_999)), CURRENCIES[code]),
        customer_id=draw(identifiers),
        merchant_id=draw(identifiers),
        payment_method="pm_" + draw(identifiers),
        capture_method=draw(st.sampled_from(CaptureMethod)),
        created_at=created,
        updated_at=draw(moments),
        expires_at=draw(moments),
        status=draw(st.sampled_from(Status)),
        version=draw(st.integers(min_value=1, max_value=10**9)),
        amount_authorized=draw(counts),
        amount_captured=draw(counts),
        amount_refunded=draw(counts),
        receipt_email=draw(optional_text),
        locale=draw(st.sampled_from(SUPPORTED_LOCALES)),
        description=draw(optional_text),
        order_id=draw(st.none() | identifiers),
        authorization_id=draw(st.none() | identifiers),
        transaction_id=draw(st.none() | identifiers),
        decline_code=draw(st.none() | identifiers),
        receipt_status=draw(st.sampled_from(ReceiptStatus)),
        processor=draw(st.sampled_from(Processor)),
        fallback_processors=tuple(draw(st.lists(st.sampled_from(Processor), max_size=2))),
        authorization_sends=draw(st.integers(min_value=0, max_value=5)),
        authentication_reference=draw(st.none() | identifiers),
        authentication_url=draw(st.none() | st.text(min_size=1, max_size=200)),
    )


def make_intent(**changes: Any) -> PaymentIntent:
    created = datetime(2026, 11, 24, 12, 0, 0, 250_000, tzinfo=UTC)
    fields: dict[str, Any] = {
        "payment_intent_id": "pi_1",
        "amount": Money.of(1_999, "KWD"),
        "customer_id": "cus_1",
        "merchant_id": "mer_1",
        "payment_method": "pm_card_visa",
        "capture_method": CaptureMethod.MANUAL,
        "created_at": created,
        "updated_at": created,
        "expires_at": created + timedelta(hours=24),
    }
    fields.update(changes)
    return PaymentIntent(**fields)


# -- intents -------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(intents())
def test_any_intent_survives_the_round_trip(intent: PaymentIntent) -> None:
    # When it is written and read back
    back = intent_from_item(intent_to_item(intent))

    # Then nothing changed (times compare as instants, whatever their offset)
    assert back == intent
    assert back.amount.currency is intent.amount.currency
    for name in ("created_at", "updated_at", "expires_at"):
        assert getattr(back, name).utcoffset() == timedelta(0)


@settings(max_examples=50, deadline=None)
@given(intents())
def test_the_item_survives_json_like_the_wire(intent: PaymentIntent) -> None:
    # Given the low-level item as it travels (JSON)
    item = json.loads(json.dumps(intent_to_item(intent)))

    # Then it still reads back as the same intent
    assert intent_from_item(item) == intent


@settings(max_examples=100, deadline=None)
@given(intents())
def test_numbers_are_integer_n_strings_and_times_utc_milliseconds(intent: PaymentIntent) -> None:
    item = intent_to_item(intent)

    numbers = {name for name, value in item.items() if "N" in value}
    # A payment with fallback processors keeps the count of its sends too; the others store no count.
    with_sends = bool(intent.fallback_processors or intent.authorization_sends)
    assert numbers == NUMBER_ATTRIBUTES | ({"authorizationSends"} if with_sends else set())
    # The one map: which request made which refund, each number an integer N string too
    requests = item.pop("refundRequests")["M"]
    assert {request: int(number["N"]) for request, number in requests.items()} == intent.refund_requests
    assert all(INTEGER.match(number["N"]) for number in requests.values())
    fallbacks = item.pop("fallbackProcessors", {"L": []})["L"]  # the one list: processors' names
    assert [Processor(entry["S"]) for entry in fallbacks] == list(intent.fallback_processors)
    for name, value in item.items():
        assert len(value) == 1, name
        ((kind, text),) = value.items()
        assert kind in {"S", "N"}, name
        assert isinstance(text, str), name
        if kind == "N":
            assert INTEGER.match(text), (name, text)
    assert item["amount"]["N"] == str(intent.amount.amount)
    assert item["version"]["N"] == str(intent.version)
    for name in ("createdAt", "updatedAt", "expiresAt"):
        assert TIME_FORMAT.match(item[name]["S"]), item[name]


def test_the_item_of_a_known_intent() -> None:
    item = intent_to_item(make_intent(amount=Money.of(1_999, "KWD")))

    assert item == {
        "paymentIntentId": {"S": "pi_1"},
        "status": {"S": "PENDING"},
        "amount": {"N": "1999"},
        "currency": {"S": "KWD"},
        "customerId": {"S": "cus_1"},
        "merchantId": {"S": "mer_1"},
        "merchantCustomerId": {"S": "mer_1#cus_1"},
        "paymentMethod": {"S": "pm_card_visa"},
        "captureMethod": {"S": "manual"},
        "createdAt": {"S": "2026-11-24T12:00:00.250Z"},
        "updatedAt": {"S": "2026-11-24T12:00:00.250Z"},
        "expiresAt": {"S": "2026-11-25T12:00:00.250Z"},
        "version": {"N": "1"},
        "amountAuthorized": {"N": "0"},
        "amountCaptured": {"N": "0"},
        "amountRefunded": {"N": "0"},
        "refundCount": {"N": "0"},
        "refundRequests": {"M": {}},
        "locale": {"S": "en-US"},
        "receiptStatus": {"S": "NOT_SENT"},
        "processor": {"S": "sandbox"},
    }


def test_unset_optional_fields_are_left_out_of_the_item() -> None:
    item = intent_to_item(make_intent())

    for name in (
        "receiptEmail",
        "description",
        "orderId",
        "authorizationId",
        "transactionId",
        "declineCode",
        "authenticationReference",
        "authenticationUrl",
    ):
        assert name not in item


def test_set_optional_fields_are_strings_in_the_item() -> None:
    item = intent_to_item(
        make_intent(
            receipt_email="a@example.com",
            description="mugs",
            order_id="ord_1",
            authorization_id="auth_1",
            transaction_id="txn_1_auth",
            decline_code="generic_decline",
            authentication_reference="pi_3PqRsTLkdIwHu7ix0aBcDeFg",
            authentication_url="https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3PqRs",
        )
    )

    assert item["receiptEmail"] == {"S": "a@example.com"}
    assert item["description"] == {"S": "mugs"}
    assert item["orderId"] == {"S": "ord_1"}
    assert item["authorizationId"] == {"S": "auth_1"}
    assert item["transactionId"] == {"S": "txn_1_auth"}
    assert item["declineCode"] == {"S": "generic_decline"}
    assert item["authenticationReference"] == {"S": "pi_3PqRsTLkdIwHu7ix0aBcDeFg"}
    assert item["authenticationUrl"] == {
        "S": "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_3PqRs"
    }


def test_an_explicit_version_replaces_the_intents_own() -> None:
    item = intent_to_item(make_intent(version=3), version=4)

    assert item["version"] == {"N": "4"}
    assert intent_from_item(item).version == 4


def test_an_intent_without_updated_at_is_stored_as_updated_when_created() -> None:
    intent = make_intent(updated_at=None)

    item = intent_to_item(intent)

    assert item["updatedAt"] == item["createdAt"]
    assert intent_from_item(item).updated_at == intent.created_at


def test_an_unknown_currency_in_an_item_is_refused() -> None:
    item = intent_to_item(make_intent())
    item["currency"] = {"S": "XXX"}

    with pytest.raises(InvalidRequest):
        intent_from_item(item)


# -- times ---------------------------------------------------------------------------------------


def test_format_time_converts_to_utc_and_truncates_to_milliseconds() -> None:
    moment = datetime(2026, 1, 1, 1, 30, 0, 987_654, tzinfo=timezone(timedelta(hours=5, minutes=30)))

    assert format_time(moment) == "2025-12-31T20:00:00.987Z"


def test_format_time_keeps_zero_milliseconds() -> None:
    assert format_time(datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)) == "2026-03-04T05:06:07.000Z"


@settings(max_examples=200, deadline=None)
@given(moments)
def test_parse_time_reverses_format_time(moment: datetime) -> None:
    assert parse_time(format_time(moment)) == moment


@settings(max_examples=200, deadline=None)
@given(moments, moments)
def test_formatted_times_sort_as_strings_in_time_order(first: datetime, second: datetime) -> None:
    # Given two instants in any offsets
    a, b = format_time(first), format_time(second)

    # Then comparing the strings is comparing the times
    assert (a < b) == (first < second)
    assert (a == b) == (first == second)


# -- transactions --------------------------------------------------------------------------------


def make_transaction(**changes: Any) -> Transaction:
    fields: dict[str, Any] = {
        "transaction_id": "txn_1_capt",
        "payment_intent_id": "pi_1",
        "customer_id": "cus_1",
        "merchant_id": "mer_1",
        "kind": TransactionKind.CAPTURE,
        "status": Status.CAPTURED,
        "amount": Money.of(500, "JPY"),
        "created_at": datetime(2026, 11, 24, 12, 0, 1, 5_000, tzinfo=timezone(timedelta(hours=-6))),
    }
    fields.update(changes)
    return Transaction(**fields)


def test_transaction_item_fields() -> None:
    item = transaction_to_item(make_transaction(gateway_reference="gw_cap_9"))

    assert item == {
        "transactionId": {"S": "txn_1_capt"},
        "paymentIntentId": {"S": "pi_1"},
        "customerId": {"S": "cus_1"},
        "merchantId": {"S": "mer_1"},
        "kind": {"S": "CAPTURE"},
        "status": {"S": "CAPTURED"},
        "amount": {"N": "500"},
        "currency": {"S": "JPY"},
        "createdAt": {"S": "2026-11-24T18:00:01.005Z"},
        "gatewayReference": {"S": "gw_cap_9"},
    }


def test_a_transaction_keeps_the_payments_version_it_was_recorded_at() -> None:
    item = transaction_to_item(make_transaction(intent_version=7))

    assert item["intentVersion"] == {"N": "7"}
    assert transaction_from_item(item).intent_version == 7
    old = transaction_to_item(make_transaction())  # recorded before the version was kept
    assert "intentVersion" not in old
    assert transaction_from_item(old).intent_version is None


def test_a_movement_records_the_version_its_save_writes() -> None:
    intent = make_intent(version=4)
    transaction = intent.authorize(authorization_id="auth_1", now=intent.created_at)

    assert transaction.intent_version == 5 == intent.saved().version


def test_a_declined_transaction_records_its_decline_code_and_no_reference() -> None:
    item = transaction_to_item(
        make_transaction(
            kind=TransactionKind.AUTHORIZATION,
            status=Status.DECLINED,
            decline_code="insufficient_funds",
        )
    )

    assert item["declineCode"] == {"S": "insufficient_funds"}
    assert item["kind"] == {"S": "AUTHORIZATION"}
    assert "gatewayReference" not in item


# -- page tokens ---------------------------------------------------------------------------------

LAST_KEY = {
    "paymentIntentId": {"S": "pi_abc"},
    "customerId": {"S": "cus_1"},
    "createdAt": {"S": "2026-11-24T12:00:00.000Z"},
}


def token_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_page_token_round_trips() -> None:
    token = encode_page_token(LAST_KEY)

    assert decode_page_token(token, scope=("customerId", "cus_1")) == LAST_KEY


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_any_page_token_round_trips_and_is_url_safe(intent_id: str, customer_id: str, created: str) -> None:
    last_key = {
        "paymentIntentId": {"S": intent_id},
        "customerId": {"S": customer_id},
        "createdAt": {"S": created},
    }

    token = encode_page_token(last_key)

    assert re.fullmatch(r"[A-Za-z0-9_-]*", token)
    assert decode_page_token(token, scope=("customerId", customer_id)) == last_key


def test_a_token_of_another_customer_is_refused() -> None:
    token = encode_page_token(LAST_KEY)

    with pytest.raises(InvalidRequest):
        decode_page_token(token, scope=("customerId", "cus_2"))


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        "x",
        "",
        "====",
        "eyJ",  # a truncated token
        base64.urlsafe_b64encode(b"hello world").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe\xfd\xfc").decode(),
        base64.urlsafe_b64encode(b"\x80abc{}").decode(),
    ],
)
def test_garbage_and_non_json_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_page_token(token, scope=("customerId", "cus_1"))


PLAIN = {"paymentIntentId": "pi_abc", "customerId": "cus_1", "createdAt": "2026-11-24T12:00:00.000Z"}


@pytest.mark.parametrize(
    "value",
    [
        {**PLAIN, "extra": "x"},
        {**PLAIN, "status": "PENDING"},
        {k: v for k, v in PLAIN.items() if k != "createdAt"},
        {},
        {**PLAIN, "createdAt": 1_764_000_000},
        {**PLAIN, "paymentIntentId": None},
        {**PLAIN, "paymentIntentId": {"S": "pi_abc"}},
        {**PLAIN, "customerId": ["cus_1"]},
        [PLAIN],
        "cus_1",
        None,
        42,
    ],
    ids=repr,
)
def test_tokens_of_the_wrong_shape_are_refused(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        decode_page_token(token_of(value), scope=("customerId", "cus_1"))


def test_a_hand_made_token_of_the_right_shape_is_accepted() -> None:
    # the format is plain: a client cannot do more with it than page through its own list
    assert decode_page_token(token_of(PLAIN), scope=("customerId", "cus_1")) == LAST_KEY
