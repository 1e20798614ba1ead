"""Receipts end to end: localised payment and refund receipts, and SES's mailbox simulator coming back
through the configuration set's topic (bounce -> flagged -> suppressed, complaint, repeated bounces)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import Api, RunningStack

TIMES = "\N{MULTIPLICATION SIGN}"  # between a line's quantity and its description


def simulator(outcome: str) -> str:
    """A mailbox-simulator address of its own (SES honours `+label`), so tests never share one."""
    return f"{outcome}+{uuid.uuid4().hex[:12]}@simulator.amazonses.com"


def eventually(read: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {value!r}")
        time.sleep(0.1)


def checkout(api: Api, **fields: Any) -> str:
    """A checkout that succeeds (so its receipt is sent): the payment's id."""
    intent_id = str(api.create_intent(amount=4_250, **fields).body["paymentIntentId"])
    started = api.request("POST", "/v1/checkouts", {"paymentIntentId": intent_id})
    assert started.status == 202, started.body
    view = eventually(
        lambda: api.request("GET", f"/v1/checkouts/{started.body['trackingId']}").body,
        lambda body: body["status"] in {"SUCCEEDED", "FAILED"},
        timeout=40,
    )
    assert view["status"] == "SUCCEEDED", view
    return intent_id


def emails_to(api: Api, address: str) -> list[dict[str, Any]]:
    return [mail for mail in api.request("GET", "/_local/emails").body["data"] if mail["to"] == [address]]


def receipt_status(api: Api, intent_id: str, expected: str) -> str:
    status: str = eventually(
        lambda: api.get_intent(intent_id).body["receiptStatus"], lambda value: value == expected
    )
    return status


@pytest.mark.parametrize(
    ("locale", "currency", "subject", "lines"),
    [
        ("en-US", "USD", "Your receipt for $42.50", ["Total: $42.50", "Your card was charged this amount."]),
        ("es-MX", "MXN", "Su recibo por $42.50", ["Total: $42.50", "Se cargó este importe a su tarjeta."]),
        ("es-MX", "USD", "Su recibo por USD42.50", ["Total: USD42.50", "Fecha: "]),
    ],
)
def test_the_receipt_is_in_the_customers_language(
    api: Api, locale: str, currency: str, subject: str, lines: list[str]
) -> None:
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    intent_id = checkout(
        api,
        receiptEmail=address,
        locale=locale,
        currency=currency,
        captureMethod="automatic",
        orderId="ord-7",
    )
    assert receipt_status(api, intent_id, "SENT") == "SENT"
    [mail] = emails_to(api, address)
    assert (mail["template"], mail["locale"], mail["subject"]) == ("receipt-v3", locale, subject)
    for line in [*lines, "ord-7", intent_id]:
        assert line in mail["text"], mail["text"]


@pytest.mark.parametrize(
    ("locale", "currency", "greeting", "link"),
    [
        ("en-US", "USD", "Hello Ana María,", "See your order: "),
        ("es-MX", "MXN", "Hola, Ana María:", "Consulte su pedido: "),
    ],
)
def test_the_receipt_greets_the_customer_lists_the_order_and_links_to_it(
    api: Api, locale: str, currency: str, greeting: str, link: str
) -> None:
    # Given an intent with the customer's first name, its order's lines and the order's id
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    order_id = f"ord:{uuid.uuid4().hex[:8]}"
    intent_id = checkout(
        api,
        receiptEmail=address,
        locale=locale,
        currency=currency,
        captureMethod="automatic",
        orderId=order_id,
        customerFirstName="Ana María",
        lineItems=[
            {"description": "Flat white & oat milk", "quantity": 2, "amount": 900},
            {"description": "Croissant", "quantity": 1, "amount": 3_350},
        ],
    )
    # When its checkout has succeeded
    assert receipt_status(api, intent_id, "SENT") == "SENT"
    # Then the receipt greets her, lists each line and the total, and links to the order's page
    [mail] = emails_to(api, address)
    text, html = mail["text"], mail["html"]
    assert text.startswith(f"{greeting}\n"), text
    # ($ is the dollar in en-US and the peso in es-MX: each reads its own currency's symbol so)
    for line in (f"2 {TIMES} Flat white & oat milk: $9.00", f"1 {TIMES} Croissant: $33.50", "Total: $42.50"):
        assert line in text, text
    url = f"https://shop.example/orders/{order_id.replace(':', '%3A')}?from=receipt&v=3"
    assert f"{link}{url}" in text, text
    assert f'href="{url.replace("&", "&amp;")}"' in html, html
    assert "Flat white &amp; oat milk" in html, html
    assert order_id in text


def test_a_receipt_without_a_name_or_an_order_greets_plainly_and_links_nowhere(api: Api) -> None:
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    checkout(api, receiptEmail=address, locale="es-MX")
    [mail] = emails_to(api, address)
    assert mail["text"].startswith("Hola:\n"), mail["text"]
    assert "https://" not in mail["text"] + mail["html"]
    assert TIMES not in mail["text"]


def test_a_manual_capture_receipt_says_the_charge_comes_at_shipping(api: Api) -> None:
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    checkout(api, receiptEmail=address, captureMethod="manual")
    [mail] = emails_to(api, address)
    assert "you are charged when your order ships" in mail["text"]


def test_each_refund_gets_one_receipt_with_its_count_pluralised(api: Api, stack: RunningStack) -> None:
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    intent_id = api.captured(3_000, receiptEmail=address, locale="es-MX", currency="MXN")
    for amount in (500, 700):
        reply = api.request("POST", "/v1/refunds", {"paymentIntentId": intent_id, "amount": amount})
        assert reply.status == 201, reply.body
    api.wait_for_event(intent_id, "REFUNDED")
    refunds = eventually(lambda: emails_to(api, address), lambda mails: len(mails) == 2)
    # SNS delivers at least once: the same REFUNDED event again sends nothing more.
    [logged] = [
        event
        for event in api.request("GET", f"/v1/events?paymentIntentId={intent_id}").body["data"]
        if event["eventType"] == "REFUNDED" and event["eventId"].endswith("_1")
    ]
    sns = stack.aws("sns")
    topic = next(
        t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith("payment-events-local")
    )
    sns.publish(
        TopicArn=topic,
        Message=json.dumps(logged),
        MessageAttributes={"eventType": {"DataType": "String", "StringValue": "REFUNDED"}},
    )
    api.quiet()
    assert len(emails_to(api, address)) == 2
    by_subject = sorted((mail["subject"], mail["text"]) for mail in refunds)
    assert [subject for subject, _ in by_subject] == ["Su reembolso de $5.00", "Su reembolso de $7.00"]
    assert "Es el primer reembolso de este pago." in by_subject[0][1]
    assert "Este pago lleva 2 reembolsos." in by_subject[1][1]
    assert "10 días hábiles" in by_subject[1][1]


def test_a_bounce_flags_the_receipt_and_suppresses_the_address(api: Api, stack: RunningStack) -> None:
    address = simulator("bounce")
    first = checkout(api, receiptEmail=address)
    assert receipt_status(api, first, "BOUNCED") == "BOUNCED"
    shown = stack.cli("suppressions", "show", address)
    assert "suppressed; 1 bounce(s), 0 complaint(s)" in shown.stdout, shown

    later = checkout(api, receiptEmail=address)
    assert receipt_status(api, later, "SUPPRESSED") == "SUPPRESSED"
    assert len(emails_to(api, address)) == 1  # the later receipt was never sent


def test_a_complaint_flags_the_receipt_and_suppresses_the_address(api: Api, stack: RunningStack) -> None:
    address = simulator("complaint")
    first = checkout(api, receiptEmail=address, locale="es-MX")
    assert receipt_status(api, first, "COMPLAINED") == "COMPLAINED"
    assert "0 bounce(s), 1 complaint(s)" in stack.cli("suppressions", "show", address).stdout

    later = checkout(api, receiptEmail=address)
    assert receipt_status(api, later, "SUPPRESSED") == "SUPPRESSED"
    assert len(emails_to(api, address)) == 1


def test_a_delivered_receipt_stays_sent(api: Api) -> None:
    address = simulator("success")
    intent_id = checkout(api, receiptEmail=address)
    assert receipt_status(api, intent_id, "SENT") == "SENT"
    api.quiet()
    assert api.get_intent(intent_id).body["receiptStatus"] == "SENT"


def test_the_third_bounce_for_one_address_tells_customer_success(api: Api, stack: RunningStack) -> None:
    address = simulator("bounce")
    escalations: Callable[[], list[Any]] = lambda: [  # noqa: E731
        note for note in api.request("GET", "/_local/notifications").body["data"] if address in note["text"]
    ]
    for bounce in (1, 2, 3):
        intent_id = checkout(api, receiptEmail=address)
        assert receipt_status(api, intent_id, "BOUNCED") == "BOUNCED"
        if bounce < 3:
            api.quiet()
            assert escalations() == [], f"escalated after bounce {bounce}"
            # The customer says the address works now; an operator lifts the suppression.
            lifted = stack.cli("suppressions", "lift", address)
            assert lifted.returncode == 0, lifted
            assert "receipts will be sent again" in lifted.stdout
    [note] = eventually(escalations, lambda notes: len(notes) == 1)
    assert note["text"] == f":email: receipts to {address} bounced 3 times"
    assert intent_id in note["blocks"][0]["text"]["text"]
    assert "3 bounce(s)" in stack.cli("suppressions", "show", address).stdout
    # Lifting an address that is not suppressed says so.
    stack.cli("suppressions", "lift", address)
    assert stack.cli("suppressions", "lift", address).returncode == 1
