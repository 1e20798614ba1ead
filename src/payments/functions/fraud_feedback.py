"""fraud-feedback: AUTHORIZED events (the subscription's filter) become each customer's approval history
(each merchant's customer's: customer ids are the merchant's own)."""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.service.fraud import remember_approval
from payments.service.ports import ApprovalHistory


@bootstrap.lambda_function(bootstrap.approval_history)
def handler(event: dict[str, Any], context: Any, history: ApprovalHistory) -> dict[str, int]:
    counted = sum(
        remember_approval(json.loads(record["Sns"]["Message"]), history=history)
        for record in event.get("Records", [])
    )
    return {"counted": counted}
