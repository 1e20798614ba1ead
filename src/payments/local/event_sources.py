"""Event sources as Lambda runs them: a DynamoDB stream poller and an SQS queue poller.

The emulator's own event source mapping would call the function inside the write that made the
record, one record at a time. Lambda instead polls the stream and hands the function batches in order,
asynchronously, retrying a failed batch (or, with `ReportBatchItemFailures`, from its checkpoint: the
failed record with the lowest sequence number) up to `MaximumRetryAttempts`, then setting it aside. This
poller does the same through the Streams API.

For a queue, Lambda receives batches (long polling), invokes the function with them, and deletes what
succeeded: all of the batch, or with `ReportBatchItemFailures` all but the messages the function names.
What is not deleted becomes visible again when its visibility timeout ends, and the queue's redrive
policy moves a message to its dead-letter queue after `maxReceiveCount` receives. A FIFO queue hands
out a message group's messages in order, one batch of a group at a time.

Both sources read a function's partial batch response with one set of rules, Lambda's
(`parse_batch_response`): no response, an empty one, or a null or empty `batchItemFailures` list is
full success; a response Lambda cannot read (not a JSON object, `batchItemFailures` not a list, an
entry not an object, an `itemIdentifier` missing, null, empty or not a string, or naming no item of the
batch) fails the whole batch, so nothing is deleted from the queue and the stream retries every record.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from payments.local.invoker import Invocation

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Invocation]


# -- partial batch responses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchResponse:
    """What Lambda makes of a function's answer to a batch: the items to retry, or the whole batch."""

    failed: frozenset[str] = frozenset()  # items the function named, every one of them in the batch
    whole_batch: bool = False  # the invocation failed, or its answer could not be read
    reason: str | None = None  # why the whole batch failed

    @classmethod
    def whole_batch_failed(cls, reason: str) -> BatchResponse:
        return cls(whole_batch=True, reason=reason)

    @property
    def succeeded(self) -> bool:
        return not self.whole_batch and not self.failed

    def retries(self, identifier: str) -> bool:
        """Whether the item comes back: the queue does not delete it, the stream reads it again."""
        return self.whole_batch or identifier in self.failed


def parse_batch_response(payload: Any, identifiers: Collection[str]) -> BatchResponse:
    """A function's answer to a batch, read as Lambda reads it with `ReportBatchItemFailures` on.

    `identifiers` are the batch's item ids: SQS message ids, or stream records' sequence numbers.
    """
    try:
        return BatchResponse(_failed_items(payload, set(identifiers)))
    except UnreadableResponse as error:
        return BatchResponse.whole_batch_failed(str(error))


class UnreadableResponse(ValueError):
    """A partial batch response Lambda cannot act on: the whole batch failed."""


def _failed_items(payload: Any, known: set[str]) -> frozenset[str]:
    try:  # what the function returned, as its runtime serialises it for Lambda
        answer = json.loads(json.dumps(payload))
    except (TypeError, ValueError) as error:
        raise UnreadableResponse(f"the response is not JSON: {error}") from error
    if answer is None:
        return frozenset()
    if not isinstance(answer, dict):
        raise UnreadableResponse(f"the response is a JSON {_json_type(answer)}, not an object")
    failures = answer.get("batchItemFailures")
    if failures is None:
        return frozenset()
    if not isinstance(failures, list):
        raise UnreadableResponse(f"batchItemFailures is a JSON {_json_type(failures)}, not an array")
    return frozenset(_item_identifier(entry, known) for entry in failures)


def _item_identifier(entry: Any, known: set[str]) -> str:
    if not isinstance(entry, dict):
        raise UnreadableResponse(f"a batchItemFailures entry is a JSON {_json_type(entry)}, not an object")
    identifier = entry.get("itemIdentifier")
    if not isinstance(identifier, str) or not identifier:
        raise UnreadableResponse(
            "a batchItemFailures entry has no itemIdentifier (missing, null, empty or not a string): "
            + json.dumps(entry)[:200]
        )
    if identifier not in known:
        raise UnreadableResponse(f"batchItemFailures names {identifier[:100]!r}, which is not in the batch")
    return identifier


def _json_type(value: Any) -> str:
    names = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


# -- what both sources share ------------------------------------------------------------------------


class Poller:
    """Worker threads that hand a function batches from one source, with their counters and status.

    A subclass names its source (`_where`), its counters (`_counts`) and its loops (`_loops`, one a
    thread), and delivers each batch through `_run`, which reads the answer by Lambda's rules.
    """

    THREAD_PREFIX: ClassVar[str] = "poller"
    JOIN_SECONDS: ClassVar[float] = 5.0

    def __init__(self, function_name: str, *, report_batch_item_failures: bool, invoke: Invoke) -> None:
        self._function_name = function_name
        self._report_batch_item_failures = report_batch_item_failures
        self._invoke = invoke
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.last_error: str | None = None

    # -- for subclasses

    def _where(self) -> dict[str, Any]:
        raise NotImplementedError

    def _counts(self) -> dict[str, Any]:
        raise NotImplementedError

    def _loops(self) -> list[Callable[[], None]]:
        raise NotImplementedError

    # -- the lifecycle

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def status(self) -> dict[str, Any]:
        with self._lock:
            counts = self._counts()
        return {
            "function": self._function_name,
            **self._where(),
            "running": self.running,
            **counts,
            "lastError": self.last_error,
        }

    def start(self) -> None:
        for number, loop in enumerate(self._loops()):
            thread = threading.Thread(
                target=self._guarded,
                args=(loop,),
                name=f"{self.THREAD_PREFIX}-{self._function_name}-{number}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.JOIN_SECONDS)

    def _guarded(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.exception("the poller of %s for %s stopped", self._function_name, self._where())
            raise

    # -- one batch

    def _run(self, records: list[dict[str, Any]], identifiers: Collection[str]) -> BatchResponse:
        """Invoke the function with the batch; what succeeded and what comes back, as Lambda sees it."""
        result = self._invoke(self._function_name, {"Records": records})
        if result.error:
            message = result.payload.get("errorMessage") if isinstance(result.payload, Mapping) else None
            response = BatchResponse.whole_batch_failed(str(message or "the function failed"))
        elif not self._report_batch_item_failures:
            return BatchResponse()  # without ReportBatchItemFailures Lambda ignores the answer
        else:
            response = parse_batch_response(result.payload, identifiers)
            if response.whole_batch:
                log.warning(
                    "%s answered a batch Lambda cannot read, so the whole batch failed: %s",
                    self._function_name,
                    response.reason,
                )
        if response.reason is not None:
            with self._lock:
                self.last_error = response.reason
        return response


# -- DynamoDB Streams -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamSource:
    function_name: str
    stream_arn: str
    batch_size: int = 100
    starting_position: str = "TRIM_HORIZON"
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = 3


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A Streams API record as Lambda delivers it (times as epoch seconds, the source ARN added)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": dynamodb, "eventSourceARN": stream_arn}


def _sequence_number(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


class StreamPoller(Poller):
    THREAD_PREFIX = "stream"

    def __init__(
        self,
        source: StreamSource,
        *,
        streams: Any,
        invoke: Invoke,
        poll_seconds: float = 0.05,
    ) -> None:
        super().__init__(
            source.function_name, report_batch_item_failures=source.report_batch_item_failures, invoke=invoke
        )
        self.source = source
        self._streams = streams
        self._poll_seconds = poll_seconds
        self.dropped: list[dict[str, Any]] = []  # batches given up on after the retries (on-failure)
        self.delivered = 0
        self.fetched = 0
        self.retries = 0
        self.reading = False

    def _where(self) -> dict[str, Any]:
        return {"stream": self.source.stream_arn}

    def _counts(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "reading": self.reading,
            "delivered": self.delivered,
            "retries": self.retries,
            "dropped": sum(len(batch["records"]) for batch in self.dropped),
        }

    def _loops(self) -> list[Callable[[], None]]:
        description = self._streams.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        loops: list[Callable[[], None]] = []
        for shard in description["Shards"]:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.source.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.source.starting_position,
            )["ShardIterator"]
            loops.append(functools.partial(self._read_shard, iterator))
        return loops

    def _read_shard(self, iterator: str) -> None:
        pending: list[dict[str, Any]] = []  # records still to deliver, in order
        attempts = 0
        while not self._stop.is_set():
            if len(pending) < self.source.batch_size and iterator:
                try:
                    response = self._streams.get_records(
                        ShardIterator=iterator, Limit=self.source.batch_size - len(pending)
                    )
                except Exception:  # the emulator is stopping, or hiccuped: try again shortly
                    log.exception("reading %s failed", self.source.stream_arn)
                    self._stop.wait(self._poll_seconds)
                    continue
                records = response.get("Records", [])
                iterator = response.get("NextShardIterator") or ""
                with self._lock:
                    self.fetched += len(records)
                    self.reading = bool(iterator)
                pending += [_lambda_record(r, self.source.stream_arn) for r in records]
            if not pending:
                self._stop.wait(self._poll_seconds)
                continue
            batch = pending[: self.source.batch_size]
            failed_from = self._deliver(batch)
            if failed_from is None:
                with self._lock:
                    self.delivered += len(batch)
                pending, attempts = pending[len(batch) :], 0
                continue
            attempts += 1
            with self._lock:
                self.delivered += failed_from
                self.retries += 1
            if attempts > self.source.maximum_retry_attempts:
                log.error("giving up on %d records of %s", len(batch) - failed_from, self.source.stream_arn)
                with self._lock:
                    self.dropped.append({"records": batch[failed_from:]})
                pending, attempts = pending[len(batch) :], 0
                continue
            pending = pending[failed_from:]  # retry from the checkpoint, in order
            self._stop.wait(min(0.05 * 2**attempts, 1.0))

    def _deliver(self, batch: list[dict[str, Any]]) -> int | None:
        """None when the whole batch succeeded, else the index of the first record to retry: 0 when the
        whole batch failed, else the failed record with the lowest sequence number (the checkpoint)."""
        response = self._run(batch, [_sequence_number(record) for record in batch])
        if response.succeeded:
            return None
        # A shard's records come in sequence-number order, so the first one named is the lowest.
        return next(
            (index for index, record in enumerate(batch) if response.retries(_sequence_number(record))), 0
        )


# -- SQS --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueSource:
    function_name: str
    queue_arn: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    concurrency: int = 2  # batches handled at once (SAM's ScalingConfig.MaximumConcurrency; AWS's minimum)

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received message as Lambda hands it to the function."""
    attributes = message.get("MessageAttributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "dataType": value.get("DataType", "String"),
                "stringListValues": [],
                "binaryListValues": [],
            }
            for name, value in attributes.items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


class QueuePoller(Poller):
    WAIT_SECONDS = 1  # long polling: a quiet queue costs one call a second
    THREAD_PREFIX = "sqs"
    JOIN_SECONDS = WAIT_SECONDS + 5

    def __init__(self, source: QueueSource, *, sqs: Any, invoke: Invoke) -> None:
        super().__init__(
            source.function_name, report_batch_item_failures=source.report_batch_item_failures, invoke=invoke
        )
        self.source = source
        self._sqs = sqs
        self.received = 0
        self.succeeded = 0
        self.failed = 0
        self.invocations = 0

    def _where(self) -> dict[str, Any]:
        return {"queue": self.source.queue_arn}

    def _counts(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "invocations": self.invocations,
        }

    def _loops(self) -> list[Callable[[], None]]:
        url = self._sqs.get_queue_url(QueueName=self.source.queue_name)["QueueUrl"]
        return [functools.partial(self._receive, url) for _ in range(self.source.concurrency)]

    def _receive(self, url: str) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=self.source.batch_size,
                    WaitTimeSeconds=self.WAIT_SECONDS,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the emulator is stopping, or hiccuped: try again shortly
                log.exception("receiving from %s failed", self.source.queue_arn)
                self._stop.wait(0.5)
                continue
            if messages:
                self._deliver(url, messages)

    def _deliver(self, url: str, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self.received += len(messages)
            self.invocations += 1
        records = [_sqs_record(message, self.source.queue_arn) for message in messages]
        response = self._run(records, [message["MessageId"] for message in messages])
        # What failed, or the whole batch, is left alone: visible again after its visibility timeout.
        done = [message for message in messages if not response.retries(message["MessageId"])]
        for start in range(0, len(done), 10):
            try:
                self._sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                        for number, message in enumerate(done[start : start + 10])
                    ],
                )
            except Exception:  # not deleted: the messages come back, as they would in AWS
                log.exception("deleting from %s failed", self.source.queue_arn)
        with self._lock:
            self.succeeded += len(done)
            self.failed += len(messages) - len(done)


def queue_depths(sqs: Any) -> list[dict[str, Any]]:
    """Every queue's depth: messages waiting (visible), being handled (in flight), and delayed."""
    depths = []
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        depths.append(
            {
                "name": url.rsplit("/", 1)[-1],
                "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
                "inFlight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                "deadLetterTarget": json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].rsplit(
                    ":", 1
                )[-1]
                if "RedrivePolicy" in attributes
                else None,
            }
        )
    return sorted(depths, key=lambda depth: str(depth["name"]))
