"""Gateway webhooks (payments-webhooks): disputes opened and closed.

Each event's movement is recorded under an id derived from the webhook's event id, so a replayed
event finds its movement already there and changes nothing. An event for a payment not (yet) in the
right state is refused with a 409: the gateway retries it, which also puts reordered deliveries right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from payments.domain.errors import ConcurrentUpdate, InvalidRequest, NotFound
from payments.service.intents import Clock
from payments.service.ports import IntentRepository

DISPUTE_CREATED = "dispute.created"
DISPUTE_CLOSED = "dispute.closed"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    event_id: str
    type: str
    payment_intent_id: str | None
    dispute_id: str | None
    outcome: str | None


def parse_event(body: Any) -> GatewayEvent:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise InvalidRequest("a webhook is {id, type, createdAt, data}")
    event_id, event_type, data = body.get("id"), body.get("type"), body["data"]
    if not isinstance(event_id, str) or not _SAFE_ID.match(event_id) or not isinstance(event_type, str):
        raise InvalidRequest("the webhook needs a string id (letters, digits, _ and -) and a type")
    outcome = data.get("outcome")
    if event_type == DISPUTE_CLOSED and outcome not in {"won", "lost"}:
        raise InvalidRequest("dispute.closed needs data.outcome: won or lost")
    return GatewayEvent(
        event_id=event_id,
        type=event_type,
        payment_intent_id=data.get("paymentIntentId"),
        dispute_id=data.get("disputeId"),
        outcome=outcome,
    )


def movement_id_for(event_id: str) -> str:
    return f"whk_{event_id}"


def handle_gateway_event(event: GatewayEvent, *, intents: IntentRepository, clock: Clock) -> str:
    """ "applied", "replayed" or "ignored" (a type this stack does not act on)."""
    if event.type not in {DISPUTE_CREATED, DISPUTE_CLOSED}:
        return "ignored"
    if not event.payment_intent_id or not event.dispute_id:
        raise InvalidRequest("a dispute event needs data.paymentIntentId and data.disputeId")
    movement_id = movement_id_for(event.event_id)
    if is_recorded(intents, movement_id):
        return "replayed"
    intent = intents.get(event.payment_intent_id, consistent=True)
    if event.type == DISPUTE_CREATED:
        intent.open_dispute(movement_id=movement_id, now=clock(), gateway_reference=event.dispute_id)
    else:
        intent.close_dispute(
            won=dispute_won(event),
            movement_id=movement_id,
            now=clock(),
            gateway_reference=event.dispute_id,
        )
    try:
        intents.save(intent)
    except ConcurrentUpdate:
        if is_recorded(intents, movement_id):
            return "replayed"  # the same event, delivered twice at once
        raise
    return "applied"


def dispute_won(event: GatewayEvent) -> bool:
    """A closed dispute's outcome, read strictly: anything but "won" or "lost" is refused, never
    taken for a loss (which would hand the disputed funds back)."""
    match event.outcome:
        case "won":
            return True
        case "lost":
            return False
        case other:
            raise InvalidRequest(f"dispute.closed needs data.outcome: won or lost, not {other!r}")


def is_recorded(intents: IntentRepository, movement_id: str) -> bool:
    """Whether a webhook's movement is on the books already (its event was applied before)."""
    try:
        intents.get_transaction(movement_id)
    except NotFound:
        return False
    return True
