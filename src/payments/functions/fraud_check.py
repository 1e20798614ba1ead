"""fraud-check: invoked synchronously (lambda.invoke) with the attempt's signals; answers a decision."""

from __future__ import annotations

from typing import Any

from payments import bootstrap
from payments.adapters.fraud_client import assessment_to_payload, signals_from_payload
from payments.functions.observability import observed
from payments.service.fraud import screen


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    assessment = screen(
        signals_from_payload(event),
        velocity=bootstrap.velocity_counter(),
        rules=bootstrap.settings().fraud_rules,
    )
    return assessment_to_payload(assessment)
