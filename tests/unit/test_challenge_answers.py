"""A 3-D Secure answer survives a crash at any point: the token is forgotten only once answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from payments.domain.errors import InvalidState, NotFound
from payments.domain.merchants import Caller
from payments.domain.money import Money
from payments.service.checkout import answer_challenge
from payments.service.intents import CreateIntent, create_intent
from payments.service.merchant_scope import MerchantScopedIntents
from payments.service.ports import CheckoutRecord, CheckoutRepository
from tests.unit.fakes import FakeIntentRepository

MERCHANT = "mer_1"


def _payment() -> tuple[FakeIntentRepository, str]:
    intents = FakeIntentRepository()
    intent = create_intent(
        CreateIntent(Money.of(5000, "USD"), "cus_1", MERCHANT, "pm_card_3ds_required"),
        intents=intents,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        time_to_live=timedelta(hours=1),
    )
    return intents, intent.payment_intent_id


class Checkouts(CheckoutRepository):
    def __init__(self) -> None:
        self.tokens: dict[str, str | None] = {"chk_1": "token-1"}
        self.crash_on_clear = False
        self.intents, self.payment_intent_id = _payment()

    def create_if_absent(self, record: CheckoutRecord) -> CheckoutRecord:
        raise NotImplementedError

    def get(self, tracking_id: str) -> CheckoutRecord:
        if tracking_id not in self.tokens:
            raise NotFound(f"no checkout {tracking_id}")
        return CheckoutRecord(tracking_id, self.payment_intent_id, "arn:execution", self.tokens[tracking_id])

    def require_action(self, tracking_id: str, task_token: str) -> None:
        self.tokens[tracking_id] = task_token

    def waiting_task_token(self, tracking_id: str) -> str:
        if tracking_id not in self.tokens:
            raise NotFound(tracking_id)
        token = self.tokens[tracking_id]
        if token is None:
            raise InvalidState("not waiting")
        return token

    def clear_task_token(self, tracking_id: str, task_token: str) -> None:
        if self.crash_on_clear:
            raise RuntimeError("the process died")
        if self.tokens.get(tracking_id) == task_token:
            self.tokens[tracking_id] = None

    def record_failure(self, tracking_id: str, code: str, message: str) -> None:
        raise NotImplementedError

    def record_success(self, tracking_id: str) -> None:
        raise NotImplementedError


class Workflow:
    """Step Functions' side: a token is answered once; later answers are refused."""

    def __init__(self) -> None:
        self.answered: list[tuple[str, str]] = []
        self.crash_before_answer = False

    def _answer(self, token: str, outcome: str) -> None:
        if self.crash_before_answer:
            raise RuntimeError("the process died")
        if any(done == token for done, _ in self.answered):
            raise InvalidState("this checkout is not waiting for a 3-D Secure challenge")
        self.answered.append((token, outcome))

    def resume(self, task_token: str, output: dict[str, object]) -> None:
        self._answer(task_token, "passed")

    def fail_task(self, task_token: str, error: str, cause: str) -> None:
        self._answer(task_token, "failed")


def answer(
    checkouts: Checkouts, workflow: Workflow, *, passed: bool = True, caller: Caller | None = None
) -> None:
    answer_challenge(
        "chk_1",
        passed=passed,
        checkouts=checkouts,
        workflow=workflow,  # type: ignore[arg-type]
        intents=MerchantScopedIntents(checkouts.intents, caller or Caller(MERCHANT)),
    )


def test_an_answer_resumes_the_workflow_once_and_forgets_the_token() -> None:
    checkouts, workflow = Checkouts(), Workflow()
    answer(checkouts, workflow)
    assert (workflow.answered, checkouts.tokens["chk_1"]) == ([("token-1", "passed")], None)
    with pytest.raises(InvalidState):
        answer(checkouts, workflow, passed=False)
    assert workflow.answered == [("token-1", "passed")]


def test_a_crash_before_the_answer_is_sent_loses_nothing() -> None:
    checkouts, workflow = Checkouts(), Workflow()
    workflow.crash_before_answer = True
    with pytest.raises(RuntimeError):
        answer(checkouts, workflow)
    workflow.crash_before_answer = False
    answer(checkouts, workflow)  # the client's retry still finds the token
    assert workflow.answered == [("token-1", "passed")]


def test_a_crash_after_the_answer_is_sent_answers_once() -> None:
    checkouts, workflow = Checkouts(), Workflow()
    checkouts.crash_on_clear = True
    with pytest.raises(RuntimeError):
        answer(checkouts, workflow)
    checkouts.crash_on_clear = False
    with pytest.raises(InvalidState):  # Step Functions refuses the token again; it is then forgotten
        answer(checkouts, workflow)
    assert (workflow.answered, checkouts.tokens["chk_1"]) == ([("token-1", "passed")], None)


def test_a_newer_wait_keeps_its_token() -> None:
    checkouts = Checkouts()
    checkouts.require_action("chk_1", "token-2")
    checkouts.clear_task_token("chk_1", "token-1")
    assert checkouts.tokens["chk_1"] == "token-2"


def test_an_unknown_checkout_is_not_found() -> None:
    checkouts = Checkouts()
    with pytest.raises(NotFound):
        answer_challenge(
            "chk_none",
            passed=True,
            checkouts=checkouts,
            workflow=Workflow(),  # type: ignore[arg-type]
            intents=checkouts.intents,
        )


def test_another_merchants_checkout_is_not_found_and_its_challenge_waits() -> None:
    checkouts, workflow = Checkouts(), Workflow()
    with pytest.raises(NotFound) as refused:
        answer(checkouts, workflow, caller=Caller("mer_other"))
    assert str(refused.value) == "no checkout chk_1"  # the words an unknown checkout gets
    assert (workflow.answered, checkouts.tokens["chk_1"]) == ([], "token-1")
    answer(checkouts, workflow, caller=Caller.platform())  # a platform key acts for any merchant
    assert workflow.answered == [("token-1", "passed")]
