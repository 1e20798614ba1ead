"""Receipts: which template a message uses, the data it is rendered with, and what SES reports back.

Amounts, dates and plural forms follow the recipient's locale through CLDR (Babel), so `es-MX` reads
"USD1,234.50" and "2 reembolsos" where `en-US` reads "$1,234.50" and "2 refunds". The templates
themselves are files (`payments/email_templates/<template>/<locale>/`), rendered by SES.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from payments.domain.errors import InvalidRequest
from payments.domain.intents import CaptureMethod, PaymentIntent, ReceiptStatus, Transaction
from payments.domain.money import Money

PAYMENT_RECEIPT: Final = "receipt-v3"
REFUND_RECEIPT: Final = "refund-receipt-v1"
TEMPLATES: Final = (PAYMENT_RECEIPT, REFUND_RECEIPT)
LOCALES: Final = ("en-US", "es-MX")
REFUND_ARRIVAL_BUSINESS_DAYS: Final = 10  # what card networks commonly take; said in the refund receipt
ESCALATE_AT_BOUNCES: Final = 3  # the bounce that tells customer success to reach the customer otherwise

# Receipt status only moves forward: a late "sent" never hides a bounce that already came back.
_RANK: Final = {
    ReceiptStatus.NOT_SENT: 0,
    ReceiptStatus.SENT: 1,
    ReceiptStatus.SUPPRESSED: 2,
    ReceiptStatus.BOUNCED: 3,
    ReceiptStatus.COMPLAINED: 4,
}


def supersedes(new: ReceiptStatus, current: ReceiptStatus) -> bool:
    return _RANK[new] > _RANK[current]


def normalise_address(address: str) -> str:
    """One suppression entry per mailbox, however the address was capitalised."""
    return address.strip().lower()


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


def payment_receipt_data(intent: PaymentIntent, *, at: datetime) -> dict[str, object]:
    locale = intent.locale
    return {
        "paymentIntentId": intent.payment_intent_id,
        "orderId": intent.order_id or intent.payment_intent_id,
        "amount": format_money(intent.amount, locale),
        "date": format_day(at, locale),
        "description": intent.description or "",
        "chargedOnShipment": intent.capture_method is CaptureMethod.MANUAL,
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


# -- what SES reports back ------------------------------------------------------------------------


class FeedbackKind(StrEnum):
    BOUNCE = "Bounce"
    COMPLAINT = "Complaint"
    OTHER = "Other"  # deliveries, opens, rejects...: nothing to flag


@dataclass(frozen=True, slots=True)
class Feedback:
    kind: FeedbackKind
    message_id: str
    recipients: tuple[str, ...]
    permanent: bool  # a hard bounce (or any complaint): the address must not be mailed again
    payment_intent_id: str | None  # from the message's tags
    detail: str  # bounce type/subtype or complaint feedback type, for people

    @property
    def receipt_status(self) -> ReceiptStatus:
        return ReceiptStatus.COMPLAINED if self.kind is FeedbackKind.COMPLAINT else ReceiptStatus.BOUNCED


def _tag(mail: dict[str, Any], name: str) -> str | None:
    values = mail.get("tags", {}).get(name) or []
    return str(values[0]) if values else None


def parse_feedback(message: dict[str, Any]) -> Feedback:
    """An SES event (configuration-set event publishing: `eventType`), or an identity notification
    (`notificationType`, which carries no tags) as SNS delivers it."""
    kind_name = message.get("eventType") or message.get("notificationType") or ""
    mail = message.get("mail") or {}
    message_id = str(mail.get("messageId", ""))
    intent_id = _tag(mail, "paymentIntentId")
    if kind_name == FeedbackKind.BOUNCE:
        bounce = message.get("bounce") or {}
        recipients = tuple(r["emailAddress"] for r in bounce.get("bouncedRecipients", []))
        bounce_type = str(bounce.get("bounceType", ""))
        return Feedback(
            FeedbackKind.BOUNCE,
            message_id,
            recipients,
            permanent=bounce_type == "Permanent",
            payment_intent_id=intent_id,
            detail=f"{bounce_type}/{bounce.get('bounceSubType', '')}",
        )
    if kind_name == FeedbackKind.COMPLAINT:
        complaint = message.get("complaint") or {}
        recipients = tuple(r["emailAddress"] for r in complaint.get("complainedRecipients", []))
        return Feedback(
            FeedbackKind.COMPLAINT,
            message_id,
            recipients,
            permanent=True,
            payment_intent_id=intent_id,
            detail=str(complaint.get("complaintFeedbackType", "complaint")),
        )
    return Feedback(
        FeedbackKind.OTHER, message_id, (), permanent=False, payment_intent_id=intent_id, detail=""
    )
