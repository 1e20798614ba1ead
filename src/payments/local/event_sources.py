"""Event sources as Lambda runs them: a DynamoDB stream poller and an SQS queue poller.

The emulator's own event source mapping would call the function inside the write that made the
record, one record at a time. Lambda instead polls the stream and hands the function batches in order,
asynchronously, retrying a failed batch (or, with `ReportBatchItemFailures`, from the first record the
function names) up to `MaximumRetryAttempts`. This poller does the same through the Streams API.

For a queue, Lambda receives batches (long polling), invokes the function with them, and deletes what
succeeded: all of the batch, or with `ReportBatchItemFailures` all but the messages the function names.
What is not deleted becomes visible again when its visibility timeout ends, and the queue's redrive
policy moves a message to its dead-letter queue after `maxReceiveCount` receives. A FIFO queue hands
out a message group's messages in order, one batch of a group at a time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments.local.invoker import Invocation

log = logging.getLogger(__name__)


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


class StreamPoller:
    def __init__(
        self,
        source: StreamSource,
        *,
        streams: Any,
        invoke: Callable[[str, Any], Invocation],
        poll_seconds: float = 0.05,
    ) -> None:
        self.source = source
        self._streams = streams
        self._invoke = invoke
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.dropped: list[dict[str, Any]] = []  # batches given up on after the retries (on-failure)
        self.delivered = 0
        self.fetched = 0
        self.retries = 0
        self.reading = False
        self.last_error: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "function": self.source.function_name,
            "stream": self.source.stream_arn,
            "running": any(thread.is_alive() for thread in self._threads),
            "fetched": self.fetched,
            "reading": self.reading,
            "delivered": self.delivered,
            "retries": self.retries,
            "dropped": sum(len(batch["records"]) for batch in self.dropped),
            "lastError": self.last_error,
        }

    def start(self) -> None:
        description = self._streams.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.source.stream_arn,
                ShardId=shard["ShardId"],
                ShardIteratorType=self.source.starting_position,
            )["ShardIterator"]
            thread = threading.Thread(
                target=self._poll, args=(iterator,), name=f"stream-{self.source.function_name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _poll(self, iterator: str) -> None:
        try:
            self._poll_until_stopped(iterator)
        except Exception as error:
            self.last_error = f"{type(error).__name__}: {error}"
            log.exception("the poller of %s stopped", self.source.stream_arn)
            raise

    def _poll_until_stopped(self, iterator: str) -> None:
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
                self.fetched += len(records)
                pending += [_lambda_record(r, self.source.stream_arn) for r in records]
                iterator = response.get("NextShardIterator") or ""
                self.reading = bool(iterator)
            if not pending:
                self._stop.wait(self._poll_seconds)
                continue
            batch = pending[: self.source.batch_size]
            failed_from = self._deliver(batch)
            if failed_from is None:
                self.delivered += len(batch)
                pending, attempts = pending[len(batch) :], 0
                continue
            self.delivered += failed_from
            self.retries += 1
            attempts += 1
            if attempts > self.source.maximum_retry_attempts:
                log.error("giving up on %d records of %s", len(batch) - failed_from, self.source.stream_arn)
                self.dropped.append({"records": batch[failed_from:]})
                pending, attempts = pending[len(batch) :], 0
                continue
            pending = pending[failed_from:]  # retry from the first record that failed, in order
            self._stop.wait(min(0.05 * 2**attempts, 1.0))

    def _deliver(self, batch: list[dict[str, Any]]) -> int | None:
        """None when the whole batch succeeded, else the index of the first record to retry."""
        result = self._invoke(self.source.function_name, {"Records": batch})
        if result.error:
            self.last_error = str((result.payload or {}).get("errorMessage", "the function failed"))
            return 0
        failures = (
            (result.payload or {}).get("batchItemFailures")
            if self.source.report_batch_item_failures
            else None
        )
        if not failures:
            return None
        failed = {failure.get("itemIdentifier") for failure in failures}
        for index, record in enumerate(batch):
            if record["dynamodb"]["SequenceNumber"] in failed:
                return index
        return 0  # an identifier we never sent: retry the whole batch, as Lambda does


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


class QueuePoller:
    WAIT_SECONDS = 1  # long polling: a quiet queue costs one call a second

    def __init__(self, source: QueueSource, *, sqs: Any, invoke: Callable[[str, Any], Invocation]) -> None:
        self.source = source
        self._sqs = sqs
        self._invoke = invoke
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.received = 0
        self.succeeded = 0
        self.failed = 0
        self.invocations = 0
        self.last_error: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "function": self.source.function_name,
            "queue": self.source.queue_arn,
            "running": any(thread.is_alive() for thread in self._threads),
            "received": self.received,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "invocations": self.invocations,
            "lastError": self.last_error,
        }

    def start(self) -> None:
        url = self._sqs.get_queue_url(QueueName=self.source.queue_name)["QueueUrl"]
        for number in range(self.source.concurrency):
            thread = threading.Thread(
                target=self._poll, args=(url,), name=f"sqs-{self.source.function_name}-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.WAIT_SECONDS + 5)

    def _poll(self, url: str) -> None:
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
        result = self._invoke(self.source.function_name, {"Records": records})
        if result.error:
            with self._lock:
                self.last_error = str((result.payload or {}).get("errorMessage", "the function failed"))
                self.failed += len(messages)
            return  # nothing deleted: the whole batch comes back after its visibility timeout
        failed: set[str] = set()
        if self.source.report_batch_item_failures:
            failures = (result.payload or {}).get("batchItemFailures") or []
            failed = {str(failure.get("itemIdentifier")) for failure in failures}
        done = [message for message in messages if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                    for number, message in enumerate(done[start : start + 10])
                ],
            )
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
