"""Publishing events from recorded movements (the transactions table's stream)."""

from __future__ import annotations

from payments.domain.events import event_for
from payments.domain.intents import Transaction
from payments.service.ports import EventLog, EventPublisher


def publish_movement(transaction: Transaction, *, publisher: EventPublisher, log: EventLog) -> None:
    """Publish, then keep: a crash in between publishes again on redelivery (at least once, never
    lost); subscribers deduplicate by the event id, which is the movement's id."""
    event = event_for(transaction)
    publisher.publish(event)
    log.record(event)
