"""fraud-check: invoked synchronously (lambda.invoke) with the attempt's signals; answers a decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payments import bootstrap
from payments.adapters.fraud_client import assessment_to_payload, signals_from_payload
from payments.domain.fraud import FraudRules
from payments.service.fraud import screen
from payments.service.ports import VelocityCounter


@dataclass(frozen=True, slots=True)
class Dependencies:
    velocity: VelocityCounter
    rules: FraudRules


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(velocity=bootstrap.velocity_counter(env), rules=env.settings.fraud_rules)


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    assessment = screen(signals_from_payload(event), velocity=deps.velocity, rules=deps.rules)
    return assessment_to_payload(assessment)
