"""Receipts: which templates and locales there are, how a receipt's status moves, and what SES reports
back. The data a template is rendered with is made in `receipt_data` (the only module needing CLDR).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import quote, urlsplit

from payments.domain.intents import ReceiptStatus

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


# -- the link to the order's page -----------------------------------------------------------------

ORDER_ID_PLACEHOLDER: Final = "{orderId}"
# What RFC 3986 allows in a URL, and the placeholder's braces: no spaces, quotes or angle brackets.
_URL_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%{}]+")


def order_page_url_problem(template: str) -> str | None:
    """Why the stack's `OrderPageUrlTemplate` cannot make links, or None (an empty one makes none).
    Checked when a function starts, so a typo stops the receipts' function rather than mailing
    customers a broken link."""
    if not template:
        return None
    parts = urlsplit(template) if _URL_CHARACTERS.fullmatch(template) else None
    if parts is None or parts.scheme != "https" or not parts.netloc:
        return "must be an https:// URL without spaces, quotes or angle brackets"
    if ORDER_ID_PLACEHOLDER not in template:
        return f"must contain {ORDER_ID_PLACEHOLDER}, where the order id goes"
    if ORDER_ID_PLACEHOLDER in parts.netloc:
        return f"{ORDER_ID_PLACEHOLDER} belongs in the path or the query, not the host"
    if {"{", "}"} & set(template.replace(ORDER_ID_PLACEHOLDER, "")):
        return f"{ORDER_ID_PLACEHOLDER} is the only placeholder (names are case-sensitive)"
    return None


def order_page_url(template: str, order_id: str | None) -> str:
    """The link to the order's page, or "" (no link) without a template or an order id. The id is
    percent-encoded whole, so nothing in it reaches another page or query parameter; an id of dots
    alone gets no link, since browsers read `.` and `..` as steps up the path, encoded or not."""
    if not template or not order_id or not order_id.strip("."):
        return ""
    return template.replace(ORDER_ID_PLACEHOLDER, quote(order_id, safe=""))


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
