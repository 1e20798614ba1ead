"""One cost of the emulator's SQS that grows with a queue's depth, removed locally.

Every `SendMessage` reads the queue's attributes to learn whether it deduplicates by content, and the
emulator builds all of them each time, including the approximate message counts, which walk every
message in the queue. A queue nobody drains locally (analytics, a dead-letter queue) then makes every
send slower than the last: 22 ms per publish to payment-events at first, 98 ms after 2,000. During a
send the counts are left out; `GetQueueAttributes` still computes them in full.
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
    Queue._payments_shimmed = True  # type: ignore[attr-defined]


def _without_counts(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def send(*args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return method(*args, **kwargs)
        finally:
            _sending.active = False

    return send
