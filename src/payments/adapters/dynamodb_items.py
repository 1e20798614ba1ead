"""How intents and transactions are stored as DynamoDB items (low-level attribute-value form).

Pure functions, so the format is unit-tested without a database. Amounts are `N` integers of minor
units next to their `currency`; times are UTC ISO 8601 with milliseconds, so they sort as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from payments.domain.intents import (
    CaptureMethod,
    LineItem,
    PaymentIntent,
    Processor,
    ReceiptStatus,
    Status,
    Transaction,
    TransactionKind,
)
from payments.domain.money import Money, currency

Item = dict[str, Any]


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _optional_strings(**values: str | None) -> Item:
    return {name: {"S": value} for name, value in values.items() if value is not None}


def _line_items_attribute(intent: PaymentIntent) -> Item:
    """A list of maps, only when the intent has lines (most have none: their items stay as small as
    before); each line's currency is the intent's, so it is not repeated."""
    if not intent.line_items:
        return {}
    lines = [
        {
            "M": {
                "description": _s(line.description),
                "quantity": _n(line.quantity),
                "amount": _n(line.amount.amount),
            }
        }
        for line in intent.line_items
    ]
    return {"lineItems": {"L": lines}}


def _line_items_from(item: Mapping[str, Any], of: Money) -> tuple[LineItem, ...]:
    return tuple(
        LineItem(
            line["M"]["description"]["S"],
            int(line["M"]["quantity"]["N"]),
            Money(int(line["M"]["amount"]["N"]), of.currency),
        )
        for line in item.get("lineItems", {"L": []})["L"]
    )


def merchant_customer_key(merchant_id: str, customer_id: str) -> str:
    return f"{merchant_id}#{customer_id}"


def intent_to_item(intent: PaymentIntent, *, version: int | None = None) -> Item:
    return {
        "paymentIntentId": _s(intent.payment_intent_id),
        "status": _s(intent.status.value),
        "amount": _n(intent.amount.amount),
        "currency": _s(intent.amount.currency.code),
        "customerId": _s(intent.customer_id),
        "merchantId": _s(intent.merchant_id),
        # The merchant's customer: customer ids are each merchant's own, so the index that lists a
        # customer's payments for a merchant key is keyed by both.
        "merchantCustomerId": _s(merchant_customer_key(intent.merchant_id, intent.customer_id)),
        "paymentMethod": _s(intent.payment_method),
        "captureMethod": _s(intent.capture_method.value),
        "createdAt": _s(format_time(intent.created_at)),
        "updatedAt": _s(format_time(intent.updated_at or intent.created_at)),
        "expiresAt": _s(format_time(intent.expires_at)),
        "version": _n(intent.version if version is None else version),
        "amountAuthorized": _n(intent.amount_authorized),
        "amountCaptured": _n(intent.amount_captured),
        "amountRefunded": _n(intent.amount_refunded),
        "refundCount": _n(intent.refund_count),
        "refundRequests": {"M": {request: _n(number) for request, number in intent.refund_requests.items()}},
        "locale": _s(intent.locale),
        "receiptStatus": _s(intent.receipt_status.value),
        "processor": _s(intent.processor.value),
        **_failover_attributes(intent),
        **_optional_strings(
            receiptEmail=intent.receipt_email,
            description=intent.description,
            orderId=intent.order_id,
            customerFirstName=intent.customer_first_name,
            authorizationId=intent.authorization_id,
            transactionId=intent.transaction_id,
            declineCode=intent.decline_code,
            authenticationReference=intent.authentication_reference,
            authenticationUrl=intent.authentication_url,
        ),
        **_line_items_attribute(intent),
    }


def _get_s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def _get_n(item: Mapping[str, Any], name: str) -> int:
    return int(item[name]["N"])


def intent_from_item(item: Mapping[str, Any]) -> PaymentIntent:
    amount = Money(_get_n(item, "amount"), currency(item["currency"]["S"]))
    return PaymentIntent(
        payment_intent_id=item["paymentIntentId"]["S"],
        amount=amount,
        customer_id=item["customerId"]["S"],
        merchant_id=item["merchantId"]["S"],
        payment_method=item["paymentMethod"]["S"],
        capture_method=CaptureMethod(item["captureMethod"]["S"]),
        created_at=parse_time(item["createdAt"]["S"]),
        updated_at=parse_time(item["updatedAt"]["S"]),
        expires_at=parse_time(item["expiresAt"]["S"]),
        status=Status(item["status"]["S"]),
        version=_get_n(item, "version"),
        amount_authorized=_get_n(item, "amountAuthorized"),
        amount_captured=_get_n(item, "amountCaptured"),
        amount_refunded=_get_n(item, "amountRefunded"),
        refund_count=int(item.get("refundCount", {"N": "0"})["N"]),
        refund_requests={
            request: int(number["N"])
            for request, number in item.get("refundRequests", {"M": {}})["M"].items()
        },
        receipt_email=_get_s(item, "receiptEmail"),
        locale=item["locale"]["S"],
        description=_get_s(item, "description"),
        order_id=_get_s(item, "orderId"),
        customer_first_name=_get_s(item, "customerFirstName"),
        line_items=_line_items_from(item, amount),
        authorization_id=_get_s(item, "authorizationId"),
        transaction_id=_get_s(item, "transactionId"),
        decline_code=_get_s(item, "declineCode"),
        receipt_status=ReceiptStatus(item["receiptStatus"]["S"]),
        # Intents stored before processors were chosen all went to the sandbox.
        processor=Processor(item.get("processor", {"S": Processor.SANDBOX.value})["S"]),
        fallback_processors=tuple(
            Processor(entry["S"]) for entry in item.get("fallbackProcessors", {"L": []})["L"]
        ),
        authorization_sends=int(item.get("authorizationSends", {"N": "0"})["N"]),
        # Absent on intents no processor asked to authenticate, and on those stored before.
        authentication_reference=_get_s(item, "authenticationReference"),
        authentication_url=_get_s(item, "authenticationUrl"),
    )


def _failover_attributes(intent: PaymentIntent) -> Item:
    """Only a payment with fallbacks keeps them and its count of sends: the rest stay as they were."""
    if not intent.fallback_processors and not intent.authorization_sends:
        return {}
    return {
        "fallbackProcessors": {"L": [_s(processor.value) for processor in intent.fallback_processors]},
        "authorizationSends": _n(intent.authorization_sends),
    }


def transaction_from_item(item: Mapping[str, Any]) -> Transaction:
    return Transaction(
        transaction_id=item["transactionId"]["S"],
        payment_intent_id=item["paymentIntentId"]["S"],
        customer_id=item["customerId"]["S"],
        merchant_id=item["merchantId"]["S"],
        kind=TransactionKind(item["kind"]["S"]),
        status=Status(item["status"]["S"]),
        amount=Money(_get_n(item, "amount"), currency(item["currency"]["S"])),
        created_at=parse_time(item["createdAt"]["S"]),
        gateway_reference=_get_s(item, "gatewayReference"),
        decline_code=_get_s(item, "declineCode"),
        request_id=_get_s(item, "requestId"),
        reason=_get_s(item, "reason"),
        intent_version=_get_n(item, "intentVersion") if "intentVersion" in item else None,
        released=Money(_get_n(item, "released"), currency(item["currency"]["S"]))
        if "released" in item
        else None,
    )


def transaction_to_item(transaction: Transaction) -> Item:
    return {
        "transactionId": _s(transaction.transaction_id),
        "paymentIntentId": _s(transaction.payment_intent_id),
        "customerId": _s(transaction.customer_id),
        "merchantId": _s(transaction.merchant_id),
        "kind": _s(transaction.kind.value),
        "status": _s(transaction.status.value),
        "amount": _n(transaction.amount.amount),
        "currency": _s(transaction.amount.currency.code),
        "createdAt": _s(format_time(transaction.created_at)),
        **_optional_strings(
            gatewayReference=transaction.gateway_reference,
            declineCode=transaction.decline_code,
            requestId=transaction.request_id,
            reason=transaction.reason,
        ),
        **({"released": _n(transaction.released.amount)} if transaction.released else {}),
        **({"intentVersion": _n(transaction.intent_version)} if transaction.intent_version else {}),
    }
