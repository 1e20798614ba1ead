"""Receipts: the payment receipt (checkout's SendReceipt), refund receipts, and SES's bounces and complaints.

A receipt is never sent to a suppressed address: the intent's `receiptStatus` says SUPPRESSED instead.
A bounce or complaint flags the receipt's intent, suppresses the address, and the third bounce for one
address tells customer success, who reach the customer another way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from payments.domain.errors import ConcurrentUpdate
from payments.domain.events import EventType
from payments.domain.intents import PaymentIntent, ReceiptStatus
from payments.domain.receipt_data import payment_receipt_data, refund_receipt_data
from payments.domain.receipts import (
    ESCALATE_AT_BOUNCES,
    PAYMENT_RECEIPT,
    REFUND_RECEIPT,
    Feedback,
    FeedbackKind,
    normalise_address,
    supersedes,
)
from payments.service.ports import IntentRepository, Mailer, OpsAlerts, SuppressionList

Clock = Callable[[], datetime]
_ATTEMPTS: Final = 5  # receipt flags race the payment's own writes; each retry reads the latest version


def set_receipt_status(
    payment_intent_id: str, status: ReceiptStatus, *, intents: IntentRepository, clock: Clock
) -> ReceiptStatus:
    """Move the intent's receipt status forward (never back); the status it has afterwards."""
    for _attempt in range(_ATTEMPTS):
        intent = intents.get(payment_intent_id, consistent=True)
        if not supersedes(status, intent.receipt_status):
            return intent.receipt_status
        intent.mark_receipt(status, now=clock())
        try:
            return intents.save(intent).receipt_status
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate(f"payment {payment_intent_id} kept changing while its receipt status was set")


def _send(
    intent: PaymentIntent,
    to: str,
    template: str,
    data: dict[str, object],
    *,
    intents: IntentRepository,
    mailer: Mailer,
    suppressions: SuppressionList,
    clock: Clock,
) -> dict[str, Any]:
    if suppressions.is_suppressed(normalise_address(to)):
        status = set_receipt_status(
            intent.payment_intent_id, ReceiptStatus.SUPPRESSED, intents=intents, clock=clock
        )
        return {"sent": False, "receiptStatus": status.value}
    message_id = mailer.send(
        template,
        to=to,
        locale=intent.locale,
        data=data,
        tags={"paymentIntentId": intent.payment_intent_id, "template": template},
    )
    status = set_receipt_status(intent.payment_intent_id, ReceiptStatus.SENT, intents=intents, clock=clock)
    return {"sent": True, "messageId": message_id, "receiptStatus": status.value}


def send_payment_receipt(
    payment_intent_id: str,
    *,
    intents: IntentRepository,
    mailer: Mailer,
    suppressions: SuppressionList,
    clock: Clock,
    order_page_url_template: str = "",
) -> dict[str, Any]:
    """The localised receipt-v3 to the intent's receiptEmail, once: a retried task finds it SENT.
    With an order page URL template (the stack's `OrderPageUrlTemplate`) it links to the order."""
    intent = intents.get(payment_intent_id, consistent=True)
    to = intent.receipt_email
    if not to or intent.receipt_status is not ReceiptStatus.NOT_SENT:
        return {"sent": False, "receiptStatus": intent.receipt_status.value}
    data = payment_receipt_data(intent, at=clock(), order_page_url_template=order_page_url_template)
    return _send(
        intent,
        to,
        PAYMENT_RECEIPT,
        data,
        intents=intents,
        mailer=mailer,
        suppressions=suppressions,
        clock=clock,
    )


def wants_refund_receipt(event: dict[str, Any], *, intents: IntentRepository) -> bool:
    """Whether the event is a refund of a payment with a receipt address: most are not, and need no
    idempotency record."""
    if event.get("eventType") != EventType.REFUNDED:
        return False
    return bool(intents.get(event["paymentIntentId"], consistent=False).receipt_email)


def send_refund_receipt(
    event: dict[str, Any],
    *,
    intents: IntentRepository,
    mailer: Mailer,
    suppressions: SuppressionList,
    clock: Clock,
) -> dict[str, Any]:
    """A REFUNDED event's receipt. The caller makes it once per event (the event id is its key)."""
    if event.get("eventType") != EventType.REFUNDED:
        return {"sent": False, "reason": "not a refund"}
    intent = intents.get(event["paymentIntentId"], consistent=True)
    to = intent.receipt_email
    if not to:
        return {"sent": False, "reason": "no receipt email"}
    refund = intents.get_transaction(event["eventId"])
    data = refund_receipt_data(intent, refund)
    return _send(
        intent,
        to,
        REFUND_RECEIPT,
        data,
        intents=intents,
        mailer=mailer,
        suppressions=suppressions,
        clock=clock,
    )


def record_feedback(
    feedback: Feedback,
    *,
    intents: IntentRepository,
    suppressions: SuppressionList,
    customer_success: OpsAlerts,
    clock: Clock,
) -> dict[str, Any]:
    """Flag the receipt's intent, count the feedback per address (once per message, however often SNS
    delivers it), suppress the address, and escalate its third bounce."""
    if feedback.kind is FeedbackKind.OTHER:
        return {"recorded": 0}
    at = clock().isoformat()
    escalated = []
    recorded = 0
    for recipient in feedback.recipients:
        address = normalise_address(recipient)
        entry = suppressions.record(address, feedback, at=at)
        if entry is None:
            continue  # this message's feedback was already counted
        recorded += 1
        if feedback.kind is FeedbackKind.BOUNCE and entry.bounces == ESCALATE_AT_BOUNCES:
            customer_success.alert(
                f"receipts to {address} bounced {entry.bounces} times",
                {
                    "address": address,
                    "bounces": entry.bounces,
                    "lastBounce": feedback.detail,
                    "paymentIntentId": feedback.payment_intent_id or "-",
                    "action": "reach the customer another way and ask for a working address",
                },
            )
            escalated.append(address)
    status = None
    if feedback.payment_intent_id:
        status = set_receipt_status(
            feedback.payment_intent_id, feedback.receipt_status, intents=intents, clock=clock
        ).value
    return {"recorded": recorded, "receiptStatus": status, "escalated": escalated}
