"""Costs of the emulator's SQS that grow with a queue's depth, or with every message it ever held, removed.

1. Receiving walked the whole queue: it listed every visible message (reading the clock for each),
   deep-copied the set of message groups in flight, and only then looked for `count` messages; a FIFO
   group whose first message is in flight made it step over every message behind it, and a long poll
   on such a queue spun, as the queue always had visible messages (1.2 s of CPU in a 2 s poll), and
   did not see a group freed while it waited. A 5,000-row refund file spent 65 % of its CPU there.
   Receive+delete cost 0.24 to 0.41 ms a message on an empty standard queue, 1.5 to 1.8 ms with 50,000
   messages waiting, 33 to 34 ms in a FIFO queue whose 50,000 waiting messages sit behind one in
   flight; now about 0.1 ms in each case. Here each queue keeps its messages by state (`_Line`):
   waiting ones in sending order per message group, those in flight and those delayed by the time they
   come due. A receive looks at the groups that may hand out a message, oldest message first, and stops
   at `count`; it looks at no message in flight, nor into a group with one. SQS's rules stay: a FIFO
   group with a message in flight hands out nothing else (one receive may take several of a group's
   messages, in order); a message comes back when its visibility timeout ends (counted from the
   receive, so a batch comes back whole); the receive that finds a message at its `maxReceiveCount`
   moves it to the dead-letter queue; delay; message
   attributes filtered on the copy returned; a long poll waits on the queue's condition and returns as
   soon as a message arrives or a group is freed. A message past the retention period is dropped when a
   receive reaches it, as SQS deletes it (the emulator marked it received and handed out nothing); two
   receives at once can no longer hand out one message twice. `GetQueueAttributes` counts come from
   the same states, without a walk.
2. Deleting looked for the receipt handle through the whole queue, twice, then rebuilt the queue's
   list: 0.97 ms a delete with 50,000 messages waiting. An index of receipt handles finds the message.
3. The emulator kept every receipt handle ever deleted, so that a second delete succeeds as in SQS: the
   set only grew. SQS honours a receipt handle for 12 hours from the receive that gave it (then: "The
   receipt handle has expired"); a deleted one is kept that long here, as a hash, then dropped.
4. The emulator keeps every model object it makes, for its debug listing (`/moto-api/data.json`), until
   a reset: each message, and each copy a receive returned. With 3, a message sent, received and
   deleted left 2,773 bytes behind for good (a 1,000-character body); now 119, until its handle expires.
   Messages are made without that record here (the listing shows none).
5. Every `SendMessage` reads the queue's attributes to learn whether it deduplicates by content; the
   approximate message counts among them walked every message: 22 ms per publish to payment-events at
   first, 98 ms after 2,000. They are left out while sending (with 1 they cost no walk, still a third
   of building the attributes).
6. A FIFO send compared its deduplication id with every message in the queue: 50,000 refund jobs cost
   1.25 billion comparisons. Each queue keeps an index of the ids it took in the last five minutes,
   which is also SQS's own rule (a deleted message's id still deduplicates until then), forgotten in
   the order they were taken.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
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
RECEIPT_HANDLE_LIFETIME_MS = 12 * 60 * 60 * 1000  # SQS: a receipt handle expires 12 hours after its receive
MAX_VISIBILITY_FROM_SEND_MS = 43200 * 1000  # the emulator's rule for ChangeMessageVisibility, kept as it is

_WAITING, _IN_FLIGHT, _DELAYED = 0, 1, 2


def install() -> None:
    """Patch the emulator's SQS (once per process, as its backends are per process)."""
    from moto.sqs.models import Message, Queue, SQSBackend  # noqa: PLC0415 (local only)

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
    SQSBackend.send_message_batch = _without_counts(SQSBackend.send_message_batch)  # type: ignore[method-assign]

    # The queue's messages, by state (`_Line`), wherever the emulator's own code reaches for them.
    replaced: dict[str, Any] = {
        "_messages": property(_line, _replace_messages),
        "deleted_messages": property(
            lambda queue: _line(queue).deleted, lambda queue, handles: _line(queue).deleted.reset(handles)
        ),
        "pending_messages": property(lambda queue: _line(queue).in_flight),
        "pending_message_groups": property(
            lambda queue: {m.group_id for m in _line(queue).in_flight if m.group_id is not None}
        ),
        "messages": property(lambda queue: _line(queue).waiting()),
        "approximate_number_of_messages": property(lambda queue: _line(queue).counts()[0]),
        "approximate_number_of_messages_not_visible": property(lambda queue: _line(queue).counts()[1]),
        "approximate_number_of_messages_delayed": property(lambda queue: _line(queue).counts()[2]),
        "add_message": _indexed_deduplication(Queue.add_message),
        "delete_message": lambda queue, receipt_handle: _line(queue).delete(receipt_handle),
        "wait_for_messages": lambda queue, timeout: _line(queue).wait_for_waiting(timeout),
    }
    for name, value in replaced.items():
        setattr(Queue, name, value)
    SQSBackend.receive_message = _receive_message  # type: ignore[assignment,method-assign]
    SQSBackend.change_message_visibility = _change_message_visibility  # type: ignore[assignment,method-assign]
    Message.__new__ = staticmethod(_untracked)  # type: ignore[method-assign]
    Queue._payments_shimmed = True  # type: ignore[attr-defined]


def _now() -> float:
    """The emulator's clock (what it stamps `visible_at` and `delayed_until` with), in milliseconds."""
    from moto.core.utils import unix_time_millis  # noqa: PLC0415

    return unix_time_millis()


class _Group:
    """One message group's waiting messages (a heap by sending order) and how many it has in flight."""

    __slots__ = ("announced", "in_flight", "size", "waiting")

    def __init__(self) -> None:
        self.waiting: list[tuple[int, Any]] = []
        self.in_flight = 0
        self.size = 0  # messages of the group in the queue, in any state
        self.announced: int | None = None  # the head's sequence number last put on the line's `heads`


class _DeletedHandles:
    """Receipt handles of deleted messages, each until it expires (12 hours after its receive), so that
    deleting again succeeds as in SQS. Kept as hashes; the expired ones are dropped whenever the record
    has doubled since the last look, so it holds about what was deleted in the last 12 hours."""

    def __init__(self) -> None:
        self._until: dict[int, float] = {}
        self._look_at = 64

    def record(self, handle: str, until: float, now: float) -> None:
        self._until[hash(handle)] = until
        if len(self._until) > self._look_at:
            self._until = {key: at for key, at in self._until.items() if now < at}
            self._look_at = max(64, 2 * len(self._until))

    def honours(self, handle: str, now: float) -> bool:
        until = self._until.get(hash(handle))
        return until is not None and now < until

    def reset(self, handles: Any) -> None:
        self._until.clear()
        self.update(handles)

    # what the emulator's own code does with its set of deleted handles
    def update(self, handles: Any) -> None:
        now = _now()
        for handle in handles:
            if handle:
                self.record(handle, now + RECEIPT_HANDLE_LIFETIME_MS, now)

    def add(self, handle: str) -> None:
        self.update([handle])

    def __contains__(self, handle: object) -> bool:
        return isinstance(handle, str) and self.honours(handle, _now())

    def __len__(self) -> int:
        return len(self._until)


class _Line:
    """A queue's messages by state. Waiting messages sit in their group's heap by sending order; `heads`
    holds, for each group that may hand out a message, its oldest waiting message's sequence number
    (entries that no longer match are dropped when met). Messages in flight and delayed ones sit in
    heaps by the time they come due, moved to their group's heap by `_due`. All under the queue's own
    condition (a reentrant lock), which a long poll waits on. Iterating gives every message in sending
    order, as the emulator's list did."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self._sequence = itertools.count()
        self._tick = itertools.count()
        self.order: dict[Any, int] = {}  # every message in the queue -> its sequence number
        self.state: dict[Any, int] = {}
        self.groups: dict[str | None, _Group] = {}
        self.heads: list[tuple[int, str | None]] = []
        self.queued: set[Any] = set()  # messages with an entry in their group's heap
        self.in_flight: set[Any] = set()
        self._visible_again: list[tuple[float, int, Any]] = []
        self._delayed: list[tuple[float, int, Any]] = []
        self.delayed = 0
        self.handles: dict[str, tuple[Any, float]] = {}  # receipt handle -> message, when it was given
        self.deleted = _DeletedHandles()
        self.deduplication: dict[str, int] = {}
        self._taken_ids: deque[tuple[int, str]] = deque()

    @property
    def lock(self) -> Any:
        return self.queue._messages_lock

    # -- the emulator's list, as its own code uses it ---------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        with self.lock:
            return iter(list(self.order))

    def __len__(self) -> int:
        return len(self.order)

    def __bool__(self) -> bool:
        return bool(self.order)

    def __contains__(self, message: object) -> bool:
        return message in self.order

    def __getitem__(self, index: int) -> Any:
        with self.lock:
            return list(self.order)[index]

    def append(self, message: Any) -> None:
        with self.lock:
            if message in self.order:
                return
            now = _now()
            number = next(self._sequence)
            self.order[message] = number
            group = self._group_of(message, create=True)
            group.size += 1
            if now < message.delayed_until:
                self.state[message] = _DELAYED
                self.delayed += 1
                heapq.heappush(self._delayed, (message.delayed_until, next(self._tick), message))
            elif now <= message.visible_at:
                self._fly(message, group)
            else:
                self._wait(message, group)
            self.lock.notify_all()

    def remove(self, message: Any) -> None:
        with self.lock:
            if message not in self.order:
                raise ValueError("message not in queue")
            self._drop(message)

    def clear(self) -> None:
        with self.lock:
            self.order.clear()
            self.state.clear()
            self.groups.clear()
            self.heads.clear()
            self.queued.clear()
            self.in_flight.clear()
            self._visible_again.clear()
            self._delayed.clear()
            self.delayed = 0
            self.handles.clear()

    # -- states -----------------------------------------------------------------------------------
    def _key(self, message: Any) -> str | None:
        return message.group_id if self.queue.fifo_queue else None

    def _group_of(self, message: Any, *, create: bool = False) -> _Group:
        key = self._key(message)
        group = self.groups.get(key)
        if group is None:
            assert create, "a message of the queue has its group"
            group = self.groups[key] = _Group()
        return group

    def _wait(self, message: Any, group: _Group) -> None:
        self.state[message] = _WAITING
        if message not in self.queued:
            self.queued.add(message)
            heapq.heappush(group.waiting, (self.order[message], message))
        self._announce(self._key(message), group)

    def _fly(self, message: Any, group: _Group) -> None:
        self.state[message] = _IN_FLIGHT
        self.in_flight.add(message)
        group.in_flight += 1
        heapq.heappush(self._visible_again, (message.visible_at, next(self._tick), message))
        if len(self._visible_again) > 2 * len(self.in_flight) + 64:  # changed or deleted: stale entries
            self._visible_again = [(m.visible_at, next(self._tick), m) for m in self.in_flight]
            heapq.heapify(self._visible_again)

    def _land(self, message: Any, group: _Group) -> None:
        """In flight no more: waiting again (a long poll wakes for it), and its group free once none of
        it is in flight (a standard queue's one group never blocks)."""
        self.in_flight.discard(message)
        group.in_flight -= 1
        self._wait(message, group)
        if not group.in_flight or not self.queue.fifo_queue:
            self.lock.notify_all()

    def _drop(self, message: Any) -> None:
        """Out of the queue (deleted, moved to the dead-letter queue, past retention, purged)."""
        state = self.state.pop(message)
        del self.order[message]
        self.queued.discard(message)
        key = self._key(message)
        group = self.groups[key]
        group.size -= 1
        if state == _IN_FLIGHT:
            self.in_flight.discard(message)
            group.in_flight -= 1
            if not group.in_flight:
                self.lock.notify_all()
        elif state == _DELAYED:
            self.delayed -= 1
        for handle in message.all_receipt_handles:
            if handle is not None:
                self.handles.pop(handle, None)
        if group.size:
            self._announce(key, group)
        else:
            del self.groups[key]

    def _head(self, group: _Group) -> tuple[int, Any] | None:
        waiting = group.waiting
        while waiting:
            number, message = waiting[0]
            if self.state.get(message) == _WAITING and self.order.get(message) == number:
                return waiting[0]
            heapq.heappop(waiting)
            if self.order.get(message) == number:
                self.queued.discard(message)
        return None

    def _announce(self, key: str | None, group: _Group) -> None:
        head = self._head(group)
        if head is not None and group.announced != head[0]:
            group.announced = head[0]
            heapq.heappush(self.heads, (head[0], key))
            if len(self.heads) > 2 * len(self.groups) + 64:  # entries of old heads
                self._reannounce()

    def _reannounce(self) -> None:
        self.heads = []
        for key, group in self.groups.items():
            head = self._head(group)
            group.announced = None if head is None else head[0]
            if head is not None:
                self.heads.append((head[0], key))
        heapq.heapify(self.heads)

    def _due(self, now: float) -> None:
        """Messages whose visibility timeout or delay has ended, waiting again."""
        again = self._visible_again
        while again and again[0][0] < now:
            visible_at, _, message = heapq.heappop(again)
            if self.state.get(message) == _IN_FLIGHT and message.visible_at == visible_at:
                self._land(message, self.groups[self._key(message)])
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            _, _, message = heapq.heappop(delayed)
            if self.state.get(message) == _DELAYED:
                self.delayed -= 1
                self._wait(message, self.groups[self._key(message)])
                self.lock.notify_all()

    def _next_due(self, now: float) -> float:
        """Seconds until a message in flight or delayed may come due."""
        soonest = min(
            (heap[0][0] for heap in (self._visible_again, self._delayed) if heap),
            default=math.inf,
        )
        return max((soonest - now) / 1000, 0.001)

    # -- the API ----------------------------------------------------------------------------------
    def take(
        self, now: float, count: int, visibility_timeout: int, attribute_names: list[str]
    ) -> tuple[list[Any], list[Any]]:
        """Up to `count` messages received (copies, as the emulator returns), and those it found at
        their `maxReceiveCount`, taken out for the dead-letter queue."""
        from moto.sqs.models import _filter_message_attributes  # noqa: PLC0415

        queue = self.queue
        self._due(now)
        received: list[Any] = []
        for_dead_letters: list[Any] = []
        taking: set[str | None] = set()  # groups this receive took from: free when it started
        again: list[Any] = []  # received with no visibility timeout: still waiting
        fifo = queue.fifo_queue
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        retention_ms = int(queue.message_retention_period) * 1000
        while len(received) < count and self.heads:
            number, key = heapq.heappop(self.heads)
            group = self.groups.get(key)
            if group is None:
                continue
            if group.announced == number:
                group.announced = None
            head = self._head(group)
            if head is None or head[0] != number:
                self._announce(key, group)
                continue
            if fifo and key is not None and group.in_flight and key not in taking:
                continue  # a message of the group is in flight: announced again when none is
            _, message = heapq.heappop(group.waiting)
            self.queued.discard(message)
            if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                self._drop(message)
                for_dead_letters.append(message)
                continue
            if message.sent_timestamp + retention_ms <= now:
                self._drop(message)  # SQS deletes what outlives the retention period
                continue
            message.mark_received(visibility_timeout=visibility_timeout)
            self.handles[message.receipt_handle] = (message, now)
            if int(visibility_timeout or 0):
                # From the receive, as SQS counts it (the emulator read the clock again per message): a
                # batch comes back whole, not one message a few microseconds before the rest.
                message.visible_at = now + int(visibility_timeout) * 1000
                self._fly(message, group)
            else:
                again.append(message)
            taking.add(key)
            received.append(_copy(message, attribute_names, _filter_message_attributes))
            self._announce(key, group)
        for message in again:
            self._wait(message, self._group_of(message))
        return received, for_dead_letters

    def delete(self, receipt_handle: str) -> None:
        from moto.sqs.exceptions import ReceiptHandleIsInvalid  # noqa: PLC0415

        with self.lock:
            now = _now()
            if self.deleted.honours(receipt_handle, now):
                return  # deleted already: SQS accepts it again
            found = self.handles.get(receipt_handle)
            if found is None:
                raise ReceiptHandleIsInvalid()
            message = found[0]
            handles = [handle for handle in message.all_receipt_handles if handle is not None]
            given = {handle: self.handles[handle][1] for handle in handles if handle in self.handles}
            self._drop(message)
            for handle in handles:
                self.deleted.record(handle, given.get(handle, now) + RECEIPT_HANDLE_LIFETIME_MS, now)

    def change_visibility(self, receipt_handle: str, visibility_timeout: int) -> None:
        from moto.sqs.exceptions import InvalidParameterValue, ReceiptHandleIsInvalid  # noqa: PLC0415

        with self.lock:
            found = self.handles.get(receipt_handle)
            if found is None:
                raise ReceiptHandleIsInvalid()
            message = found[0]
            now = _now()
            if now + int(visibility_timeout) * 1000 - message.sent_timestamp > MAX_VISIBILITY_FROM_SEND_MS:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                )
            message.change_visibility(visibility_timeout)
            group = self._group_of(message)
            state = self.state[message]
            if not int(visibility_timeout):
                if state == _IN_FLIGHT:
                    self._land(message, group)
            elif state == _IN_FLIGHT:
                heapq.heappush(self._visible_again, (message.visible_at, next(self._tick), message))
                self.lock.notify_all()  # a long poll waiting for the old, later time waits for this one
            elif state == _WAITING:
                self._fly(message, group)

    def counts(self) -> tuple[int, int, int]:
        """Visible, in flight, delayed: what the emulator counted by asking every message."""
        with self.lock:
            self._due(_now())
            in_flight = len(self.in_flight)
            return len(self.order) - in_flight - self.delayed, in_flight, self.delayed

    def waiting(self) -> list[Any]:
        with self.lock:
            self._due(_now())
            return [m for m in self.order if self.state[m] == _WAITING]

    def wait_for_waiting(self, timeout: float) -> None:
        with self.lock:
            self.lock.wait_for(lambda: self.counts()[0] > 0, timeout=timeout)

    def receive(
        self, count: int, wait_seconds: int, visibility_timeout: int, attribute_names: list[str]
    ) -> list[Any]:
        """The emulator's receive, long polling included: as soon as a message can be handed out."""
        deadline = _now() + int(wait_seconds) * 1000
        while True:
            with self.lock:
                while True:
                    now = _now()
                    received, for_dead_letters = self.take(now, count, visibility_timeout, attribute_names)
                    if received or for_dead_letters or not wait_seconds or now >= deadline:
                        break
                    self.lock.wait(min((deadline - now) / 1000, self._next_due(now)))
            for message in for_dead_letters:
                self.queue.dead_letter_queue.add_message(message)
            if received or not wait_seconds or _now() >= deadline:
                return received


def _copy(
    message: Any, attribute_names: list[str], filter_attributes: Callable[[Any, list[str]], None]
) -> Any:
    """The message as one receive returns it: its fields as they are now, its message attributes
    filtered. Not constructed through the emulator's models, which would keep it for good."""
    copy = object.__new__(type(message))
    copy.__dict__.update(message.__dict__)
    filter_attributes(copy, attribute_names)
    return copy


def _line(queue: Any) -> _Line:
    line = queue.__dict__.get("_payments_line")
    if line is None:
        line = queue.__dict__["_payments_line"] = _Line(queue)
        # A queue made before the patch: its messages and deleted handles taken over.
        for message in queue.__dict__.pop("_messages", None) or []:
            line.append(message)
            for handle in message.all_receipt_handles:
                if handle is not None:
                    line.handles[handle] = (message, _now())
        line.deleted.update(queue.__dict__.pop("deleted_messages", None) or ())
    return line  # type: ignore[no-any-return]


def _replace_messages(queue: Any, messages: Any) -> None:
    """The emulator sets the list when a queue is made (empty) and purged (emptied)."""
    line = _line(queue)
    if messages is line or "_messages_lock" not in queue.__dict__:
        return  # the same line, or a queue being made (its lock comes next): nothing to replace
    line.clear()
    for message in list(messages):
        line.append(message)


def _receive_message(  # noqa: PLR0917 (the emulator's signature)
    backend: Any,
    queue_name: str,
    count: int,
    wait_seconds_timeout: int,
    visibility_timeout: int,
    message_attribute_names: list[str] | None = None,
) -> list[Any]:
    queue = backend.get_queue(queue_name)
    return _line(queue).receive(
        count, wait_seconds_timeout, visibility_timeout, message_attribute_names or []
    )


def _change_message_visibility(
    backend: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
) -> None:
    _line(backend.get_queue(queue_name)).change_visibility(receipt_handle, visibility_timeout)


def _untracked(cls: type, *_args: Any, **_kwargs: Any) -> Any:
    """A message made without the emulator's record of every model object it ever made."""
    return object.__new__(cls)


def _indexed_deduplication(add_message: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(add_message)
    def add(queue: Any, message: Any) -> None:
        if not queue.fifo_queue or queue.lambda_event_source_mappings or not message.deduplication_id:
            add_message(queue, message)
            return
        line = _line(queue)
        with line.lock:
            seen, order, sent = line.deduplication, line._taken_ids, message.sent_timestamp
            while order and sent - order[0][0] >= DEDUPLICATION_WINDOW_MS:
                at, key = order.popleft()
                if seen.get(key) == at:
                    del seen[key]
            taken = seen.get(message.deduplication_id)
            if taken is not None and sent - taken < DEDUPLICATION_WINDOW_MS:
                return  # accepted, not delivered again
            seen[message.deduplication_id] = sent
            order.append((sent, message.deduplication_id))
            line.append(message)

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
