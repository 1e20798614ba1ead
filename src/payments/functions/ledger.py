"""ledger: every payment event (the subscription has no filter) posts its entry, once by event id.

A failure raises, so Lambda retries the delivery and, after its retries, keeps it in the function's
dead-letter queue: an event is never dropped from the books silently.
"""

from __future__ import annotations

import json
from typing import Any

from payments import bootstrap
from payments.adapters.event_topic import event_from_body
from payments.service.ledger import post_event
from payments.service.ports import Ledger


@bootstrap.lambda_function(bootstrap.ledger)
def handler(event: dict[str, Any], context: Any, ledger: Ledger) -> dict[str, int]:
    posted = sum(
        post_event(event_from_body(json.loads(record["Sns"]["Message"])), ledger=ledger)
        for record in event.get("Records", [])
    )
    return {"posted": posted}
