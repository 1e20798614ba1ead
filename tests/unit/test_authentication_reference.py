"""The processor's 3-D Secure authentication, kept on the intent: stored when the processor asks for
it, named to the processor by the authorization after the challenge, and none when our fraud screen
asked (the processor never saw the payment)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from payments.domain.errors import AuthenticationRequired, InvalidState
from payments.domain.fraud import Decision
from payments.domain.intents import PaymentIntent, Status
from payments.domain.money import Money
from payments.service.authorize import AuthorizeIntent, authorize_intent
from payments.service.intents import CreateIntent, create_intent
from payments.service.ports import GatewayApproved, GatewayAuthenticationRequired, GatewayResult
from tests.unit.fakes import FakeClock, FakeFraud, FakeGateway, FakeIntentRepository

AT_STRIPE = "pi_3PqRsTLkdIwHu7ix0aBcDeFg"  # the processor's id of the authentication
REDIRECT = f"https://hooks.stripe.com/3d_secure_2/hosted?payment_intent={AT_STRIPE}"


class RacingGateway(FakeGateway):
    """A gateway that lets another request write the intent while it is asked, before it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] | None = None

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
        if self.meanwhile is not None:
            race, self.meanwhile = self.meanwhile, None
            race()
        return super().authorize(
            idempotency_key=idempotency_key,
            amount=amount,
            payment_method=payment_method,
            reference=reference,
            three_d_secure_passed=three_d_secure_passed,
            authentication=authentication,
        )


class World:
    def __init__(self) -> None:
        self.repo, self.fraud, self.gateway, self.clock = (
            FakeIntentRepository(),
            FakeFraud(),
            RacingGateway(),
            FakeClock(),
        )
        command = CreateIntent(
            amount=Money.of(5000, "USD"),
            customer_id="cus_1",
            merchant_id="mer_1",
            payment_method="pm_card_visa",
        )
        self.intent_id = create_intent(
            command, intents=self.repo, clock=self.clock, time_to_live=timedelta(hours=1)
        ).payment_intent_id

    def authorize(self, *, passed: bool = False) -> PaymentIntent:
        """As the API does first (screened), then as the checkout does after a challenge (not screened)."""
        return authorize_intent(
            AuthorizeIntent(self.intent_id, three_d_secure_passed=passed),
            intents=self.repo,
            fraud=None if passed else self.fraud,
            gateway=self.gateway,
            clock=self.clock,
        )

    def stored(self) -> PaymentIntent:
        return self.repo.get(self.intent_id)

    def another_request(self, change: Callable[[PaymentIntent], None]) -> Callable[[], None]:
        def write() -> None:
            other = self.repo.get(self.intent_id)
            change(other)
            self.repo.save(other)

        return write


@pytest.fixture
def world() -> World:
    return World()


def test_a_step_up_the_processor_asks_for_is_kept_on_the_intent(world: World) -> None:
    # Given the processor answers with a challenge, its authentication's id and where to complete it
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=REDIRECT)
    writes = world.repo.writes
    # When the payment is authorized, Then the caller is told to authenticate the customer
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    # And the payment, still PENDING, keeps both, in one write that records no movement
    stored = world.stored()
    assert (stored.status, stored.authentication_reference, stored.authentication_url) == (
        Status.PENDING,
        AT_STRIPE,
        REDIRECT,
    )
    assert world.repo.writes == writes + 1
    assert world.repo.transactions == {}


def test_the_authorization_after_the_challenge_names_the_processors_authentication(world: World) -> None:
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=None)
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    # When the customer passed the challenge and the payment is authorized again
    world.gateway.authorize_result = GatewayApproved(AT_STRIPE)
    authorized = world.authorize(passed=True)
    # Then the processor was asked with its own authentication, under the after-challenge key
    assert world.gateway.authentications == [None, AT_STRIPE]
    assert [key for _, key in world.gateway.calls] == [
        f"{world.intent_id}:authorize",
        f"{world.intent_id}:authorize:3ds",
    ]
    assert (authorized.status, authorized.authorization_id) == (Status.AUTHORIZED, AT_STRIPE)


def test_a_fraud_step_up_names_no_authentication_after_the_challenge(world: World) -> None:
    # Given our fraud screen asked for the step-up: the processor never heard of the payment
    world.fraud.decision = Decision.STEP_UP
    writes = world.repo.writes
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    assert world.gateway.calls == []
    assert world.repo.writes == writes
    # When the customer passed our challenge
    authorized = world.authorize(passed=True)
    # Then the processor is asked with no authentication of its own to read
    assert world.gateway.authentications == [None]
    assert world.gateway.calls == [("authorize", f"{world.intent_id}:authorize:3ds")]
    assert authorized.status is Status.AUTHORIZED


def test_a_fraud_step_up_the_processor_challenges_in_turn_names_that_challenge(world: World) -> None:
    # Given our screen stepped up, and after our challenge the processor asks for its own
    world.fraud.decision = Decision.STEP_UP
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=REDIRECT)
    with pytest.raises(AuthenticationRequired):
        world.authorize(passed=True)
    assert (world.stored().authentication_reference, world.stored().authentication_url) == (
        AT_STRIPE,
        REDIRECT,
    )
    # When the customer passed the processor's challenge too
    world.gateway.authorize_result = GatewayApproved(AT_STRIPE)
    world.authorize(passed=True)
    # Then that last authorization named the processor's authentication
    assert world.gateway.authentications == [None, AT_STRIPE]


def test_the_same_challenge_asked_again_writes_nothing(world: World) -> None:
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=REDIRECT)
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    writes = world.repo.writes
    # When the customer said "passed" but the processor still waits for the authentication
    with pytest.raises(AuthenticationRequired):
        world.authorize(passed=True)
    # Then nothing new is written
    assert world.repo.writes == writes
    assert world.gateway.authentications == [None, AT_STRIPE]


def test_a_send_counted_meanwhile_gets_the_authentication_recorded_on_what_it_wrote(world: World) -> None:
    # Given another request counted its send while ours was being answered with a challenge
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=REDIRECT)
    world.gateway.meanwhile = world.another_request(
        lambda other: other.count_authorization_send(world.clock())
    )
    with pytest.raises(AuthenticationRequired):
        world.authorize()
    # Then the challenge is kept on the intent that request wrote, its count kept too
    stored = world.stored()
    assert (stored.authentication_reference, stored.authentication_url) == (AT_STRIPE, REDIRECT)
    assert stored.authorization_sends == 1


def test_a_payment_that_moved_on_meanwhile_is_a_conflict(world: World) -> None:
    # Given the payment was declined by another writer while the processor answered with a challenge
    world.gateway.authorize_result = GatewayAuthenticationRequired(AT_STRIPE, next_action_url=REDIRECT)
    world.gateway.meanwhile = world.another_request(
        lambda other: other.decline(decline_code="fraud_suspected", now=world.clock())
    )
    # Then the conflict is raised, and the declined payment keeps no authentication
    with pytest.raises(InvalidState):
        world.authorize()
    stored = world.stored()
    assert (stored.status, stored.authentication_reference) == (Status.DECLINED, None)


def test_only_a_pending_payment_waits_for_an_authentication(world: World) -> None:
    intent = world.stored()
    intent.authorize(authorization_id="auth_1", now=world.clock())
    with pytest.raises(InvalidState):
        intent.await_authentication(reference=AT_STRIPE, url=None, now=world.clock())
    assert intent.authentication_reference is None
