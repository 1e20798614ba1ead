"""refund-receipts: each REFUNDED event (the subscription's filter) sends its localised refund receipt.

Once per event: Powertools' idempotency utility keys the send by the event id, so SNS delivering the
event again, or Lambda retrying it, sends nothing more. A failure raises, so the delivery is retried
and, after Lambda's retries, kept in the subscribers' dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from payments import bootstrap
from payments.service.ports import IntentRepository, Mailer, SuppressionList
from payments.service.receipts import send_refund_receipt, wants_refund_receipt

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

KEPT_FOR_SECONDS: Final = 7 * 24 * 3600  # longer than SNS and Lambda ever retry one delivery


@dataclass(frozen=True, slots=True)
class Dependencies:
    intents: IntentRepository
    mailer: Mailer
    suppressions: SuppressionList
    sent: BasePersistenceLayer  # where each event's send is kept, by its event id
    clock: Callable[[], datetime] = bootstrap.now


def wire(env: bootstrap.Environment) -> Dependencies:
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415 (cold start)
        DynamoDBPersistenceLayer,
    )

    return Dependencies(
        intents=bootstrap.intent_repository(env),
        mailer=bootstrap.mailer(env),
        suppressions=bootstrap.suppression_list(env),
        sent=DynamoDBPersistenceLayer(
            table_name=env.need("idempotency_table"), boto3_client=bootstrap.dynamodb(env)
        ),
    )


def _send_once(deps: Dependencies) -> Callable[..., dict[str, Any]]:
    """The send, once per event id: called again with the same event, it answers the first result."""
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415 (cold start)
        IdempotencyConfig,
        idempotent_function,
    )

    def send(event: dict[str, Any]) -> dict[str, Any]:
        return send_refund_receipt(
            event, intents=deps.intents, mailer=deps.mailer, suppressions=deps.suppressions, clock=deps.clock
        )

    config = IdempotencyConfig(
        event_key_jmespath="eventId",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEPT_FOR_SECONDS,
        hash_function="sha256",
    )
    once: Callable[..., dict[str, Any]] = idempotent_function(
        send,
        data_keyword_argument="event",
        persistence_store=deps.sent,
        config=config,
        key_prefix="refund-receipt",
    )
    return once


@bootstrap.lambda_function(wire)
def handler(event: dict[str, Any], context: Any, deps: Dependencies) -> dict[str, Any]:
    send = _send_once(deps)
    results = []
    for record in event.get("Records", []):
        body = json.loads(record["Sns"]["Message"])
        if wants_refund_receipt(body, intents=deps.intents):
            results.append(send(event=body))
    return {"results": results}
