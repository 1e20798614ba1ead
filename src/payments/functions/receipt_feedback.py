"""receipt-feedback: SES's bounce and complaint events (the receipts configuration set publishes them to
the receipt-feedback topic) flag the receipt's intent, suppress the address and escalate repeats.

Every effect is counted once per message, so a redelivered notification changes nothing; a failure
raises, so SNS/Lambda retry it and, after that, the subscribers' dead-letter queue keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments import bootstrap
from payments.domain.receipts import parse_feedback
from payments.service.ports import IntentRepository, OpsAlerts, SuppressionList
from payments.service.receipts import record_feedback


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    suppressions: SuppressionList
    customer_success: OpsAlerts
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    return Dependencies(
        intents=bootstrap.intent_repository(env),
        suppressions=bootstrap.suppression_list(env),
        customer_success=bootstrap.customer_success_alerts(env),
    )


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    results = [
        record_feedback(
            parse_feedback(json.loads(record["Sns"]["Message"])),
            intents=deps.intents,
            suppressions=deps.suppressions,
            customer_success=deps.customer_success,
            clock=deps.clock,
        )
        for record in event.get("Records", [])
    ]
    return {"results": results}
