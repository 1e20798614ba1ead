"""receipt-feedback: SES's bounce and complaint events (the receipts configuration set publishes them to
the receipt-feedback topic) flag the receipt's intent, suppress the address and escalate repeats.

Every effect is counted once per message, so a redelivered notification changes nothing; a failure
raises, so SNS/Lambda retry it and, after that, the subscribers' dead-letter queue keeps it.
"""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.domain.receipts import parse_feedback
from payments.functions.observability import observed
from payments.service.receipts import record_feedback


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = [
        record_feedback(
            parse_feedback(json.loads(record["Sns"]["Message"])),
            intents=bootstrap.intent_repository(),
            suppressions=bootstrap.suppression_list(),
            customer_success=bootstrap.customer_success_alerts(),
            clock=bootstrap.now,
        )
        for record in event.get("Records", [])
    ]
    return {"results": results}
