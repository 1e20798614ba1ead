"""Request bodies (strict: JSON integers only for amounts, no unknown fields) and response shapes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from payments.adapters.dynamodb_items import format_time
from payments.domain.cards import contains_card_number
from payments.domain.intents import PaymentIntent, Transaction
from payments.domain.ledger import Balance, LedgerEntry
from payments.domain.refund_batches import RowError, RowFailure
from payments.service.ports import RefundBatch

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def _no_card_number(value: str) -> str:
    if contains_card_number(value):
        raise ValueError("must not contain a card number")
    return value


# Free text a person typed: bounded, and never a place a card number can hide.
CardFreeText = Annotated[str, Field(max_length=500), AfterValidator(_no_card_number)]

# Such text printed on one line of a receipt (a greeting's name, an order line): no line breaks or
# other control characters, and at least one visible character.
ONE_LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
FirstName = Annotated[str, Field(max_length=100, pattern=ONE_LINE), AfterValidator(_no_card_number)]
LineText = Annotated[str, Field(max_length=200, pattern=ONE_LINE), AfterValidator(_no_card_number)]
# A receipt lists every line: a cart longer than this is summarised by the merchant, not itemised.
MAX_LINE_ITEMS = 100


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LineItemBody(_Body):
    description: LineText
    quantity: int = Field(ge=1, le=999_999)
    amount: int = Field(ge=0, le=99_999_999_999)  # the line's total in minor units: a free line is 0


class CreateIntentBody(_Body):
    amount: int = Field(gt=0, le=99_999_999_999)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customerId: Identifier  # noqa: N815 (the contract's field names)
    merchantId: Identifier | None = None  # noqa: N815 (a merchant key's own when absent)
    paymentMethod: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,64}$")  # noqa: N815
    captureMethod: Literal["manual", "automatic"] = "manual"  # noqa: N815
    receiptEmail: str | None = Field(  # noqa: N815
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    locale: Literal["en-US", "es-MX"] = "en-US"
    description: CardFreeText | None = None
    orderId: Identifier | None = None  # noqa: N815
    customerFirstName: FirstName | None = None  # noqa: N815
    # When given, the lines' amounts add up to `amount` (checked by the intent).
    lineItems: list[LineItemBody] | None = Field(  # noqa: N815
        default=None, min_length=1, max_length=MAX_LINE_ITEMS
    )


class AuthorizeBody(_Body):
    deviceFingerprint: Identifier | None = None  # noqa: N815
    ipAddress: str | None = Field(default=None, max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")  # noqa: N815


class CaptureBody(_Body):
    amount: int | None = Field(default=None, gt=0, le=99_999_999_999)


class RefundBody(_Body):
    paymentIntentId: Identifier  # noqa: N815
    amount: int | None = Field(default=None, gt=0, le=99_999_999_999)
    reason: CardFreeText | None = None


def refund_body(refund: Transaction) -> dict[str, Any]:
    return {
        "refundId": refund.transaction_id,
        "paymentIntentId": refund.payment_intent_id,
        "status": "SUCCEEDED",
        "amount": refund.amount.amount,
        "currency": refund.amount.currency.code,
        "createdAt": format_time(refund.created_at),
        **({"reason": refund.reason} if refund.reason is not None else {}),
    }


class StartCheckoutBody(_Body):
    paymentIntentId: Identifier  # noqa: N815
    deviceFingerprint: Identifier | None = None  # noqa: N815
    ipAddress: str | None = Field(default=None, max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")  # noqa: N815


class ChallengeBody(_Body):
    outcome: Literal["passed", "failed"]


def intent_body(intent: PaymentIntent) -> dict[str, Any]:
    body: dict[str, Any] = {
        "paymentIntentId": intent.payment_intent_id,
        "status": intent.status.value,
        "amount": intent.amount.amount,
        "currency": intent.amount.currency.code,
        "amountAuthorized": intent.amount_authorized,
        "amountCaptured": intent.amount_captured,
        "amountRefunded": intent.amount_refunded,
        "customerId": intent.customer_id,
        "merchantId": intent.merchant_id,
        "paymentMethod": intent.payment_method,
        "captureMethod": intent.capture_method.value,
        "locale": intent.locale,
        "receiptStatus": intent.receipt_status.value,
        "processor": intent.processor.value,
        "createdAt": format_time(intent.created_at),
        "updatedAt": format_time(intent.updated_at or intent.created_at),
        "expiresAt": format_time(intent.expires_at),
        "version": intent.version,
    }
    optional = {
        "receiptEmail": intent.receipt_email,
        "description": intent.description,
        "orderId": intent.order_id,
        "customerFirstName": intent.customer_first_name,
        "lineItems": [
            {"description": line.description, "quantity": line.quantity, "amount": line.amount.amount}
            for line in intent.line_items
        ]
        or None,
        "transactionId": intent.transaction_id,
        "declineCode": intent.decline_code,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return body


def ledger_entry_body(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "entryId": entry.entry_id,
        "createdAt": format_time(entry.created_at),
        "kind": entry.kind,
        "legs": [
            {
                "account": leg.account.value,
                "direction": leg.direction.value,
                "amount": leg.amount.amount,
                "currency": leg.amount.currency.code,
            }
            for leg in entry.legs
        ],
    }


def balance_body(balance: Balance) -> dict[str, Any]:
    return {"account": balance.account.value, "currency": balance.currency, "balance": balance.balance}


def refund_batch_body(batch: RefundBatch, *, errors: list[RowError]) -> dict[str, Any]:
    return {
        "batchId": batch.batch_id,
        "total": batch.total,
        "succeeded": batch.succeeded,
        "failed": batch.failed,
        "deadLettered": batch.dead_lettered,
        "pending": batch.pending,
        "errors": [{"line": error.line, "message": error.message} for error in errors],
    }


def row_failure_body(failure: RowFailure) -> dict[str, Any]:
    return {"line": failure.line, "state": failure.state.value, "message": failure.message}
