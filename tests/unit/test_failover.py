"""Failover between processors on in-memory fakes: a payment moves to its next processor only when its
processor provably never received the request, and only the request that alone was sent there moves it.

The danger each test guards against is the same: two processors each holding an authorization of one
payment. So every ambiguous case (a timeout after sending, a request that crashed after sending, a
concurrent request) must keep the payment at its processor, and every move must be saved before the
next processor hears of the payment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar

import pytest

from payments.domain.errors import InvalidState, ProcessorUnreachable, UpstreamUnavailable
from payments.domain.intents import PaymentIntent, Processor, Status
from payments.domain.money import Money
from payments.domain.processor_rules import ProcessorRule, candidates
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.intents import CreateIntent, create_intent
from payments.service.ports import GatewayApproved, GatewayDeclined, GatewayResult
from payments.service.processors import Processors
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository

SANDBOX, STRIPE = Processor.SANDBOX, Processor.STRIPE


def refused() -> ProcessorUnreachable:
    return ProcessorUnreachable("connection refused on every attempt", upstream="gateway")


class ScriptedGateway(FakeGateway):
    """A fake processor whose authorize answers may run something first (another request racing)."""

    def __init__(self, reference: str) -> None:
        super().__init__()
        self.authorize_result = GatewayApproved(reference)
        self.before_answer: Callable[[], None] | None = None

    def authorize(
        self,
        *,
        idempotency_key: str,
        amount: Money,
        payment_method: str,
        reference: str,
        three_d_secure_passed: bool = False,
        authentication: str | None = None,
    ) -> GatewayResult:
        if self.before_answer is not None:
            race, self.before_answer = self.before_answer, None
            race()
        return super().authorize(
            idempotency_key=idempotency_key,
            amount=amount,
            payment_method=payment_method,
            reference=reference,
            three_d_secure_passed=three_d_secure_passed,
            authentication=authentication,
        )

    def authorizations(self) -> int:
        return sum(1 for call, _ in self.calls if call == "authorize")


class StripeGateway(ScriptedGateway):
    processor: ClassVar[Processor] = STRIPE


class World:
    def __init__(self) -> None:
        self.repo, self.clock = FakeIntentRepository(), FakeClock()
        self.sandbox, self.stripe = ScriptedGateway("auth_sandbox"), StripeGateway("pi_stripe")
        self.routing = Processors({SANDBOX: lambda _m: self.sandbox, STRIPE: lambda _m: self.stripe})

    def intent(self, fallbacks: tuple[Processor, ...] = (STRIPE,)) -> PaymentIntent:
        command = CreateIntent(
            amount=Money.of(5000, "USD"),
            customer_id="cus_1",
            merchant_id="mer_1",
            payment_method="pm_card_visa",
            processor=SANDBOX,
            fallback_processors=fallbacks,
        )
        return create_intent(command, intents=self.repo, clock=self.clock, time_to_live=timedelta(hours=1))

    def authorize(self, intent_id: str, *, three_d_secure_passed: bool = False) -> PaymentIntent:
        return authorize_intent(
            AuthorizeIntent(intent_id, three_d_secure_passed=three_d_secure_passed),
            intents=self.repo,
            fraud=None,
            gateway=self.routing,
            clock=self.clock,
        )

    def stored(self, intent_id: str) -> PaymentIntent:
        return self.repo.get(intent_id)

    def another_request_counts(self, intent_id: str) -> None:
        """Another request to authorize the payment counts its send, as it would before sending."""
        other = self.repo.get(intent_id)
        other.count_authorization_send(self.clock())
        self.repo.save(other)


@pytest.fixture
def world() -> World:
    return World()


def test_a_refused_connection_moves_the_payment_to_its_next_processor(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = refused()

    result = world.authorize(intent.payment_intent_id)

    assert result.status is Status.AUTHORIZED
    assert (result.processor, result.authorization_id) == (STRIPE, "pi_stripe")
    assert (world.sandbox.authorizations(), world.stripe.authorizations()) == (1, 1)
    stored = world.stored(intent.payment_intent_id)
    assert (stored.processor, stored.fallback_processors, stored.authorization_sends) == (
        STRIPE,
        (SANDBOX,),
        1,
    )


def test_an_ambiguous_failure_keeps_the_payment_at_its_processor_for_good(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = UpstreamUnavailable("read timed out after sending", upstream="gateway")

    with pytest.raises(UpstreamUnavailable) as raised:
        world.authorize(intent.payment_intent_id)
    assert not isinstance(raised.value, ProcessorUnreachable)

    # The retry is refused outright, but the first request may have reached the sandbox: it stays.
    world.sandbox.authorize_result = refused()
    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id)

    assert world.stripe.authorizations() == 0
    stored = world.stored(intent.payment_intent_id)
    assert (stored.processor, stored.status, stored.authorization_sends) == (SANDBOX, Status.PENDING, 2)

    # And it is authorized where it was sent once the sandbox answers, with the same key.
    world.sandbox.authorize_result = GatewayApproved("auth_sandbox")
    assert world.authorize(intent.payment_intent_id).authorization_id == "auth_sandbox"
    assert {key for call, key in world.sandbox.calls if call == "authorize"} == {
        f"{intent.payment_intent_id}:authorize"
    }


def test_a_request_that_crashed_after_sending_keeps_the_payment_at_its_processor(world: World) -> None:
    intent = world.intent()
    # A request counted its send, sent it, and died before hearing back (nothing else recorded).
    world.another_request_counts(intent.payment_intent_id)
    world.sandbox.authorize_result = refused()

    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id)

    assert world.stripe.authorizations() == 0
    assert world.stored(intent.payment_intent_id).processor is SANDBOX


def test_a_request_counted_meanwhile_stops_the_move(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = refused()
    # While ours is refused, a second request counts its own send (it may reach the sandbox).
    world.sandbox.before_answer = lambda: world.another_request_counts(intent.payment_intent_id)

    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id)

    assert world.stripe.authorizations() == 0
    stored = world.stored(intent.payment_intent_id)
    assert (stored.processor, stored.authorization_sends) == (SANDBOX, 2)


def test_every_processor_refusing_leaves_the_payment_free_to_move_again(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = world.stripe.authorize_result = refused()

    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id)

    # Each processor was tried once; the last refusal is uncounted, so nothing may hold it.
    assert (world.sandbox.authorizations(), world.stripe.authorizations()) == (1, 1)
    stored = world.stored(intent.payment_intent_id)
    assert (stored.processor, stored.authorization_sends) == (STRIPE, 0)

    # The sandbox is back, Stripe still refuses: the next request moves it back and is authorized.
    world.sandbox.authorize_result = GatewayApproved("auth_sandbox")
    result = world.authorize(intent.payment_intent_id)
    assert (result.processor, result.authorization_id) == (SANDBOX, "auth_sandbox")
    assert (world.sandbox.authorizations(), world.stripe.authorizations()) == (2, 2)


def test_a_payment_without_fallbacks_is_never_moved_nor_counted(world: World) -> None:
    intent = world.intent(fallbacks=())
    world.sandbox.authorize_result = refused()
    writes = world.repo.writes

    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id)

    assert world.repo.writes == writes  # no extra write on the path of a payment with one processor
    assert world.stripe.authorizations() == 0


def test_after_a_3ds_challenge_the_payment_stays_with_the_processor_that_asked(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = refused()

    with pytest.raises(ProcessorUnreachable):
        world.authorize(intent.payment_intent_id, three_d_secure_passed=True)

    assert world.stripe.authorizations() == 0
    assert world.stored(intent.payment_intent_id).processor is SANDBOX


def test_an_approval_is_recorded_over_a_send_counted_meanwhile_and_never_voided(world: World) -> None:
    intent = world.intent()
    # While ours is approved, a second request counts its send: our save then meets a new version.
    world.sandbox.before_answer = lambda: world.another_request_counts(intent.payment_intent_id)

    result = world.authorize(intent.payment_intent_id)

    assert (result.status, result.authorization_id) == (Status.AUTHORIZED, "auth_sandbox")
    assert ("void", f"{intent.payment_intent_id}:void") not in world.sandbox.calls
    # The second request, answered by the sandbox with the same authorization, finds it recorded.
    assert world.stored(intent.payment_intent_id).status is Status.AUTHORIZED


def test_a_decline_is_recorded_over_a_send_counted_meanwhile(world: World) -> None:
    intent = world.intent()
    world.sandbox.authorize_result = GatewayDeclined("auth_sandbox", "insufficient_funds")
    world.sandbox.before_answer = lambda: world.another_request_counts(intent.payment_intent_id)

    with pytest.raises(Exception, match="insufficient_funds"):
        world.authorize(intent.payment_intent_id)

    assert world.stored(intent.payment_intent_id).status is Status.DECLINED


def test_an_approval_from_the_processor_the_payment_left_is_voided(world: World) -> None:
    intent = world.intent()

    def moved_away() -> None:  # another request saw the sandbox refuse and moved the payment
        other = world.repo.get(intent.payment_intent_id)
        other.authorization_sends = 1
        other.fail_over(world.clock())
        world.repo.intents[intent.payment_intent_id] = other.saved()

    world.sandbox.before_answer = moved_away

    with pytest.raises(InvalidState):
        world.authorize(intent.payment_intent_id)

    assert ("void", f"{intent.payment_intent_id}:void") in world.sandbox.calls


def test_fail_over_refuses_when_another_send_may_have_reached(world: World) -> None:
    intent = world.intent()
    intent.count_authorization_send(world.clock())
    intent.count_authorization_send(world.clock())

    with pytest.raises(InvalidState, match="2 requests"):
        intent.fail_over(world.clock())
    assert intent.processor is SANDBOX


def test_fallbacks_are_every_later_matching_rule_in_order_each_once() -> None:
    rules = (
        ProcessorRule(STRIPE, ("EUR",)),
        ProcessorRule(SANDBOX, ("USD",), 0, 1000),
        ProcessorRule(STRIPE),
        ProcessorRule(SANDBOX),
    )
    assert candidates(rules, Money.of(500, "USD"), SANDBOX) == (SANDBOX, STRIPE)
    assert candidates(rules, Money.of(5000, "USD"), SANDBOX) == (STRIPE, SANDBOX)
    assert candidates(rules[:1], Money.of(500, "USD"), SANDBOX) == (SANDBOX,)  # the default alone
    assert candidates((), Money.of(500, "USD"), STRIPE) == (STRIPE,)
