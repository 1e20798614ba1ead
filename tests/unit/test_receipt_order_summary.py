"""The order summary a payment receipt shows: the customer's first name and the line items as the
intent is created with them (validated, stored, returned), and the receipt that greets, lists,
totals and links to the order page in each locale."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

import pytest

from payments.adapters.dynamodb_items import intent_from_item, intent_to_item
from payments.domain.errors import InvalidRequest
from payments.domain.intents import LineItem, PaymentIntent
from payments.domain.money import Money
from payments.domain.receipt_data import payment_receipt_data
from payments.domain.receipts import order_page_url, order_page_url_problem
from payments.functions import create_intent, http
from payments.functions.http import parse
from payments.functions.schemas import MAX_LINE_ITEMS, CreateIntentBody, intent_body
from payments.service.receipts import send_payment_receipt
from payments.settings import Settings, SettingsError
from tests.unit.fakes import FakeClock, FakeIntentRepository, FakeMailer, FakeSuppressionList
from tests.unit.rendering import render, template

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TIMES = "\N{MULTIPLICATION SIGN}"  # between a line's quantity and its description
ORDER_PAGE = "https://shop.example/orders/{orderId}?from=receipt&v=3"
BODY = {"amount": 1_400, "currency": "USD", "customerId": "cus_1", "paymentMethod": "pm_card_visa"}
LINES = [
    {"description": "Flat white", "quantity": 2, "amount": 900},
    {"description": "Croissant", "quantity": 1, "amount": 500},
]

# -- the request body ------------------------------------------------------------------------------


def with_lines(*lines: dict[str, Any]) -> dict[str, Any]:
    return {**BODY, "lineItems": list(lines)}


def line(**changes: Any) -> dict[str, Any]:
    return {"description": "Flat white", "quantity": 1, "amount": 1_400, **changes}


def test_a_body_with_a_first_name_and_lines_parses() -> None:
    body = parse(CreateIntentBody, {**BODY, "customerFirstName": "Ana", "lineItems": LINES})
    assert body.customerFirstName == "Ana"
    assert [(item.description, item.quantity, item.amount) for item in body.lineItems or []] == [
        ("Flat white", 2, 900),
        ("Croissant", 1, 500),
    ]
    assert parse(CreateIntentBody, BODY).lineItems is None


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"amount": 14.0}, "lineItems.0.amount"),  # a float, even a whole one
        ({"amount": "1400"}, "lineItems.0.amount"),
        ({"amount": True}, "lineItems.0.amount"),
        ({"amount": -1}, "lineItems.0.amount"),
        ({"amount": 100_000_000_000}, "lineItems.0.amount"),
        ({"quantity": 1.0}, "lineItems.0.quantity"),
        ({"quantity": "2"}, "lineItems.0.quantity"),
        ({"quantity": 0}, "lineItems.0.quantity"),
        ({"quantity": 1_000_000}, "lineItems.0.quantity"),
        ({"description": ""}, "lineItems.0.description"),
        ({"description": "   "}, "lineItems.0.description"),
        ({"description": "Flat\nwhite"}, "lineItems.0.description"),
        ({"description": "a" * 201}, "lineItems.0.description"),
        ({"description": None}, "lineItems.0.description"),
        ({"description": "gift card 4242 4242 4242 4242"}, "lineItems.0.description"),
        ({"unitPrice": 700}, "lineItems.0.unitPrice"),
    ],
    ids=repr,
)
def test_a_bad_line_is_refused_and_named(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreateIntentBody, with_lines(line(**changes)))
    assert where in caught.value.message
    assert "4242" not in caught.value.message  # a card number is never echoed back


def test_a_line_needs_all_three_fields() -> None:
    for missing in ("description", "quantity", "amount"):
        with pytest.raises(InvalidRequest, match=f"lineItems.0.{missing}"):
            parse(CreateIntentBody, with_lines({k: v for k, v in line().items() if k != missing}))


def test_between_one_and_a_hundred_lines() -> None:
    many = [line(amount=14)] * MAX_LINE_ITEMS
    assert len(parse(CreateIntentBody, with_lines(*many)).lineItems or []) == 100
    with pytest.raises(InvalidRequest, match="lineItems"):
        parse(CreateIntentBody, with_lines(*many, line(amount=0)))
    with pytest.raises(InvalidRequest, match="lineItems"):
        parse(CreateIntentBody, with_lines())
    with pytest.raises(InvalidRequest, match="lineItems"):
        parse(CreateIntentBody, {**BODY, "lineItems": {"description": "x", "quantity": 1, "amount": 1}})


@pytest.mark.parametrize(
    "name",
    ["", "  ", "Ana\nMaría", "Ana\tMaría", "\x07", "a" * 101, "4111 1111 1111 1111", 42, ["Ana"]],
    ids=repr,
)
def test_a_bad_first_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidRequest, match="customerFirstName"):
        parse(CreateIntentBody, {**BODY, "customerFirstName": name})


@pytest.mark.parametrize("name", ["Ana", "José María", "O'Brien & Co <b>", "a" * 100, "李"])
def test_a_first_name_may_be_any_one_line_of_text(name: str) -> None:
    assert parse(CreateIntentBody, {**BODY, "customerFirstName": name}).customerFirstName == name


# -- the intent --------------------------------------------------------------------------------------


def intent(
    *,
    locale: str = "en-US",
    currency: str = "USD",
    lines: tuple[LineItem, ...] = (),
    first_name: str | None = None,
    order_id: str | None = None,
    amount: int = 1_400,
    email: str | None = "ana@example.com",
) -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(amount, currency),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=AT,
        time_to_live=timedelta(hours=1),
        locale=locale,
        receipt_email=email,
        customer_first_name=first_name,
        line_items=lines,
        order_id=order_id,
    )


def coffee_lines(currency: str = "USD") -> tuple[LineItem, ...]:
    return (
        LineItem("Flat white", 2, Money.of(900, currency)),
        LineItem("Croissant", 1, Money.of(500, currency)),
    )


def test_the_lines_must_add_up_to_the_amount() -> None:
    assert intent(lines=coffee_lines()).line_items == coffee_lines()
    with pytest.raises(InvalidRequest, match="add up to 1400, not the payment's amount 1500"):
        intent(lines=coffee_lines(), amount=1_500)
    with pytest.raises(InvalidRequest, match="must be in USD"):
        intent(lines=coffee_lines("EUR"))


def test_a_line_is_whole_units_of_something_at_a_price_of_zero_or_more() -> None:
    with pytest.raises(InvalidRequest, match="quantity"):
        LineItem("Flat white", 0, Money.of(900, "USD"))
    with pytest.raises(InvalidRequest, match="quantity"):
        LineItem("Flat white", 1.5, Money.of(900, "USD"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="negative"):
        LineItem("Discount", 1, Money.of(-100, "USD"))
    with pytest.raises(InvalidRequest, match="integer"):
        LineItem("Flat white", 1, Money.of(9.0, "USD"))
    free = LineItem("Gift wrap", 1, Money.of(0, "USD"))
    assert intent(lines=(*coffee_lines(), free)).line_items[-1] == free


def test_the_intent_body_carries_them_only_when_given() -> None:
    body = intent_body(intent(lines=coffee_lines(), first_name="Ana"))
    assert body["customerFirstName"] == "Ana"
    assert body["lineItems"] == [
        {"description": "Flat white", "quantity": 2, "amount": 900},
        {"description": "Croissant", "quantity": 1, "amount": 500},
    ]
    assert not {"customerFirstName", "lineItems"} & set(intent_body(intent()))


def test_the_stored_item_keeps_them_as_a_list_of_maps_and_nothing_when_absent() -> None:
    with_lines_ = intent(lines=coffee_lines("JPY"), currency="JPY", first_name="Ana")
    item = intent_to_item(with_lines_)
    assert item["customerFirstName"] == {"S": "Ana"}
    assert item["lineItems"] == {
        "L": [
            {"M": {"description": {"S": "Flat white"}, "quantity": {"N": "2"}, "amount": {"N": "900"}}},
            {"M": {"description": {"S": "Croissant"}, "quantity": {"N": "1"}, "amount": {"N": "500"}}},
        ]
    }
    assert intent_from_item(item) == with_lines_
    bare = intent()
    assert not {"customerFirstName", "lineItems"} & set(intent_to_item(bare))
    assert intent_from_item(intent_to_item(bare)) == bare


# -- through the handler ------------------------------------------------------------------------------

PLATFORM = {"authorizer": {"lambda": {"scope": "platform"}}}


@pytest.fixture
def created() -> FakeIntentRepository:
    return FakeIntentRepository()


@pytest.fixture
def post(created: FakeIntentRepository) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    settings = Settings("intents", "transactions", "idempotency")
    # The real `Idempotency-Key` handling, over a client that fails any AWS call: these requests
    # carry no key, so it is never touched.
    requests = http.IdempotentRequests(
        table_name="idempotency-test", client=Mock(spec=[]), expires_after_seconds=86_400
    )
    dependencies = create_intent.Dependencies(
        intents=created, time_to_live=timedelta(seconds=settings.intent_ttl_seconds), clock=FakeClock()
    )
    handler = create_intent.handler.with_dependencies(http.Routed(dependencies, requests))

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        event = {
            "requestContext": PLATFORM,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(body),
        }
        response = handler(event, None)
        return response["statusCode"], json.loads(response["body"])

    return post


def test_an_intent_is_created_with_its_first_name_and_lines(
    created: FakeIntentRepository, post: Callable[[dict[str, Any]], tuple[int, Any]]
) -> None:
    status, body = post({**BODY, "merchantId": "mer_1", "customerFirstName": "Ana", "lineItems": LINES})
    assert status == 201, body
    assert (body["customerFirstName"], body["lineItems"]) == ("Ana", LINES)
    stored = created.get(body["paymentIntentId"])
    assert stored.line_items == coffee_lines()


def test_lines_that_do_not_add_up_are_refused_and_nothing_is_written(
    created: FakeIntentRepository, post: Callable[[dict[str, Any]], tuple[int, Any]]
) -> None:
    status, body = post({**BODY, "merchantId": "mer_1", "lineItems": [*LINES, line(amount=1)]})
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert "add up to 1401" in body["error"]["message"]
    assert created.writes == 0


# -- the order page link ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template_", "order_id", "url"),
    [
        (ORDER_PAGE, "ord_7", "https://shop.example/orders/ord_7?from=receipt&v=3"),
        ("https://shop.example/o/{orderId}", "a:b.c-d", "https://shop.example/o/a%3Ab.c-d"),
        (
            "https://shop.example/track?order={orderId}",
            "x/../y?z=1&w",
            "https://shop.example/track?order=x%2F..%2Fy%3Fz%3D1%26w",
        ),
        ("https://shop.example/o/{orderId}", "..", ""),  # browsers would climb the path
        ("https://shop.example/o/{orderId}", None, ""),
        ("https://shop.example/o/{orderId}", "", ""),
        ("", "ord_7", ""),
    ],
)
def test_the_order_page_link(template_: str, order_id: str | None, url: str) -> None:
    assert order_page_url(template_, order_id) == url


@pytest.mark.parametrize(
    "template_",
    [
        "http://shop.example/orders/{orderId}",
        "https://shop.example/orders/",
        "https://shop.example/orders/{orderid}",
        "https://shop.example/orders/{orderId}/{lineId}",
        "https://{orderId}.shop.example/",
        "https:///orders/{orderId}",
        "https://shop.example/orders/{orderId} ",
        'https://shop.example/orders/{orderId}"onclick="x',
        "https://shop.example/<b>/{orderId}",
        "shop.example/orders/{orderId}",
        "javascript:alert(1)//{orderId}",
    ],
)
def test_an_order_page_template_that_cannot_make_links_stops_the_function(template_: str) -> None:
    assert order_page_url_problem(template_) is not None
    with pytest.raises(SettingsError, match="ORDER_PAGE_URL_TEMPLATE"):
        Settings.from_env({**REQUIRED_ENV, "ORDER_PAGE_URL_TEMPLATE": template_})


REQUIRED_ENV = {"INTENTS_TABLE": "i", "TRANSACTIONS_TABLE": "t", "IDEMPOTENCY_TABLE": "d"}
GOOD_TEMPLATES = [
    "",
    ORDER_PAGE,
    "https://shop.example/o/{orderId}",
    "https://shop.example:8443/a/b?order={orderId}#top",
    "https://shop.example/#/orders/{orderId}",
]


@pytest.mark.parametrize("template_", GOOD_TEMPLATES)
def test_an_order_page_template_is_read_from_the_environment(template_: str) -> None:
    settings = Settings.from_env({**REQUIRED_ENV, "ORDER_PAGE_URL_TEMPLATE": template_})
    assert settings.order_page_url_template == template_


def test_the_stack_parameter_refuses_what_the_function_would(application_template: dict[str, Any]) -> None:
    """CloudFormation checks `OrderPageUrlTemplate` before the stack changes; the function checks it
    again at start (the local stack does not apply AllowedPattern)."""
    parameter = application_template["Parameters"]["OrderPageUrlTemplate"]
    assert parameter["Default"] == ""
    allowed = re.compile(parameter["AllowedPattern"])
    for good in GOOD_TEMPLATES:
        assert allowed.fullmatch(good), good
    for bad in (
        "http://shop.example/o/{orderId}",
        "https://shop.example/o/",
        "https://{orderId}.x/",
        "https://x/ {orderId}",
    ):
        assert not allowed.fullmatch(bad), bad
        assert order_page_url_problem(bad) is not None, bad
    receipt = application_template["Resources"]["CheckoutReceiptFunction"]["Properties"]
    assert receipt["Environment"]["Variables"]["ORDER_PAGE_URL_TEMPLATE"] == {"Ref": "OrderPageUrlTemplate"}


# -- the receipt as the customer reads it -------------------------------------------------------------


def rendered(paid: PaymentIntent, order_page: str = "") -> tuple[str, str, str]:
    """(subject, text, HTML) of receipt-v3 in the intent's locale."""
    data = payment_receipt_data(paid, at=AT, order_page_url_template=order_page)
    parts = template("receipt-v3", paid.locale)
    return render(parts.subject, data), render(parts.text, data), render(parts.html, data)


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        (
            "en-US",
            "USD",
            [
                "Hello Ana,",
                f"2 {TIMES} Flat white: $9.00\n1 {TIMES} Croissant: $5.00\nTotal: $14.00\n",
                "Order: ord_7",
                "See your order: https://shop.example/orders/ord_7?from=receipt&v=3",
            ],
        ),
        (
            "es-MX",
            "MXN",
            [
                "Hola, Ana:",
                f"2 {TIMES} Flat white: $9.00\n1 {TIMES} Croissant: $5.00\nTotal: $14.00\n",
                "Pedido: ord_7",
                "Consulte su pedido: https://shop.example/orders/ord_7?from=receipt&v=3",
            ],
        ),
        (
            "es-MX",
            "USD",
            ["Hola, Ana:", f"2 {TIMES} Flat white: USD9.00\n1 {TIMES} Croissant: USD5.00\nTotal: USD14.00\n"],
        ),
    ],
)
def test_the_receipt_greets_lists_totals_and_links(locale: str, currency: str, expected: list[str]) -> None:
    paid = intent(
        locale=locale, currency=currency, lines=coffee_lines(currency), first_name=" Ana ", order_id="ord_7"
    )
    subject, text, html = rendered(paid, ORDER_PAGE)
    for words in expected:
        assert words in text, text
    assert "ord_7" not in subject
    assert 'href="https://shop.example/orders/ord_7?from=receipt&amp;v=3"' in html
    assert f'lang="{locale}"' in html
    assert html.count("<tr><td>") >= 2 + 3  # two lines, then total, order and date


@pytest.mark.parametrize(("locale", "greeting"), [("en-US", "Hello,\n"), ("es-MX", "Hola:\n")])
def test_without_a_name_lines_or_an_order_the_receipt_is_as_before_with_a_neutral_greeting(
    locale: str, greeting: str
) -> None:
    paid = intent(locale=locale)
    _, text, html = rendered(paid, ORDER_PAGE)
    assert text.startswith(greeting)
    assert TIMES not in text
    assert "https://" not in text + html  # no order id, no link
    assert f"{paid.payment_intent_id}" in text  # the payment's id stands in as the order
    assert "<th" not in html


@pytest.mark.parametrize("locale", ["en-US", "es-MX"])
def test_an_order_id_without_a_page_template_gets_no_link(locale: str) -> None:
    _, text, html = rendered(intent(locale=locale, order_id="ord_7"), "")
    assert "ord_7" in text
    assert "https://" not in text + html


def test_the_order_id_is_url_encoded_into_the_link() -> None:
    _, text, html = rendered(intent(order_id="a:b"), "https://shop.example/o/{orderId}")
    assert "https://shop.example/o/a%3Ab" in text
    assert 'href="https://shop.example/o/a%3Ab"' in html


def test_what_a_person_typed_is_markup_in_no_part_of_the_receipt() -> None:
    paid = intent(
        lines=(LineItem("<img src=x onerror=alert(1)> & co", 1, Money.of(1_400, "USD")),),
        first_name='<a href="https://evil.example">Ana</a>',
    )
    _, text, html = rendered(paid)
    assert "<img" not in html
    assert "<a href" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in html
    assert "Hello &lt;a href=&quot;https://evil.example&quot;&gt;Ana&lt;/a&gt;," in html
    # The text part is plain text: it shows what was typed, unescaped.
    assert f"1 {TIMES} <img src=x onerror=alert(1)> & co: $14.00" in text
    assert 'Hello <a href="https://evil.example">Ana</a>,' in text


def test_quantities_and_amounts_follow_the_locale() -> None:
    lines = (LineItem("Tornillo", 1_500, Money.of(1_234_567, "MXN")),)
    _, text, _ = rendered(intent(locale="en-US", currency="MXN", amount=1_234_567, lines=lines))
    assert f"1,500 {TIMES} Tornillo: MX$12,345.67" in text
    _, text, _ = rendered(
        intent(
            locale="es-MX", currency="JPY", amount=1_500, lines=(LineItem("Té", 3, Money.of(1_500, "JPY")),)
        )
    )
    assert f"3 {TIMES} Té: JPY1,500" in text


def test_the_checkout_receipt_links_to_the_order_page_it_is_given() -> None:
    repo, mailer = FakeIntentRepository(), FakeMailer()
    paid = intent(lines=coffee_lines(), first_name="Ana", order_id="ord_7")
    repo.add(paid)
    result = send_payment_receipt(
        paid.payment_intent_id,
        intents=repo,
        mailer=mailer,
        suppressions=FakeSuppressionList(),
        clock=FakeClock(),
        order_page_url_template=ORDER_PAGE,
    )
    assert result["sent"] is True
    [sent] = mailer.sent
    data: Any = sent["data"]
    assert data["receiptUrl"] == "https://shop.example/orders/ord_7?from=receipt&v=3"
    assert (data["firstName"], [item["description"] for item in data["lineItems"]]) == (
        "Ana",
        ["Flat white", "Croissant"],
    )
