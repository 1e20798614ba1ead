"""refund-receipts: each REFUNDED event (the subscription's filter) sends its localised refund receipt.

Once per event: Powertools' idempotency utility keys the send by the event id, so SNS delivering the
event again, or Lambda retrying it, sends nothing more. A failure raises, so the delivery is retried
and, after Lambda's retries, kept in the subscribers' dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any, Final

from payments import bootstrap
from payments.functions.observability import observed
from payments.service.receipts import send_refund_receipt, wants_refund_receipt

KEPT_FOR_SECONDS: Final = 7 * 24 * 3600  # longer than SNS and Lambda ever retry one delivery


def _send(event: dict[str, Any]) -> dict[str, Any]:
    return send_refund_receipt(
        event,
        intents=bootstrap.intent_repository(),
        mailer=bootstrap.mailer(),
        suppressions=bootstrap.suppression_list(),
        clock=bootstrap.now,
    )


@bootstrap.once
def _send_once() -> Any:
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415 (cold start)
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="eventId",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEPT_FOR_SECONDS,
        hash_function="sha256",
    )
    store = DynamoDBPersistenceLayer(
        table_name=bootstrap.settings().idempotency_table, boto3_client=bootstrap.dynamodb()
    )
    return idempotent_function(
        _send,
        data_keyword_argument="event",
        persistence_store=store,
        config=config,
        key_prefix="refund-receipt",
    )


@observed
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = []
    for record in event.get("Records", []):
        body = json.loads(record["Sns"]["Message"])
        if wants_refund_receipt(body, intents=bootstrap.intent_repository()):
            results.append(_send_once()(event=body))
    return {"results": results}
