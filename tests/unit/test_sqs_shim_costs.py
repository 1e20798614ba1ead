"""The emulator's SQS with `sqs_shim` installed: SQS's rules kept (FIFO groups, visibility, redrive,
retention, delay, long polling, deletes), and a receive that looks only at what it hands out."""

from __future__ import annotations

import datetime
import gc
import json
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import utils as moto_utils
from moto.sqs.models import Message, sqs_backends

from payments.local import sqs_shim

REGION = "us-east-1"
ACCOUNT = "123456789012"


class Clock:
    """The emulator's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2030, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(moto_utils, "utcnow", clock)
    return clock


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    sqs_shim.install()
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def fifo_queue(sqs: Any, name: str = "jobs.fifo", **attributes: str) -> str:
    return str(sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attributes})["QueueUrl"])


def send_fifo(sqs: Any, url: str, body: str, group: str) -> None:
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)


def receive(sqs: Any, url: str, count: int = 10, **extra: Any) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count, **extra).get("Messages", []))


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in messages]


def backend_queue(name: str) -> Any:
    return sqs_backends[ACCOUNT][REGION].queues[name]


def depth(sqs: Any, url: str) -> tuple[int, int, int]:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(got["ApproximateNumberOfMessages"]),
        int(got["ApproximateNumberOfMessagesNotVisible"]),
        int(got["ApproximateNumberOfMessagesDelayed"]),
    )


class VisibleAtReads:
    """Counts how many times anything reads a message's `visible_at`: the messages a receive examines."""

    def __init__(self) -> None:
        self.reads = 0

    def __get__(self, message: Any, owner: type) -> Any:
        if message is None:
            return self
        self.reads += 1
        return message.__dict__["visible_at"]

    def __set__(self, message: Any, value: float) -> None:
        message.__dict__["visible_at"] = value


# -- FIFO groups ------------------------------------------------------------------------------------
def test_a_group_with_a_message_in_flight_hands_out_nothing_else_and_keeps_its_order(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")]:
        send_fifo(sqs, url, body, group)

    [first] = receive(sqs, url, 1)
    assert first["Body"] == "a1"
    assert bodies(receive(sqs, url)) == ["b1", "b2"]  # group a is held by a1; b's messages, in order
    assert receive(sqs, url) == []  # both groups in flight

    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert bodies(receive(sqs, url)) == ["a2", "a3"]


def test_one_receive_takes_the_free_groups_messages_oldest_first(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body, group in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("b2", "b")]:
        send_fifo(sqs, url, body, group)
    assert bodies(receive(sqs, url, 4)) == ["a1", "b1", "a2", "c1"]
    assert receive(sqs, url) == []  # b2 waits behind b1


def test_a_message_made_visible_again_frees_its_group_at_once(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body in ["x1", "x2"]:
        send_fifo(sqs, url, body, "x")
    [first] = receive(sqs, url, 1, VisibilityTimeout=300)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    assert bodies(receive(sqs, url)) == ["x1", "x2"]


# -- visibility, delay, retention -------------------------------------------------------------------
def test_a_message_comes_back_when_its_visibility_timeout_ends_not_before(sqs: Any, clock: Clock) -> None:
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    [first] = receive(sqs, url, VisibilityTimeout=30)
    assert depth(sqs, url) == (0, 1, 0)

    clock.advance(29.999)
    assert receive(sqs, url) == []
    clock.advance(0.002)
    [again] = receive(sqs, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert (again["MessageId"], again["Attributes"]["ApproximateReceiveCount"]) == (first["MessageId"], "2")
    assert again["ReceiptHandle"] != first["ReceiptHandle"]


def test_a_fifo_group_waits_for_its_message_to_come_back(sqs: Any, clock: Clock) -> None:
    url = fifo_queue(sqs, VisibilityTimeout="60")
    for body in ["x1", "x2"]:
        send_fifo(sqs, url, body, "x")
    assert bodies(receive(sqs, url, 1)) == ["x1"]
    clock.advance(59)
    assert receive(sqs, url) == []
    clock.advance(2)
    assert bodies(receive(sqs, url)) == ["x1", "x2"]


def test_a_delayed_message_is_counted_and_handed_out_when_due(sqs: Any, clock: Clock) -> None:
    url = sqs.create_queue(QueueName="later")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=10)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert depth(sqs, url) == (1, 0, 1)
    assert bodies(receive(sqs, url, VisibilityTimeout=30)) == ["now"]
    clock.advance(10)
    assert bodies(receive(sqs, url)) == ["later"]


def test_a_message_past_the_retention_period_is_dropped_and_the_next_handed_out(
    sqs: Any, clock: Clock
) -> None:
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="old")
    clock.advance(30)
    sqs.send_message(QueueUrl=url, MessageBody="new")
    clock.advance(31)
    assert bodies(receive(sqs, url)) == ["new"]
    assert depth(sqs, url) == (0, 1, 0)


# -- redrive -----------------------------------------------------------------------------------------
def test_the_receive_that_finds_a_message_at_max_receive_count_moves_it_to_the_dead_letter_queue(
    sqs: Any,
) -> None:
    dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="live",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 2})},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    for _ in range(2):
        assert bodies(receive(sqs, url, 1, VisibilityTimeout=0)) == ["poison"]

    assert bodies(receive(sqs, url, 10, VisibilityTimeout=30)) == ["fine"]  # poison moved on the way
    [moved] = receive(sqs, dead, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert (moved["Body"], moved["Attributes"]["ApproximateReceiveCount"]) == ("poison", "3")  # counts on
    assert depth(sqs, url) == (0, 1, 0)


def test_a_fifo_group_goes_on_with_its_next_message_once_one_is_moved_to_the_dead_letter_queue(
    sqs: Any,
) -> None:
    dead = fifo_queue(sqs, "dead.fifo")
    dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = fifo_queue(sqs, RedrivePolicy=json.dumps({"deadLetterTargetArn": dead_arn, "maxReceiveCount": 1}))
    for body in ["x1", "x2"]:
        send_fifo(sqs, url, body, "x")
    assert bodies(receive(sqs, url, 1, VisibilityTimeout=0)) == ["x1"]
    assert bodies(receive(sqs, url)) == ["x2"]
    assert bodies(receive(sqs, dead)) == ["x1"]


# -- batches and long polling -----------------------------------------------------------------------
def test_a_batch_is_ten_in_sending_order_with_more_waiting(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="many")["QueueUrl"]
    for start in range(0, 25, 5):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(start, start + 5)]
        )
    assert bodies(receive(sqs, url, VisibilityTimeout=30)) == [f"m{n}" for n in range(10)]
    assert bodies(receive(sqs, url, VisibilityTimeout=30)) == [f"m{n}" for n in range(10, 20)]
    assert depth(sqs, url) == (5, 20, 0)


class Waits(threading.Condition):
    """The queue's condition, noting each wait a long poll makes and whether a notification ended it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.woken: list[bool] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.entered.set()
        woken = super().wait(timeout)
        self.woken.append(woken)
        return woken


def long_poll(sqs: Any, url: str, waits: Waits) -> tuple[threading.Thread, list[list[str]]]:
    got: list[list[str]] = []

    def poll() -> None:
        try:
            got.append(bodies(receive(sqs, url, WaitTimeSeconds=20, VisibilityTimeout=30)))
        finally:
            waits.entered.set()

    poller = threading.Thread(target=poll)
    poller.start()
    waits.entered.wait()
    return poller, got


def test_a_long_poll_wakes_when_a_message_arrives(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    waits = backend_queue("quiet")._messages_lock = Waits()
    poller, got = long_poll(sqs, url, waits)
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    poller.join()
    assert got == [["hello"]]
    assert waits.woken == [True]  # notified, not timed out


def test_a_long_poll_wakes_when_its_fifo_group_is_freed(sqs: Any) -> None:
    url = fifo_queue(sqs)
    for body in ["x1", "x2"]:
        send_fifo(sqs, url, body, "x")
    [held] = receive(sqs, url, 1, VisibilityTimeout=300)
    waits = backend_queue("jobs.fifo")._messages_lock = Waits()
    poller, got = long_poll(sqs, url, waits)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=held["ReceiptHandle"])
    poller.join()
    assert got == [["x2"]]
    assert waits.woken == [True]


def test_a_long_poll_wakes_when_a_message_of_a_standard_queue_is_made_visible_again(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="standard")["QueueUrl"]
    for body in ["a", "b"]:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    first, _second = receive(sqs, url, 2, VisibilityTimeout=300)  # both in flight: nothing to hand out
    waits = backend_queue("standard")._messages_lock = Waits()
    poller, got = long_poll(sqs, url, waits)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    poller.join()
    assert got == [[first["Body"]]]
    assert waits.woken[0] is True  # notified at once, not at the end of its wait


# -- deletes and memory ------------------------------------------------------------------------------
def test_a_second_delete_succeeds_until_the_receipt_handle_expires(sqs: Any, clock: Clock) -> None:
    url = sqs.create_queue(QueueName="done")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    [message] = receive(sqs, url)
    clock.advance(60)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    clock.advance(12 * 3600 - 61)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # still honoured
    clock.advance(2)
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_deleted_receipt_handles_are_kept_about_as_long_as_they_are_honoured(sqs: Any, clock: Clock) -> None:
    url = sqs.create_queue(QueueName="done")["QueueUrl"]
    for _ in range(4):
        for n in range(40):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
            [message] = receive(sqs, url)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        clock.advance(12 * 3600 + 1)
    # 160 deleted, 40 of them in the last 12 hours: the emulator kept all 160 (and a None) for good
    assert len(backend_queue("done").deleted_messages) <= 2 * 40


def test_deleted_messages_are_not_kept_in_memory(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="gone")["QueueUrl"]
    kept = []
    for n in range(100):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        [stored] = list(backend_queue("gone")._messages)
        kept.append(weakref.ref(stored))
        del stored
        [message] = receive(sqs, url, VisibilityTimeout=30)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    gc.collect()
    # The emulator kept every message it made (and every copy a receive returned) for good; here a
    # deleted one may linger only among a bounded number of entries not yet due in the in-flight heap.
    assert kept[0]() is None
    assert sum(ref() is not None for ref in kept) < 100


def test_a_purged_queue_is_empty_and_takes_messages_again(sqs: Any) -> None:
    url = fifo_queue(sqs)
    send_fifo(sqs, url, "x1", "x")
    receive(sqs, url)
    sqs.purge_queue(QueueUrl=url)
    assert depth(sqs, url) == (0, 0, 0)
    send_fifo(sqs, url, "x2", "x")
    assert bodies(receive(sqs, url)) == ["x2"]


# -- what a receive looks at -------------------------------------------------------------------------
def fill(name: str, count: int, group: Any = None) -> None:
    backend = sqs_backends[ACCOUNT][REGION]
    for n in range(count):
        if group is None:
            backend.send_message(name, f"m{n}")
        else:
            backend.send_message(name, f"m{n}", group_id=group(n), deduplication_id=f"m{n}")


def test_a_receive_from_a_deep_queue_looks_only_at_the_messages_it_hands_out(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    fill("deep", 20_000)
    backend = sqs_backends[ACCOUNT][REGION]
    for _ in range(1_999):
        backend.receive_message("deep", 10, 0, 300)  # the first 19,990 in flight

    probe = VisibleAtReads()
    monkeypatch.setattr(Message, "visible_at", probe, raising=False)
    assert bodies(receive(sqs, url)) == [f"m{n}" for n in range(19_990, 20_000)]
    assert probe.reads <= 20  # the 10 handed out, at most twice each; not the 19,990 in flight


def test_a_receive_steps_over_held_fifo_groups_without_looking_at_their_messages(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fifo_queue(sqs, "deep.fifo")
    fill("deep.fifo", 10_000, group=lambda n: f"held{n % 10}")
    backend = sqs_backends[ACCOUNT][REGION]
    assert len(backend.receive_message("deep.fifo", 10, 0, 300)) == 10  # each held group's first
    for n in range(10):
        send_fifo(sqs, url, f"free{n}", "free")

    probe = VisibleAtReads()
    monkeypatch.setattr(Message, "visible_at", probe, raising=False)
    assert bodies(receive(sqs, url)) == [f"free{n}" for n in range(10)]
    assert probe.reads <= 20  # not the 9,990 waiting behind the ten in flight
