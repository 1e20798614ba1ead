"""Receipts: which templates and locales there are, how a receipt's status moves, and what SES reports
back. The data a template is rendered with is made in `receipt_data` (the only module needing CLDR).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

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
