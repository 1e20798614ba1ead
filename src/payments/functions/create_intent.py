"""POST /v1/payment-intents: create a PENDING payment intent, at the processor the merchant's rules
choose for its currency and amount (the deployment's default when none matches, or it has none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from payments import bootstrap
from payments.domain.intents import CaptureMethod, LineItem, Processor, check_line_items
from payments.domain.money import Money
from payments.domain.processor_rules import candidates
from payments.functions import http
from payments.functions.schemas import CreateIntentBody, intent_body
from payments.service.intents import CreateIntent, create_intent
from payments.service.ports import IntentRepository, MerchantProcessorRules


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    time_to_live: timedelta
    processor: Processor = Processor.SANDBOX  # of a merchant that has none configured
    clock: Callable[[], datetime] = bootstrap.now
    rules: MerchantProcessorRules | None = None  # each merchant's processor rules; None: the default's


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        time_to_live=timedelta(seconds=env.settings.intent_ttl_seconds),
        processor=Processor(env.settings.default_processor),
        rules=bootstrap.processor_rules(env),
    )


def _command(event: http.Event) -> CreateIntent:
    """The request as a command; a request refused here writes nothing, not even an idempotency record."""
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


@http.route(wire, parse=_command, idempotent=True)
def handler(request: http.Request[CreateIntent], deps: Dependencies) -> http.Response:
    command = request.input
    found = None if deps.rules is None else deps.rules.rules_for(command.merchant_id)
    processor, *fallbacks = candidates(() if found is None else found.rules, command.amount, deps.processor)
    intent = create_intent(
        replace(command, processor=processor, fallback_processors=tuple(fallbacks)),
        intents=deps.intents,
        clock=deps.clock,
        time_to_live=deps.time_to_live,
    )
    return http.respond(201, intent_body(intent))
