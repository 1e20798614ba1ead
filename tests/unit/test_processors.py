"""Each payment is moved at the processor chosen when its intent was created, and only there."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import pytest

from payments.adapters.dynamodb_items import intent_from_item, intent_to_item
from payments.domain.intents import PaymentIntent, Processor, Status
from payments.domain.money import Money
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.movements import CaptureIntent, RefundIntent, capture_intent, refund_intent, void_intent
from payments.service.ports import ProcessorNotConfigured
from payments.service.processors import Processors
from payments.settings import Settings, SettingsError
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository


class FakeStripe(FakeGateway):
    processor: ClassVar[Processor] = Processor.STRIPE


def _intent(repo: FakeIntentRepository, clock: FakeClock, processor: Processor) -> PaymentIntent:
    intent = PaymentIntent.create(
        amount=Money.of(10_000, "EUR"),
        customer_id="cus_1",
        merchant_id="mer_1",
        payment_method="pm_card_visa",
        now=clock(),
        time_to_live=timedelta(hours=1),
        processor=processor,
    )
    repo.add(intent)
    return intent


def test_every_movement_goes_to_the_payments_own_processor() -> None:
    repo, clock, sandbox, stripe = FakeIntentRepository(), FakeClock(), FakeGateway(), FakeStripe()
    built: list[Processor] = []

    def build(processor: Processor, gateway: FakeGateway) -> FakeGateway:
        built.append(processor)
        return gateway

    processors = Processors(
        {
            Processor.SANDBOX: lambda _merchant: build(Processor.SANDBOX, sandbox),
            Processor.STRIPE: lambda _merchant: build(Processor.STRIPE, stripe),
        }
    )
    paid = _intent(repo, clock, Processor.STRIPE).payment_intent_id
    authorize_intent(AuthorizeIntent(paid), intents=repo, fraud=None, gateway=processors, clock=clock)
    capture_intent(CaptureIntent(paid, 4_000), intents=repo, gateway=processors, clock=clock)
    refund_intent(RefundIntent(paid, None, 1_000), intents=repo, gateway=processors, clock=clock)
    held = _intent(repo, clock, Processor.STRIPE).payment_intent_id
    authorize_intent(AuthorizeIntent(held), intents=repo, fraud=None, gateway=processors, clock=clock)
    void_intent(held, intents=repo, gateway=processors, clock=clock)
    assert [name for name, _ in stripe.calls] == ["authorize", "capture", "refund", "authorize", "void"]
    assert sandbox.calls == []
    assert built == [Processor.STRIPE]  # built once, and the sandbox never, as nothing was its


def test_a_payment_of_a_processor_the_deployment_lacks_is_refused_before_any_call() -> None:
    repo, clock, sandbox = FakeIntentRepository(), FakeClock(), FakeGateway()
    paid = _intent(repo, clock, Processor.STRIPE).payment_intent_id
    with pytest.raises(ProcessorNotConfigured, match="no stripe configured"):
        authorize_intent(
            AuthorizeIntent(paid),
            intents=repo,
            fraud=None,
            gateway=Processors({Processor.SANDBOX: lambda _merchant: sandbox}),
            clock=clock,
        )
    assert repo.get(paid).status is Status.PENDING
    assert sandbox.calls == []


def test_a_gateway_of_one_processor_refuses_another_processors_payment() -> None:
    repo, clock, sandbox = FakeIntentRepository(), FakeClock(), FakeGateway()
    paid = _intent(repo, clock, Processor.STRIPE).payment_intent_id
    with pytest.raises(ProcessorNotConfigured, match="this gateway is sandbox's"):
        authorize_intent(AuthorizeIntent(paid), intents=repo, fraud=None, gateway=sandbox, clock=clock)
    assert sandbox.calls == []


def test_the_processor_is_kept_with_the_intent_and_old_items_are_the_sandboxs() -> None:
    repo, clock = FakeIntentRepository(), FakeClock()
    intent = _intent(repo, clock, Processor.STRIPE)
    item = intent_to_item(intent)
    assert intent_from_item(item).processor is Processor.STRIPE
    del item["processor"]  # stored before processors were chosen
    assert intent_from_item(item).processor is Processor.SANDBOX


GLOBALS = {"INTENTS_TABLE": "i", "TRANSACTIONS_TABLE": "t", "IDEMPOTENCY_TABLE": "k"}


def test_the_default_processor_must_be_one_we_have() -> None:
    assert Settings.from_env({**GLOBALS, "DEFAULT_PROCESSOR": "stripe"}).default_processor == "stripe"
    assert Settings.from_env(GLOBALS).default_processor == "sandbox"
    with pytest.raises(SettingsError, match="DEFAULT_PROCESSOR must be one of sandbox, stripe"):
        Settings.from_env({**GLOBALS, "DEFAULT_PROCESSOR": "adyen"})
