"""What a checkout's view and its challenge answer both need (see `wiring`)."""

from __future__ import annotations

from dataclasses import dataclass

from payments import bootstrap
from payments.service.ports import CheckoutRepository, IntentRepository, Workflow


@dataclass(frozen=True, slots=True)
class Checkouts:
    """What a checkout's view and its challenge need: its record, its execution and its payment."""

    checkouts: CheckoutRepository
    workflow: Workflow
    intents: IntentRepository


def checkouts(env: bootstrap.Environment) -> Checkouts:
    return Checkouts(
        checkouts=bootstrap.checkout_repository(env),
        workflow=bootstrap.workflow(env),
        intents=bootstrap.intent_repository(env),
    )
