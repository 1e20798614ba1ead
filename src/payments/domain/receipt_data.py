"""The data a receipt template is rendered with, in the recipient's locale.

Amounts, dates and plural forms follow CLDR (Babel), so `es-MX` reads "USD1,234.50" and "2 reembolsos"
where `en-US` reads "$1,234.50" and "2 refunds". The templates themselves are files
(`payments/email_templates/<template>/<locale>/`), rendered by SES. Babel is imported here alone, so
only the functions that send receipts carry it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from html import escape

from payments.domain.errors import InvalidRequest
from payments.domain.intents import CaptureMethod, LineItem, PaymentIntent, Transaction
from payments.domain.money import Money
from payments.domain.receipts import LOCALES, REFUND_ARRIVAL_BUSINESS_DAYS, order_page_url


def _babel_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidRequest(f"no receipt templates for locale {locale!r}; have {', '.join(LOCALES)}")
    return locale.replace("-", "_")


def format_money(money: Money, locale: str) -> str:
    from babel.numbers import format_currency  # noqa: PLC0415 (only receipts pay for CLDR's data)

    major = Decimal(money.amount).scaleb(-money.currency.exponent)
    return str(format_currency(major, money.currency.code, locale=_babel_locale(locale)))


def format_day(at: datetime, locale: str) -> str:
    from babel.dates import format_date  # noqa: PLC0415

    return str(format_date(at.date(), format="long", locale=_babel_locale(locale)))


def format_count(count: int, locale: str) -> str:
    from babel.numbers import format_decimal  # noqa: PLC0415

    return str(format_decimal(count, locale=_babel_locale(locale)))


def is_singular(count: int, locale: str) -> bool:
    """CLDR's "one" category: which of a template's two phrasings a count takes in this locale."""
    from babel import Locale  # noqa: PLC0415

    return bool(Locale.parse(_babel_locale(locale)).plural_form(count) == "one")


def _line_data(line: LineItem, locale: str) -> dict[str, str]:
    description = line.description.strip()
    return {
        "description": description,
        "descriptionHtml": escape(description),
        "quantity": format_count(line.quantity, locale),
        "amount": format_money(line.amount, locale),
    }


def payment_receipt_data(
    intent: PaymentIntent, *, at: datetime, order_page_url_template: str = ""
) -> dict[str, object]:
    """receipt-v3's data. SES puts values into the HTML part as they are, so text a person typed goes
    twice: as typed for the subject and text part, and HTML-escaped (`...Html`) for the HTML part. The
    other values are ours (formatted amounts and dates, identifiers, a checked URL) and hold no markup.

    Values the previous release did not send are only read under an `{{#if}}` in the templates: SES
    refuses to render a variable that is missing, and during a canary the previous code sends to the
    new templates."""
    locale = intent.locale
    first_name = (intent.customer_first_name or "").strip()
    description = intent.description or ""
    receipt_url = order_page_url(order_page_url_template, intent.order_id)
    return {
        "paymentIntentId": intent.payment_intent_id,
        "orderId": intent.order_id or intent.payment_intent_id,
        "amount": format_money(intent.amount, locale),  # the total (the name receipt-v3 always had)
        "date": format_day(at, locale),
        "description": description,
        "descriptionHtml": escape(description),
        "chargedOnShipment": intent.capture_method is CaptureMethod.MANUAL,
        "firstName": first_name,
        "firstNameHtml": escape(first_name),
        "lineItems": [_line_data(line, locale) for line in intent.line_items],
        "receiptUrl": receipt_url,
        "receiptUrlHtml": escape(receipt_url),
    }


def refund_number(refund_id: str) -> int:
    """`re_<payment>_<n>` -> n: which refund of its payment this was."""
    return int(refund_id.rsplit("_", 1)[1])


def refund_receipt_data(intent: PaymentIntent, refund: Transaction) -> dict[str, object]:
    locale = intent.locale
    count = refund_number(refund.transaction_id)
    return {
        "paymentIntentId": intent.payment_intent_id,
        "refundId": refund.transaction_id,
        "orderId": intent.order_id or intent.payment_intent_id,
        "refundAmount": format_money(refund.amount, locale),
        "paymentAmount": format_money(Money(intent.amount_captured, intent.amount.currency), locale),
        "refundCount": format_count(count, locale),
        "firstRefund": count == 1,
        "arrivalDays": format_count(REFUND_ARRIVAL_BUSINESS_DAYS, locale),
        "oneDay": is_singular(REFUND_ARRIVAL_BUSINESS_DAYS, locale),
    }
