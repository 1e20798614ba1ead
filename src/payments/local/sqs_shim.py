"""Costs of the emulator's SQS that grow with a queue's depth, removed locally.

1. Every `SendMessage` reads the queue's attributes to learn whether it deduplicates by content, and the
   emulator builds all of them each time, including the approximate message counts, which walk every
   message in the queue. A queue nobody drains locally (analytics, a dead-letter queue) then makes
   every send slower than the last: 22 ms per publish to payment-events at first, 98 ms after 2,000.
   During a send, and a receive (which reads the retention period the same way, twice per message it
   looks at), the counts are left out; `GetQueueAttributes` still computes them in full.
2. A FIFO send compares its deduplication id with every message in the queue: 50,000 refund jobs cost
   1.25 billion comparisons. Here each queue keeps an index of the ids it took in the last five
   minutes, which is also SQS's own rule (a deleted message's id still deduplicates until then).
3. Receiving (and counting) asks each message whether it is visible and not delayed, each answer
   reading the clock twice. Here the clock is read once per call.
4. Deleting a message looks for its receipt handle through the whole queue, twice. A message being
   deleted is nearly always one in flight, so it is looked for among those first.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar

_COUNTS = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)
_sending = threading.local()
DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000
PRUNE_AT = 100_000


def install() -> None:
    """Patch the emulator's SQS (once per process, as its backends are per process)."""
    from moto.sqs.models import Queue, SQSBackend  # noqa: PLC0415 (local only)

    if getattr(Queue, "_payments_shimmed", False):
        return
    full = Queue.attributes.fget  # type: ignore[attr-defined]
    assert full is not None

    class WithoutCounts:
        """The queue as `attributes` sees it, minus the counts (no shared state changes)."""

        BASE_ATTRIBUTES: ClassVar[list[str]] = [name for name in Queue.BASE_ATTRIBUTES if name not in _COUNTS]

        def __init__(self, queue: Any) -> None:
            self._queue = queue

        def __getattr__(self, name: str) -> Any:
            return getattr(self._queue, name)

    def attributes(queue: Any) -> dict[str, Any]:
        sending = getattr(_sending, "active", False)
        return full(WithoutCounts(queue) if sending else queue)  # type: ignore[no-any-return]

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = _without_counts(SQSBackend.send_message)  # type: ignore[method-assign]
    # Receiving reads the retention period through the full attributes, twice per message it looks at;
    # a batch send checks each entry with them.
    SQSBackend.receive_message = _without_counts(SQSBackend.receive_message)  # type: ignore[method-assign]
    SQSBackend.send_message_batch = _without_counts(SQSBackend.send_message_batch)  # type: ignore[method-assign]
    Queue.add_message = _indexed_deduplication(Queue.add_message)  # type: ignore[method-assign]
    Queue.messages = property(_visible_messages)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_delayed = property(_delayed)  # type: ignore[assignment,method-assign]
    Queue.approximate_number_of_messages_not_visible = property(_in_flight)  # type: ignore[assignment,method-assign]
    Queue.delete_message = _in_flight_first(Queue.delete_message)  # type: ignore[method-assign]
    Queue._payments_shimmed = True  # type: ignore[attr-defined]


def _now() -> int:
    from moto.core.utils import unix_time_millis  # noqa: PLC0415

    return int(unix_time_millis())


def _visible_messages(queue: Any) -> list[Any]:
    """Visible and not delayed, as the emulator decides it, with one reading of the clock."""
    now = _now()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _in_flight_first(delete_message: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(delete_message)
    def delete(queue: Any, receipt_handle: str) -> None:
        if receipt_handle in queue.deleted_messages:
            return  # deleted already: SQS accepts it again
        target = next((m for m in queue.pending_messages if m.had_receipt_handle(receipt_handle)), None)
        if target is None:
            delete_message(queue, receipt_handle)  # not in flight: the emulator's own search
            return
        with queue._messages_lock:
            queue._messages = [message for message in queue._messages if message is not target]
            queue.pending_messages.discard(target)
            queue.deleted_messages.update(target.all_receipt_handles)

    return delete


def _delayed(queue: Any) -> int:
    now = _now()
    return sum(1 for message in queue._messages if now < message.delayed_until)


def _in_flight(queue: Any) -> int:
    now = _now()
    return sum(1 for message in queue._messages if now <= message.visible_at)


def _indexed_deduplication(add_message: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(add_message)
    def add(queue: Any, message: Any) -> None:
        if not queue.fifo_queue or queue.lambda_event_source_mappings or not message.deduplication_id:
            add_message(queue, message)
            return
        with queue._messages_lock:
            seen: dict[str, int] = queue.__dict__.setdefault("_payments_deduplication", {})
            taken = seen.get(message.deduplication_id)
            if taken is not None and message.sent_timestamp - taken < DEDUPLICATION_WINDOW_MS:
                return  # accepted, not delivered again
            if len(seen) > PRUNE_AT:
                for key in [
                    k for k, at in seen.items() if message.sent_timestamp - at >= DEDUPLICATION_WINDOW_MS
                ]:
                    del seen[key]
            seen[message.deduplication_id] = message.sent_timestamp
            queue._messages.append(message)
            queue._messages_lock.notify_all()

    return add


def _without_counts(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def send(*args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _sending.active = False

    return send
