"""POST /v1/payment-intents: create a PENDING payment intent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from payments import bootstrap
from payments.domain.errors import PaymentsError
from payments.domain.intents import CaptureMethod, LineItem, check_line_items
from payments.domain.money import Money
from payments.functions import http
from payments.functions.observability import observed
from payments.functions.schemas import CreateIntentBody, intent_body
from payments.service.intents import CreateIntent, create_intent


def _command(event: http.Event) -> CreateIntent:
    body = http.parse(CreateIntentBody, http.json_body(event))
    amount = Money.of(body.amount, body.currency)
    line_items = tuple(
        LineItem(line.description, line.quantity, Money(line.amount, amount.currency))
        for line in body.lineItems or ()
    )
    check_line_items(line_items, amount)  # refused before an idempotency record is written
    return CreateIntent(
        amount=amount,
        customer_id=body.customerId,
        merchant_id=http.caller(event).acting_for(body.merchantId),
        payment_method=body.paymentMethod,
        capture_method=CaptureMethod(body.captureMethod),
        receipt_email=body.receiptEmail,
        locale=body.locale,
        description=body.description,
        order_id=body.orderId,
        customer_first_name=body.customerFirstName,
        line_items=line_items,
    )


@observed
def handler(event: dict[str, Any], context: Any) -> http.Response:
    try:
        command = _command(event)  # a request refused here writes nothing, not even an idempotency record
    except PaymentsError as error:
        return http.error_response(error)

    def work() -> http.Response:
        intent = create_intent(
            command,
            intents=bootstrap.intent_repository(),
            clock=bootstrap.now,
            time_to_live=timedelta(seconds=bootstrap.settings().intent_ttl_seconds),
        )
        return http.respond(201, intent_body(intent))

    return bootstrap.idempotent_requests()(event, context, work)
