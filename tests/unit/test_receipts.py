"""Receipts: locale formatting and plurals, the template files, SES feedback, and the use cases on fakes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from payments.adapters.ses_templates import load_email_templates, templates_digest
from payments.domain.errors import InvalidRequest
from payments.domain.intents import CaptureMethod, LineItem, PaymentIntent, ReceiptStatus, refund_id_for
from payments.domain.money import Money
from payments.domain.receipt_data import (
    format_money,
    is_singular,
    payment_receipt_data,
    refund_receipt_data,
)
from payments.domain.receipts import (
    LOCALES,
    TEMPLATES,
    Feedback,
    FeedbackKind,
    parse_feedback,
    supersedes,
)
from payments.local.cfn_yaml import load_template
from payments.local.ses_shim import feedback_event, simulated_outcome
from payments.service.receipts import (
    record_feedback,
    send_payment_receipt,
    send_refund_receipt,
    wants_refund_receipt,
)
from tests.unit.fakes import (
    FakeAlerts,
    FakeClock,
    FakeIntentRepository,
    FakeMailer,
    FakeSuppressionList,
    another_writer_after_next_read,
)
from tests.unit.rendering import render

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


# -- formatting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123_450, "USD", "en-US", "$1,234.50"),
        (123_450, "USD", "es-MX", "USD1,234.50"),
        (123_450, "MXN", "es-MX", "$1,234.50"),
        (123_450, "MXN", "en-US", "MX$1,234.50"),
        (1_500, "JPY", "en-US", "¥1,500"),  # no minor units: the amount is whole yen
        (1_500, "JPY", "es-MX", "JPY1,500"),
        (1_234_567, "BHD", "en-US", "BHD1,234.567"),  # three decimals
        (5, "EUR", "es-MX", "EUR0.05"),
    ],
)
def test_amounts_are_formatted_for_the_locale_from_minor_units(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert format_money(Money.of(amount, currency), locale) == expected


@pytest.mark.parametrize(("count", "singular"), [(0, False), (1, True), (2, False), (10, False)])
@pytest.mark.parametrize("locale", LOCALES)
def test_plural_forms_follow_cldr(locale: str, count: int, singular: bool) -> None:
    assert is_singular(count, locale) is singular


def test_a_locale_without_templates_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="fr-FR"):
        format_money(Money.of(1, "EUR"), "fr-FR")


def _intent(locale: str = "en-US", email: str | None = "ana@example.com", **fields: Any) -> PaymentIntent:
    return PaymentIntent.create(
        amount=Money.of(4_250, "USD"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=AT,
        time_to_live=timedelta(hours=1),
        receipt_email=email,
        locale=locale,
        **fields,
    )


def test_payment_receipt_data_is_formatted_in_the_intents_locale() -> None:
    intent = _intent(
        "es-MX",
        order_id="ord-9",
        capture_method=CaptureMethod.AUTOMATIC,
        customer_first_name=" Ana ",
        line_items=(
            LineItem("Café de olla", 1_500, Money.of(4_000, "USD")),
            LineItem("Pan", 1, Money.of(250, "USD")),
        ),
    )
    assert payment_receipt_data(
        intent, at=AT, order_page_url_template="https://shop.example/o/{orderId}"
    ) == {
        "paymentIntentId": intent.payment_intent_id,
        "orderId": "ord-9",
        "amount": "USD42.50",
        "date": "24 de noviembre de 2026",
        "description": "",
        "descriptionHtml": "",
        "chargedOnShipment": False,
        "firstName": "Ana",
        "firstNameHtml": "Ana",
        "lineItems": [
            {
                "description": "Café de olla",
                "descriptionHtml": "Café de olla",
                "quantity": "1,500",
                "amount": "USD40.00",
            },
            {"description": "Pan", "descriptionHtml": "Pan", "quantity": "1", "amount": "USD2.50"},
        ],
        "receiptUrl": "https://shop.example/o/ord-9",
        "receiptUrlHtml": "https://shop.example/o/ord-9",
    }


def _captured_with_refunds(*amounts: int) -> PaymentIntent:
    intent = _intent()
    intent.authorize(authorization_id="auth_1", now=AT)
    intent.capture(amount=None, now=AT, gateway_reference="cap_1")
    for amount in amounts:
        intent.refund(amount=Money.of(amount, "USD"), now=AT, gateway_reference="ref")
    return intent


def test_refund_receipt_data_counts_this_refund_among_the_payments() -> None:
    intent = _captured_with_refunds(500, 700)
    first, second = (t for t in intent.new_transactions if t.transaction_id.startswith("re_"))
    data = refund_receipt_data(intent, first)
    assert (data["refundAmount"], data["refundCount"], data["firstRefund"]) == ("$5.00", "1", True)
    data = refund_receipt_data(intent, second)
    assert data["refundId"] == refund_id_for(intent.payment_intent_id, 2)
    assert (data["refundAmount"], data["paymentAmount"], data["refundCount"]) == ("$7.00", "$42.50", "2")
    assert (data["firstRefund"], data["arrivalDays"], data["oneDay"]) == (False, "10", False)


def test_receipt_status_only_moves_forward() -> None:
    assert supersedes(ReceiptStatus.SENT, ReceiptStatus.NOT_SENT)
    assert supersedes(ReceiptStatus.BOUNCED, ReceiptStatus.SENT)
    assert supersedes(ReceiptStatus.COMPLAINED, ReceiptStatus.BOUNCED)
    assert not supersedes(ReceiptStatus.SENT, ReceiptStatus.BOUNCED)  # a late "sent" hides nothing
    assert not supersedes(ReceiptStatus.SUPPRESSED, ReceiptStatus.COMPLAINED)
    assert not supersedes(ReceiptStatus.SENT, ReceiptStatus.SENT)


# -- the template files ----------------------------------------------------------------------------

_TAG = re.compile(r"{{\s*([#/]?)([A-Za-z]+)(?:\s+([A-Za-z]+))?\s*}}")
LINE = "lineItems"  # the one list a template iterates; inside `{{#each lineItems}}` names are a line's


def _names(text: str) -> tuple[set[str], set[str]]:
    """The data a template part reads: (top-level names, names read for each line item)."""
    top: set[str] = set()
    per_line: set[str] = set()
    scope = top
    for block, name, argument in _TAG.findall(text):
        if block == "#" and name == "each":
            assert argument == LINE, argument
            top.add(argument)
            scope = per_line
        elif block == "/" and name == "each":
            scope = top
        elif block == "#" and name == "if":
            scope.add(argument)
        elif block != "/" and name != "else":
            scope.add(name)
    return top, per_line


def _variables(text: str) -> set[str]:
    return _names(text)[0]


def _receipt_v3_data() -> dict[str, Any]:
    """receipt-v3's data for an intent with everything a receipt can show."""
    intent = _intent(
        order_id="ord-1",
        customer_first_name="Ana",
        line_items=(LineItem("Coffee", 2, Money.of(4_250, "USD")),),
    )
    return payment_receipt_data(intent, at=AT, order_page_url_template="https://shop.example/o/{orderId}")


def test_every_template_exists_in_every_locale() -> None:
    found = {(t.name, t.locale) for t in load_email_templates()}
    assert found == {(name, locale) for name in TEMPLATES for locale in LOCALES}


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_locale_uses_exactly_the_data_the_code_provides(name: str) -> None:
    intent = _captured_with_refunds(500)
    refund = next(t for t in intent.new_transactions if t.transaction_id.startswith("re_"))
    data: dict[str, Any] = _receipt_v3_data() if name == "receipt-v3" else refund_receipt_data(intent, refund)
    provided = set(data)
    per_line = set(data[LINE][0]) if LINE in data else set()
    for template in (t for t in load_email_templates() if t.name == name):
        for part in (template.subject, template.text, template.html):
            top, line = _names(part)
            assert top <= provided, (template.locale, top - provided)
            assert line <= per_line, (template.locale, line - per_line)
        used, used_per_line = _names(template.subject + template.text + template.html)
        assert used == provided - {"paymentIntentId"} or used == provided, (template.locale, provided - used)
        assert used_per_line == per_line, (template.locale, per_line - used_per_line)


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_html_part_reads_typed_text_only_escaped_and_the_text_part_only_as_typed(name: str) -> None:
    """SES puts values into the HTML part as they are: a `<` a customer typed would be markup. Each
    value with an escaped twin (`firstName` / `firstNameHtml`) is read in its part's form only."""
    for template in (t for t in load_email_templates() if t.name == name):
        html = set().union(*_names(template.html))
        plain = set().union(*_names(template.subject), *_names(template.text))
        escaped = {variable for variable in html | plain if variable.endswith("Html")}
        assert not html & {variable.removesuffix("Html") for variable in escaped}, template.locale
        assert not plain & escaped, template.locale


# What the receipt-v3 data held before the order summary: during a canary, the previous release's
# code sends exactly this to the new templates, and SES refuses to render a variable it lacks.
PREVIOUS_RECEIPT_V3_DATA = (
    "paymentIntentId",
    "orderId",
    "amount",
    "date",
    "description",
    "chargedOnShipment",
)


def test_receipt_v3_still_renders_with_the_data_the_previous_release_sends() -> None:
    full = _receipt_v3_data()
    previous = {key: full[key] for key in PREVIOUS_RECEIPT_V3_DATA}
    for template in (t for t in load_email_templates() if t.name == "receipt-v3"):
        for part in (template.subject, template.text, template.html):
            rendered = render(part, previous)  # raises for a variable read outside an {{#if}}
            assert "{{" not in rendered, template.locale


def test_the_stack_publishes_the_templates_it_ships() -> None:
    """The custom resource's digest is what makes CloudFormation republish changed templates."""
    template = load_template(ROOT / "template.yaml")
    properties = template["Resources"]["EmailTemplates"]["Properties"]
    assert str(properties["TemplatesDigest"]) == templates_digest(), (
        "a template file changed: set EmailTemplates.TemplatesDigest in template.yaml to "
        + templates_digest()
    )


def test_the_digest_changes_with_any_template_text() -> None:
    templates = load_email_templates()
    changed = [*templates[:-1], type(templates[-1])(**{**_fields(templates[-1]), "html": "<p>x</p>"})]
    assert templates_digest(changed) != templates_digest(templates)


def _fields(template: Any) -> dict[str, str]:
    return {name: getattr(template, name) for name in ("name", "locale", "subject", "text", "html")}


# -- SES feedback ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "outcome"),
    [
        ("bounce@simulator.amazonses.com", "Bounce"),
        ("Bounce+order-42@Simulator.AmazonSES.com", "Bounce"),
        ("complaint+x@simulator.amazonses.com", "Complaint"),
        ("success@simulator.amazonses.com", "Delivery"),
        ("ooto@simulator.amazonses.com", None),
        ("bounce@example.com", None),
        ("bouncer@simulator.amazonses.com", None),
    ],
)
def test_mailbox_simulator_addresses(address: str, outcome: str | None) -> None:
    assert simulated_outcome(address) == outcome


def test_the_simulators_events_parse_as_ses_writes_them() -> None:
    tags = {"paymentIntentId": ["pi_1"], "ses:configuration-set": ["receipts"]}
    bounce = parse_feedback(
        feedback_event("Bounce", recipient="b@x.com", message_id="m1", source="s@x.com", tags=tags)
    )
    assert bounce == Feedback(
        FeedbackKind.BOUNCE,
        "m1",
        ("b@x.com",),
        permanent=True,
        payment_intent_id="pi_1",
        detail="Permanent/General",
    )
    complaint = parse_feedback(
        feedback_event("Complaint", recipient="c@x.com", message_id="m2", source="s@x.com", tags=tags)
    )
    assert (complaint.kind, complaint.recipients, complaint.permanent) == (
        FeedbackKind.COMPLAINT,
        ("c@x.com",),
        True,
    )
    assert complaint.receipt_status is ReceiptStatus.COMPLAINED
    delivery = parse_feedback(
        feedback_event("Delivery", recipient="d@x.com", message_id="m3", source="s@x.com", tags=tags)
    )
    assert delivery.kind is FeedbackKind.OTHER


def test_identity_notifications_parse_too_without_tags() -> None:
    """SES's older notification format (`notificationType`), e.g. from an identity's bounce topic."""
    message = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Transient",
            "bounceSubType": "MailboxFull",
            "bouncedRecipients": [{"emailAddress": "full@x.com"}],
        },
        "mail": {"messageId": "m9"},
    }
    feedback = parse_feedback(message)
    assert (feedback.kind, feedback.permanent, feedback.payment_intent_id) == (
        FeedbackKind.BOUNCE,
        False,
        None,
    )
    assert feedback.detail == "Transient/MailboxFull"


# -- the use cases ---------------------------------------------------------------------------------


@pytest.fixture
def repo() -> FakeIntentRepository:
    return FakeIntentRepository()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def suppressions() -> FakeSuppressionList:
    return FakeSuppressionList()


def _send(repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList, pi: str) -> Any:
    return send_payment_receipt(pi, intents=repo, mailer=mailer, suppressions=suppressions, clock=FakeClock())


def test_the_receipt_is_sent_once_with_tags_that_come_back_with_feedback(
    repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList
) -> None:
    intent = _intent("es-MX")
    repo.add(intent)
    result = _send(repo, mailer, suppressions, intent.payment_intent_id)
    assert result == {"sent": True, "messageId": "msg-1", "receiptStatus": "SENT"}
    assert _send(repo, mailer, suppressions, intent.payment_intent_id) == {
        "sent": False,
        "receiptStatus": "SENT",
    }
    [sent] = mailer.sent
    assert (sent["template"], sent["to"], sent["locale"]) == ("receipt-v3", "ana@example.com", "es-MX")
    assert sent["tags"] == {"paymentIntentId": intent.payment_intent_id, "template": "receipt-v3"}


def test_no_receipt_without_an_address(
    repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList
) -> None:
    intent = _intent(email=None)
    repo.add(intent)
    assert _send(repo, mailer, suppressions, intent.payment_intent_id)["sent"] is False
    assert mailer.sent == []


def test_a_suppressed_address_is_not_mailed(
    repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList
) -> None:
    intent = _intent(email="Ana@Example.com ")
    repo.add(intent)
    suppressions.record("ana@example.com", _bounce("m0"), at="t")
    assert _send(repo, mailer, suppressions, intent.payment_intent_id) == {
        "sent": False,
        "receiptStatus": "SUPPRESSED",
    }
    assert mailer.sent == []
    assert repo.get(intent.payment_intent_id).receipt_status is ReceiptStatus.SUPPRESSED


def test_a_bounce_that_lands_before_sent_is_recorded_is_not_overwritten(
    repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList
) -> None:
    """SES may report a bounce before the sender records SENT: the sender's write then loses its
    version race, reads again, and leaves BOUNCED alone."""
    intent = _intent()
    repo.add(intent)
    another_writer_after_next_read(repo, lambda other: other.mark_receipt(ReceiptStatus.BOUNCED, now=AT))
    result = _send(repo, mailer, suppressions, intent.payment_intent_id)
    assert result["receiptStatus"] == "BOUNCED"
    assert repo.get(intent.payment_intent_id).receipt_status is ReceiptStatus.BOUNCED


def test_a_refund_receipt_for_a_refunded_event_only(
    repo: FakeIntentRepository, mailer: FakeMailer, suppressions: FakeSuppressionList
) -> None:
    intent = _captured_with_refunds(500)
    repo.add(intent)
    repo.save(intent)
    refund_id = refund_id_for(intent.payment_intent_id, 1)
    event = {"eventType": "REFUNDED", "eventId": refund_id, "paymentIntentId": intent.payment_intent_id}

    def send(body: dict[str, Any]) -> Any:
        return send_refund_receipt(
            body, intents=repo, mailer=mailer, suppressions=suppressions, clock=FakeClock()
        )

    assert send({**event, "eventType": "CAPTURED"})["sent"] is False
    assert send(event)["sent"] is True
    [sent] = mailer.sent
    assert sent["template"] == "refund-receipt-v1"
    assert sent["data"]["refundId"] == refund_id


def _bounce(
    message_id: str, *, permanent: bool = True, pi: str | None = None, to: str = "ana@example.com"
) -> Feedback:
    return Feedback(
        FeedbackKind.BOUNCE,
        message_id,
        (to,),
        permanent=permanent,
        payment_intent_id=pi,
        detail="Permanent/General" if permanent else "Transient/MailboxFull",
    )


def _record(
    repo: FakeIntentRepository, suppressions: FakeSuppressionList, alerts: FakeAlerts, fb: Feedback
) -> Any:
    return record_feedback(
        fb, intents=repo, suppressions=suppressions, customer_success=alerts, clock=FakeClock()
    )


def test_feedback_flags_the_intent_and_suppresses_the_address(
    repo: FakeIntentRepository, suppressions: FakeSuppressionList
) -> None:
    intent = _intent()
    repo.add(intent)
    alerts = FakeAlerts()
    result = _record(
        repo, suppressions, alerts, _bounce("m1", pi=intent.payment_intent_id, to="ANA@example.com")
    )
    assert result == {"recorded": 1, "receiptStatus": "BOUNCED", "escalated": []}
    assert suppressions.is_suppressed("ana@example.com")
    complaint = Feedback(
        FeedbackKind.COMPLAINT,
        "m1",
        ("ana@example.com",),
        permanent=True,
        payment_intent_id=intent.payment_intent_id,
        detail="abuse",
    )
    assert _record(repo, suppressions, alerts, complaint)["receiptStatus"] == "COMPLAINED"


def test_a_transient_bounce_is_counted_but_does_not_suppress(
    repo: FakeIntentRepository, suppressions: FakeSuppressionList
) -> None:
    _record(repo, suppressions, FakeAlerts(), _bounce("m1", permanent=False))
    entry = suppressions.get("ana@example.com")
    assert entry is not None
    assert (entry.bounces, entry.suppressed) == (1, False)


def test_the_third_bounce_escalates_once_however_often_it_is_delivered(
    repo: FakeIntentRepository, suppressions: FakeSuppressionList
) -> None:
    alerts = FakeAlerts()
    for message in ("m1", "m1", "m2", "m2", "m3", "m3", "m3"):
        _record(repo, suppressions, alerts, _bounce(message))
    [(subject, details)] = alerts.alerts
    assert subject == "receipts to ana@example.com bounced 3 times"
    assert details["bounces"] == 3
    _record(repo, suppressions, alerts, _bounce("m4"))
    assert len(alerts.alerts) == 1  # the fourth bounce is not a new escalation


def test_deliveries_change_nothing(repo: FakeIntentRepository, suppressions: FakeSuppressionList) -> None:
    other = Feedback(FeedbackKind.OTHER, "m1", (), permanent=False, payment_intent_id="pi_x", detail="")
    assert _record(repo, suppressions, FakeAlerts(), other) == {"recorded": 0}
    assert suppressions.entries == {}


def test_only_refunds_of_payments_with_an_address_want_a_receipt(repo: FakeIntentRepository) -> None:
    with_address, without = _intent(), _intent(email=None)
    repo.add(with_address)
    repo.add(without)
    refunded = {"eventType": "REFUNDED", "paymentIntentId": with_address.payment_intent_id}
    assert wants_refund_receipt(refunded, intents=repo)
    assert not wants_refund_receipt({**refunded, "eventType": "CAPTURED"}, intents=repo)
    assert not wants_refund_receipt({**refunded, "paymentIntentId": without.payment_intent_id}, intents=repo)
