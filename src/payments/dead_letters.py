"""The stack's dead-letter queues, found as AWS describes them, and the redrive of each.

A queue is a dead-letter queue when a queue's redrive policy names it (refund-jobs-dlq: its messages
are jobs, moved back to the queue they came from) or when a function's dead-letter config does (the
ledger's, the event subscribers', the file events': each message is an asynchronous event the
function gave up on, invoked again). Both are read from AWS (the queues' `RedrivePolicy`, the
functions' `DeadLetterConfig`), never from a list here, so a dead-letter queue added to template.yaml
has its redrive on the console and in `payments dlq` with no change to either.

A dead-letter queue several functions share keeps no record of which function an event was for: the
event says it. An SNS event names its subscription (whose endpoint is the function), an S3 event its
bucket and key (whose notification configuration names the function), a scheduled event its rule
(whose targets name it). An event that names none of the queue's functions stays where it is.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

Clients = Callable[[str], Any]  # a boto3 client by service name ("sqs", "lambda", ...)
REDRIVE_BATCH = 10
# How long a message being redriven stays hidden: one left behind (no function named) is not read
# twice in the same redrive, and is back for the next one after this.
IN_HAND_SECONDS = 60


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    name: str
    url: str
    arn: str
    source_queues: tuple[str, ...]  # URLs of the queues whose redrive policy names it
    functions: tuple[str, ...]  # ARNs of the functions whose asynchronous failures it keeps

    @property
    def returns_to(self) -> list[str]:
        """What a redrive sends its messages back to, by name."""
        return [url.rsplit("/", 1)[-1] for url in self.source_queues] + [
            arn.split(":")[6] for arn in self.functions
        ]


@dataclass(frozen=True, slots=True)
class Redriven:
    queue: str
    moved: int
    to: tuple[str, ...]  # the queues or functions the messages went back to
    left: int = 0  # messages kept: no function of the queue was named by the event


def _queue_urls(sqs: Any) -> list[str]:
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate():
        urls += page.get("QueueUrls", [])
    return urls


def _function_dead_letters(lambda_client: Any) -> dict[str, list[str]]:
    """Dead-letter queue ARN -> the ARNs of the functions that keep their failed events there."""
    found: dict[str, list[str]] = {}
    for page in lambda_client.get_paginator("list_functions").paginate():
        for function in page.get("Functions", []):
            target = (function.get("DeadLetterConfig") or {}).get("TargetArn")
            if target:
                found.setdefault(target, []).append(function["FunctionArn"])
    return found


def dead_letter_queues(clients: Clients) -> list[DeadLetterQueue]:
    """Every dead-letter queue in the account and region, by name."""
    sqs = clients("sqs")
    arns: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    for url in _queue_urls(sqs):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "RedrivePolicy"])[
            "Attributes"
        ]
        arns[url] = attributes["QueueArn"]
        if "RedrivePolicy" in attributes:
            target = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
            sources.setdefault(target, []).append(url)
    functions = _function_dead_letters(clients("lambda"))
    queues = [
        DeadLetterQueue(
            name=url.rsplit("/", 1)[-1],
            url=url,
            arn=arn,
            source_queues=tuple(sorted(sources.get(arn, []))),
            functions=tuple(sorted(functions.get(arn, []))),
        )
        for url, arn in arns.items()
        if arn in sources or arn in functions
    ]
    return sorted(queues, key=lambda queue: queue.name)


def dead_letter_queue(clients: Clients, name: str) -> DeadLetterQueue:
    """The dead-letter queue of this name; LookupError if it is no queue's or function's."""
    for queue in dead_letter_queues(clients):
        if queue.name == name:
            return queue
    raise LookupError(f"{name} is not the dead-letter queue of any queue or function")


def redrive(clients: Clients, name: str) -> Redriven:
    """Send every message of the dead-letter queue back: to its source queue, or to its function."""
    queue = dead_letter_queue(clients, name)
    if queue.source_queues:
        return _move_to_source(clients("sqs"), queue)
    return _invoke_again(clients, queue)


def _move_to_source(sqs: Any, queue: DeadLetterQueue) -> Redriven:
    """Sent first, then deleted, so none is lost in between (a crash in between leaves a copy in both,
    which the worker's idempotency absorbs)."""
    if len(queue.source_queues) != 1:
        raise LookupError(
            f"{queue.name} is the dead-letter queue of {len(queue.source_queues)} queues; expected one"
        )
    [target] = queue.source_queues
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=REDRIVE_BATCH,
            VisibilityTimeout=IN_HAND_SECONDS,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            send: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
            group = message.get("Attributes", {}).get("MessageGroupId")
            if group:
                send.update(MessageGroupId=group, MessageDeduplicationId=f"redrive-{message['MessageId']}")
            sqs.send_message(**send)
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return Redriven(queue.name, moved, tuple(queue.returns_to))


def _invoke_again(clients: Clients, queue: DeadLetterQueue) -> Redriven:
    """Each kept event invoked again asynchronously (as its source first did: Lambda retries it and
    keeps it here again if it still fails), then deleted. Only what waits when the redrive starts is
    sent: an event failing again comes back as a new message, for the next redrive."""
    sqs = clients("sqs")
    waiting = int(
        sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
    )
    moved, left, reached = 0, 0, set()
    while moved + left < waiting:
        messages = sqs.receive_message(
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(REDRIVE_BATCH, waiting - moved - left),
            VisibilityTimeout=IN_HAND_SECONDS,
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            function = function_for(_json(message["Body"]), queue.functions, clients)
            if function is None:
                left += 1
                continue
            clients("lambda").invoke(
                FunctionName=function, InvocationType="Event", Payload=message["Body"].encode()
            )
            sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            reached.add(function.split(":")[6])
    return Redriven(queue.name, moved, tuple(sorted(reached)) or tuple(queue.returns_to), left)


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def function_for(event: Any, functions: tuple[str, ...], clients: Clients) -> str | None:
    """Which of the queue's functions the event was for: the only one, or the one its source names."""
    if len(functions) == 1:
        return functions[0]
    by_name = {_unqualified(arn): arn for arn in functions}
    for invoked in _invoked_with(event, clients):
        if _unqualified(invoked) in by_name:
            return by_name[_unqualified(invoked)]
    return None


def _unqualified(function_arn: str) -> str:
    """arn:aws:lambda:<region>:<account>:function:<name>, without an alias or version."""
    return ":".join(function_arn.split(":")[:7])


def _invoked_with(event: Any, clients: Clients) -> Iterator[str]:
    """The functions the event's source invokes with it."""
    if not isinstance(event, dict):
        return
    records = event.get("Records")
    record = records[0] if isinstance(records, list) and records and isinstance(records[0], dict) else {}
    if record.get("EventSource") == "aws:sns" and record.get("EventSubscriptionArn"):
        try:
            attributes = clients("sns").get_subscription_attributes(
                SubscriptionArn=record["EventSubscriptionArn"]
            )["Attributes"]
        except ClientError:  # unsubscribed since: no function to send it to
            return
        yield str(attributes.get("Endpoint", ""))
    elif record.get("eventSource") == "aws:s3":
        yield from _notified_functions(clients("s3"), record)
    elif event.get("source") == "aws.events":
        yield from _rule_targets(clients("events"), event.get("resources") or [])


def _notified_functions(s3: Any, record: dict[str, Any]) -> Iterator[str]:
    bucket = record["s3"]["bucket"]["name"]
    key = unquote_plus(record["s3"]["object"]["key"])  # S3 events carry keys URL-encoded
    event_name = f"s3:{record.get('eventName', '')}"
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    for notified in configuration.get("LambdaFunctionConfigurations", []):
        if not any(fnmatch.fnmatchcase(event_name, pattern) for pattern in notified.get("Events", [])):
            continue
        rules = {
            rule["Name"].lower(): rule["Value"]
            for rule in notified.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        }
        if key.startswith(rules.get("prefix", "")) and key.endswith(rules.get("suffix", "")):
            yield str(notified["LambdaFunctionArn"])


def _rule_targets(events: Any, rules: list[str]) -> Iterator[str]:
    for rule_arn in rules:
        bus, _, rule = rule_arn.split(":rule/", 1)[-1].rpartition("/")  # rule/[bus/]name
        try:
            targets = events.list_targets_by_rule(Rule=rule, **({"EventBusName": bus} if bus else {}))
        except ClientError:  # the rule is gone
            continue
        for target in targets.get("Targets", []):
            yield str(target["Arn"])
