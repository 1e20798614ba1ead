"""The HTTP edge: error statuses and bodies, strict body parsing, and the intent's JSON shape."""

from __future__ import annotations

import base64
import inspect
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from payments.domain import errors
from payments.domain.errors import (
    AuthenticationRequired,
    CardDeclined,
    ConcurrentUpdate,
    Conflict,
    FraudSuspected,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidRequest,
    InvalidSignature,
    InvalidState,
    NotFound,
    PayloadTooLarge,
    PaymentRefused,
    PaymentsError,
    ProcessorUnreachable,
    UnsupportedMediaType,
    UpstreamUnavailable,
)
from payments.domain.intents import CaptureMethod, PaymentIntent, ReceiptStatus, Status
from payments.domain.money import Money
from payments.functions.http import MAX_BODY_BYTES, error_response, json_body, parse, status_for
from payments.functions.schemas import AuthorizeBody, CreateIntentBody, intent_body

# -- status_for ----------------------------------------------------------------------------------

EXPECTED_STATUS: dict[type[PaymentsError], int] = {
    PaymentsError: 500,
    InvalidRequest: 400,
    InvalidSignature: 401,
    PaymentRefused: 500,
    CardDeclined: 402,
    AuthenticationRequired: 402,
    FraudSuspected: 402,
    NotFound: 404,
    Conflict: 500,
    InvalidState: 409,
    IdempotencyConflict: 409,
    IdempotencyInProgress: 409,
    ConcurrentUpdate: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    UpstreamUnavailable: 503,
    ProcessorUnreachable: 503,
}


def make_error(cls: type[PaymentsError]) -> PaymentsError:
    if cls is CardDeclined:
        return CardDeclined("insufficient_funds")
    if cls in {UpstreamUnavailable, ProcessorUnreachable}:
        return cls("the gateway timed out", upstream="gateway")  # type: ignore[call-arg]
    return cls("something went wrong")


def test_every_error_class_of_the_domain_has_an_expected_status() -> None:
    # Given every PaymentsError subclass the domain defines
    defined = {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, PaymentsError) and obj.__module__ == errors.__name__
    }

    # Then none is left out of the table this module checks
    assert defined == set(EXPECTED_STATUS)


@pytest.mark.parametrize(
    ("cls", "status"), list(EXPECTED_STATUS.items()), ids=lambda v: getattr(v, "__name__", v)
)
def test_status_for_maps_each_error_class(cls: type[PaymentsError], status: int) -> None:
    assert status_for(make_error(cls)) == status


def test_a_subclass_takes_the_status_of_its_nearest_mapped_base() -> None:
    # Given errors the table does not name but whose bases it does
    class StaleNonce(InvalidSignature):
        code = "stale_nonce"

    class GatewayGone(UpstreamUnavailable):
        pass

    # Then
    assert status_for(StaleNonce("old")) == 401
    assert status_for(GatewayGone("gone", upstream="gateway")) == 503


def test_an_error_outside_the_table_is_a_500() -> None:
    class Mystery(PaymentsError):
        code = "mystery"

    assert status_for(Mystery("?")) == 500


# -- error_response ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", list(EXPECTED_STATUS), ids=lambda v: v.__name__)
def test_error_response_shape(cls: type[PaymentsError]) -> None:
    # Given
    error = make_error(cls)

    # When
    response = error_response(error)

    # Then
    body = json.loads(response["body"])
    assert response["statusCode"] == EXPECTED_STATUS[cls]
    assert response["headers"]["content-type"] == "application/json"
    assert set(body) == {"error"}
    expected_keys = {"code", "message", "declineCode"} if cls is CardDeclined else {"code", "message"}
    assert set(body["error"]) == expected_keys
    assert body["error"]["code"] == cls.code
    assert body["error"]["message"] == error.message


def test_card_declined_carries_its_decline_code() -> None:
    response = error_response(CardDeclined("insufficient_funds", "no money"))

    assert json.loads(response["body"]) == {
        "error": {"code": "card_declined", "message": "no money", "declineCode": "insufficient_funds"}
    }
    assert response["statusCode"] == 402


@pytest.mark.parametrize("cls", list(EXPECTED_STATUS), ids=lambda v: v.__name__)
def test_retry_after_only_for_retryable_errors(cls: type[PaymentsError]) -> None:
    headers = error_response(make_error(cls))["headers"]

    if cls in {IdempotencyInProgress, ConcurrentUpdate, UpstreamUnavailable, ProcessorUnreachable}:
        assert headers.get("retry-after") == "1"
    else:
        assert "retry-after" not in headers


def test_the_retryable_errors_are_exactly_the_documented_ones() -> None:
    retryable = {cls for cls in EXPECTED_STATUS if cls.retryable}

    assert retryable == {IdempotencyInProgress, ConcurrentUpdate, UpstreamUnavailable, ProcessorUnreachable}


def test_codes_are_snake_case_and_match_the_contract() -> None:
    assert {cls: cls.code for cls in EXPECTED_STATUS if EXPECTED_STATUS[cls] != 500} == {
        InvalidRequest: "invalid_request",
        InvalidSignature: "invalid_signature",
        CardDeclined: "card_declined",
        AuthenticationRequired: "authentication_required",
        FraudSuspected: "fraud_suspected",
        NotFound: "not_found",
        InvalidState: "invalid_state",
        IdempotencyConflict: "idempotency_conflict",
        IdempotencyInProgress: "idempotency_in_progress",
        ConcurrentUpdate: "concurrent_update",
        PayloadTooLarge: "payload_too_large",
        UnsupportedMediaType: "unsupported_media_type",
        UpstreamUnavailable: "upstream_unavailable",
        ProcessorUnreachable: "upstream_unavailable",
    }


# -- json_body -----------------------------------------------------------------------------------


JSON_HEADERS = {"content-type": "application/json"}


def text_event(body: str | None, content_type: str | None = "application/json") -> dict[str, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    return {"body": body, "isBase64Encoded": False, "headers": headers}


def binary_event(raw: bytes) -> dict[str, Any]:
    return {"body": base64.b64encode(raw).decode(), "isBase64Encoded": True, "headers": JSON_HEADERS}


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/json", "json"],
)
def test_a_json_body_of_another_content_type_is_refused_before_it_is_read(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        json_body(text_event('{"amount": 100}', content_type))
    assert status_for(refused.value) == 415
    with pytest.raises(UnsupportedMediaType):  # even where a body is optional
        json_body(text_event('{"amount": 100}', content_type), required=False)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ],
)
def test_json_and_its_variants_are_taken(content_type: str) -> None:
    assert json_body(text_event('{"amount": 100}', content_type)) == {"amount": 100}


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_a_post_with_no_body_needs_no_content_type(content_type: str | None) -> None:
    assert json_body(text_event("", content_type), required=False) == {}


def test_a_json_object_is_returned_as_a_dict() -> None:
    assert json_body(text_event('{"amount": 100, "nested": {"a": [1, 2]}}')) == {
        "amount": 100,
        "nested": {"a": [1, 2]},
    }


@pytest.mark.parametrize(
    "body",
    ["not json", "{", '{"a": 1,}', "{'a': 1}", '{"a": 1} trailing', "<xml/>"],
)
def test_non_json_is_an_invalid_request(body: str) -> None:
    with pytest.raises(InvalidRequest):
        json_body(text_event(body))


@pytest.mark.parametrize(
    "body",
    ['{"amount": NaN}', '{"amount": Infinity}', '{"amount": -Infinity}', '{"a": [1, NaN]}'],
)
def test_nan_and_infinity_are_refused(body: str) -> None:
    with pytest.raises(InvalidRequest):
        json_body(text_event(body))


@pytest.mark.parametrize("body", ["[]", '[{"amount": 1}]', "1", '"text"', "null", "true"])
def test_a_body_that_is_not_an_object_is_refused(body: str) -> None:
    with pytest.raises(InvalidRequest, match="object"):
        json_body(text_event(body))


@pytest.mark.parametrize("raw", [b'{"name": "\xff"}', b'{"name": "caf\xe9"}', b"\xc3\x28"])
def test_invalid_utf8_is_an_invalid_request(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        json_body(binary_event(raw))


@pytest.mark.parametrize("body", [None, "", "   ", "\n\t"])
def test_an_empty_body_is_refused_when_required(body: str | None) -> None:
    with pytest.raises(InvalidRequest):
        json_body(text_event(body))


@pytest.mark.parametrize("body", [None, "", "  "])
def test_an_empty_body_is_an_empty_object_when_optional(body: str | None) -> None:
    assert json_body(text_event(body), required=False) == {}


def test_an_optional_body_is_still_parsed_strictly() -> None:
    with pytest.raises(InvalidRequest):
        json_body(text_event("[1]"), required=False)


def test_a_missing_body_key_counts_as_empty() -> None:
    with pytest.raises(InvalidRequest):
        json_body({})
    assert json_body({}, required=False) == {}


def test_a_base64_body_is_decoded() -> None:
    # Given a body API Gateway passed base64-encoded, with non-ASCII text in it
    event = binary_event('{"description": "café ☕", "amount": 5}'.encode())

    # Then
    assert json_body(event) == {"description": "café ☕", "amount": 5}


def test_a_base64_looking_text_body_is_not_decoded_without_the_flag() -> None:
    encoded = base64.b64encode(b'{"a": 1}').decode()

    with pytest.raises(InvalidRequest):
        json_body(text_event(encoded))


def padded_object(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    skeleton = b'{"p": ""}'
    return b'{"p": "' + b"x" * (size - len(skeleton)) + b'"}'


def test_a_body_of_exactly_the_limit_is_accepted() -> None:
    raw = padded_object(MAX_BODY_BYTES)
    assert len(raw) == MAX_BODY_BYTES

    assert json_body(text_event(raw.decode()))["p"] == "x" * (MAX_BODY_BYTES - 9)


def test_a_body_one_byte_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        json_body(text_event(padded_object(MAX_BODY_BYTES + 1).decode()))


def test_the_limit_counts_bytes_not_characters() -> None:
    # Given a body whose characters fit but whose UTF-8 bytes do not
    body = '{"p": "' + "é" * (MAX_BODY_BYTES // 2) + '"}'
    assert len(body) < MAX_BODY_BYTES < len(body.encode())

    with pytest.raises(PayloadTooLarge):
        json_body(text_event(body))


def test_the_limit_applies_to_the_decoded_base64_body() -> None:
    # Given an encoded body larger than the limit whose decoded form is exactly at it
    at_limit = binary_event(padded_object(MAX_BODY_BYTES))
    assert len(at_limit["body"]) > MAX_BODY_BYTES

    # Then it is accepted, and one byte more is not
    assert "p" in json_body(at_limit)
    with pytest.raises(PayloadTooLarge):
        json_body(binary_event(padded_object(MAX_BODY_BYTES + 1)))


def test_a_too_large_body_is_refused_even_when_optional() -> None:
    with pytest.raises(PayloadTooLarge):
        json_body(text_event(" " * (MAX_BODY_BYTES + 1)), required=False)


def test_deeply_nested_json_within_the_size_limit_is_an_invalid_request() -> None:
    # Given a small body (well under the limit) nested deeper than the parser can follow
    depth = 20_000
    body = '{"a": ' + "[" * depth + "]" * depth + "}"
    assert len(body.encode()) < MAX_BODY_BYTES

    # Then it is a client error (400), not an unhandled exception (500)
    with pytest.raises(InvalidRequest):
        json_body(text_event(body))


# -- parse(CreateIntentBody) ---------------------------------------------------------------------

VALID: dict[str, Any] = {
    "amount": 1_000,
    "currency": "USD",
    "customerId": "cus_123",
    "merchantId": "mer_456",
    "paymentMethod": "pm_card_visa",
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def without(name: str) -> dict[str, Any]:
    return {key: value for key, value in VALID.items() if key != name}


def test_a_minimal_body_parses_with_defaults() -> None:
    body = parse(CreateIntentBody, VALID)

    assert body.amount == 1_000
    assert body.currency == "USD"
    assert body.customerId == "cus_123"
    assert body.merchantId == "mer_456"
    assert body.paymentMethod == "pm_card_visa"
    assert body.captureMethod == "manual"
    assert body.locale == "en-US"
    assert body.receiptEmail is None
    assert body.description is None
    assert body.orderId is None


def test_a_full_body_keeps_every_value() -> None:
    body = parse(
        CreateIntentBody,
        with_(
            captureMethod="automatic",
            receiptEmail="ana@example.com",
            locale="es-MX",
            description="Order ord_123456, 2 items, call 555-0100",
            orderId="ord_123456",
        ),
    )

    assert body.captureMethod == "automatic"
    assert body.receiptEmail == "ana@example.com"
    assert body.locale == "es-MX"
    assert body.description == "Order ord_123456, 2 items, call 555-0100"
    assert body.orderId == "ord_123456"


def test_parse_works_on_the_output_of_json_body() -> None:
    data = json_body(text_event(json.dumps(with_(amount=2_500, currency="JPY"))))

    assert parse(CreateIntentBody, data).amount == 2_500


@pytest.mark.parametrize(
    "amount",
    [10.0, 1000.0, 10.5, True, False, "1000", "10", None, [1000], {"value": 1000}],
    ids=repr,
)
def test_amount_must_be_a_json_integer(amount: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(amount=amount))

    assert "amount" in caught.value.message


def test_a_float_amount_from_json_text_is_refused() -> None:
    # Given "10.0" on the wire, which json turns into a float
    data = json_body(
        text_event(
            '{"amount": 10.0, "currency": "USD", "customerId": "c", '
            '"merchantId": "m", "paymentMethod": "pm_card_visa"}'
        )
    )

    with pytest.raises(InvalidRequest, match="amount"):
        parse(CreateIntentBody, data)


@pytest.mark.parametrize("amount", [0, -1, -1_000, 100_000_000_000])
def test_amount_must_be_in_range(amount: int) -> None:
    with pytest.raises(InvalidRequest, match="amount"):
        parse(CreateIntentBody, with_(amount=amount))


@pytest.mark.parametrize("amount", [1, 99_999_999_999])
def test_amount_bounds_are_inclusive(amount: int) -> None:
    assert parse(CreateIntentBody, with_(amount=amount)).amount == amount


@pytest.mark.parametrize("currency", ["usd", "Usd", "US", "USDD", "U5D", "", " USD", "US$", 840, None])
def test_currency_must_be_three_upper_case_letters(currency: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(currency=currency))

    assert "currency" in caught.value.message


@pytest.mark.parametrize("extra", ["amountMinor", "customer_id", "metadata", "Amount"])
def test_unknown_fields_are_refused_and_named(extra: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, {**VALID, extra: "x"})

    assert extra in caught.value.message


@pytest.mark.parametrize("field", ["amount", "currency", "customerId", "paymentMethod"])
def test_missing_required_fields_are_named(field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, without(field))

    assert field in caught.value.message


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "ana@",
        "@example.com",
        "ana@example",
        "ana @example.com",
        "ana@exa mple.com",
        "a@b@c.com",
        "",
        "ana@example.com\n",
    ],
    ids=repr,
)
def test_bad_receipt_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(receiptEmail=email))

    assert "receiptEmail" in caught.value.message


@pytest.mark.parametrize(
    "description",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "card 4111 1111 1111 1111 exp 12/30",
        "amex 3782-822463-10005 please",
    ],
)
def test_a_description_holding_a_card_number_is_refused(description: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(description=description))

    assert "description" in caught.value.message
    # the number itself must never be echoed back
    assert "4242" not in caught.value.message
    assert "1111" not in caught.value.message


def test_a_description_over_500_characters_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="description"):
        parse(CreateIntentBody, with_(description="a" * 501))
    assert parse(CreateIntentBody, with_(description="a" * 500)).description == "a" * 500


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("captureMethod", "Manual"),
        ("captureMethod", "later"),
        ("locale", "fr-FR"),
        ("locale", "en_US"),
        ("customerId", ""),
        ("customerId", "cus 1"),
        ("customerId", "c" * 129),
        ("merchantId", "mer/1"),
        ("orderId", "ord#1"),
        ("paymentMethod", "card_visa"),
        ("paymentMethod", "pm_"),
        ("paymentMethod", "pm_card-visa"),
    ],
)
def test_other_field_formats_are_enforced(field: str, value: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(**{field: value}))

    assert field in caught.value.message


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_(amount=1.5, currency="usd"))

    assert "amount" in caught.value.message
    assert "currency" in caught.value.message


def test_authorize_body_accepts_an_empty_object() -> None:
    body = parse(AuthorizeBody, {})

    assert body.deviceFingerprint is None
    assert body.ipAddress is None


def test_authorize_body_accepts_its_fields() -> None:
    body = parse(AuthorizeBody, {"deviceFingerprint": "dev_abc", "ipAddress": "2001:db8::1"})

    assert (body.deviceFingerprint, body.ipAddress) == ("dev_abc", "2001:db8::1")


@pytest.mark.parametrize(
    "data",
    [{"amount": 1}, {"ipAddress": "not an ip"}, {"deviceFingerprint": 7}, {"ipAddress": "1" * 46}],
    ids=repr,
)
def test_authorize_body_is_strict_too(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(AuthorizeBody, data)

    assert next(iter(data)) in caught.value.message


# -- intent_body ---------------------------------------------------------------------------------

CREATED = datetime(2026, 11, 24, 12, 0, 0, 123_000, tzinfo=UTC)


def make_intent(**changes: Any) -> PaymentIntent:
    fields: dict[str, Any] = {
        "payment_intent_id": "pi_abc",
        "amount": Money.of(2_500, "EUR"),
        "customer_id": "cus_1",
        "merchant_id": "mer_1",
        "payment_method": "pm_card_visa",
        "capture_method": CaptureMethod.MANUAL,
        "created_at": CREATED,
        "updated_at": CREATED + timedelta(seconds=5),
        "expires_at": CREATED + timedelta(days=1),
    }
    fields.update(changes)
    return PaymentIntent(**fields)


def test_intent_body_of_a_new_intent() -> None:
    assert intent_body(make_intent()) == {
        "paymentIntentId": "pi_abc",
        "status": "PENDING",
        "amount": 2_500,
        "currency": "EUR",
        "amountAuthorized": 0,
        "amountCaptured": 0,
        "amountRefunded": 0,
        "customerId": "cus_1",
        "merchantId": "mer_1",
        "paymentMethod": "pm_card_visa",
        "captureMethod": "manual",
        "locale": "en-US",
        "receiptStatus": "NOT_SENT",
        "processor": "sandbox",
        "createdAt": "2026-11-24T12:00:00.123Z",
        "updatedAt": "2026-11-24T12:00:05.123Z",
        "expiresAt": "2026-11-25T12:00:00.123Z",
        "version": 1,
    }


def test_intent_body_includes_optional_fields_when_set() -> None:
    intent = make_intent(
        status=Status.DECLINED,
        capture_method=CaptureMethod.AUTOMATIC,
        receipt_email="ana@example.com",
        description="two mugs",
        order_id="ord_9",
        transaction_id="txn_abc_auth",
        decline_code="insufficient_funds",
        authorization_id="auth_internal",
        receipt_status=ReceiptStatus.SUPPRESSED,
        locale="es-MX",
        version=4,
    )

    body = intent_body(intent)

    assert body["receiptEmail"] == "ana@example.com"
    assert body["description"] == "two mugs"
    assert body["orderId"] == "ord_9"
    assert body["transactionId"] == "txn_abc_auth"
    assert body["declineCode"] == "insufficient_funds"
    assert body["status"] == "DECLINED"
    assert body["captureMethod"] == "automatic"
    assert body["receiptStatus"] == "SUPPRESSED"
    assert body["locale"] == "es-MX"
    assert body["version"] == 4
    assert "authorizationId" not in body


def test_intent_body_omits_unset_optional_fields() -> None:
    body = intent_body(make_intent())

    for name in ("receiptEmail", "description", "orderId", "transactionId", "declineCode"):
        assert name not in body
    assert None not in body.values()


def test_intent_body_uses_camel_case_only_and_is_json() -> None:
    body = intent_body(make_intent(description="x", order_id="o", transaction_id="t"))

    assert all("_" not in key and key[0].islower() for key in body)
    assert json.loads(json.dumps(body)) == body


def test_intent_body_times_are_utc_with_milliseconds() -> None:
    # Given an intent whose times are in another offset, with microseconds
    plus_two = timezone(timedelta(hours=2))
    intent = make_intent(
        created_at=datetime(2026, 1, 1, 14, 0, 0, 987_654, tzinfo=plus_two),
        updated_at=None,
    )

    body = intent_body(intent)

    assert body["createdAt"] == "2026-01-01T12:00:00.987Z"
    assert body["updatedAt"] == body["createdAt"]
