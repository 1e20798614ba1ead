"""fraud-feedback: AUTHORIZED events (the subscription's filter) become each customer's approval history
(each merchant's customer's: customer ids are the merchant's own)."""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.functions.observability import observed
from payments.service.fraud import remember_approval


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    counted = sum(
        remember_approval(json.loads(record["Sns"]["Message"]), history=bootstrap.approval_history())
        for record in event.get("Records", [])
    )
    return {"counted": counted}
