"""A SAM function's `Events`, one wiring per event type: an API route, an SNS subscription, an S3
notification, a stream or queue poller for the runtime to start, a schedule kept for `/_local`.

An event type without a wiring here stops the start-up, as an unknown resource type does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from payments.local.deployed import Route
from payments.local.event_sources import QueueSource, StreamSource
from payments.local.resources.registry import Build
from payments.local.template import StackError

# (build, the function's logical id, its name, the event's Properties)
Wiring = Callable[[Build, str, str, Mapping[str, Any]], None]


def wire(build: Build, logical_id: str, function_name: str, event_id: str, event: Mapping[str, Any]) -> None:
    wiring = _WIRINGS.get(str(event["Type"]))
    if wiring is None:
        raise StackError(f"{logical_id}.{event_id}: event type {event['Type']} is not supported locally")
    wiring(build, logical_id, function_name, event["Properties"])


def _http_api(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    build.deployed.routes.append(
        Route(
            settings["Method"].upper(),
            settings["Path"],
            function_name,
            auth=settings.get("Auth", {}).get("Authorizer"),
        )
    )


def _sns(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    attributes = {}
    if "FilterPolicy" in settings:
        attributes["FilterPolicy"] = json.dumps(settings["FilterPolicy"])
    build.client("sns").subscribe(
        TopicArn=settings["Topic"],
        Protocol="lambda",
        Endpoint=build.template.attribute(logical_id, "Arn"),
        Attributes=attributes,
    )


def _dynamodb(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    """A stream the local poller reads, as Lambda's event source mapping would."""
    build.deployed.stream_sources.append(
        StreamSource(
            function_name=function_name,
            stream_arn=settings["Stream"],
            batch_size=int(settings.get("BatchSize", 100)),
            starting_position=settings.get("StartingPosition", "TRIM_HORIZON"),
            report_batch_item_failures="ReportBatchItemFailures" in settings.get("FunctionResponseTypes", []),
            maximum_retry_attempts=int(settings.get("MaximumRetryAttempts", 3)),
        )
    )


def _sqs(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    build.deployed.queue_sources.append(
        QueueSource(
            function_name=function_name,
            queue_arn=settings["Queue"],
            batch_size=int(settings.get("BatchSize", 10)),
            report_batch_item_failures="ReportBatchItemFailures" in settings.get("FunctionResponseTypes", []),
            concurrency=int(settings.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
        )
    )


def _s3(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    """The bucket notifies the function (added to the bucket's other notifications)."""
    configuration: dict[str, Any] = {
        "LambdaFunctionArn": build.template.attribute(logical_id, "Arn"),
        "Events": settings["Events"] if isinstance(settings["Events"], list) else [settings["Events"]],
    }
    rules = settings.get("Filter", {}).get("S3Key", {}).get("Rules", [])
    if rules:
        configuration["Filter"] = {
            "Key": {"FilterRules": [{"Name": rule["Name"], "Value": rule["Value"]} for rule in rules]}
        }
    s3 = build.client("s3")
    current = s3.get_bucket_notification_configuration(Bucket=settings["Bucket"])
    current.pop("ResponseMetadata", None)
    current.setdefault("LambdaFunctionConfigurations", []).append(configuration)
    s3.put_bucket_notification_configuration(Bucket=settings["Bucket"], NotificationConfiguration=current)


def _schedule(build: Build, logical_id: str, function_name: str, settings: Mapping[str, Any]) -> None:
    # The local runtime keeps no clock-driven rules; what a schedule would start is started on
    # demand through /_local (e.g. POST /_local/settlements/emit).
    build.deployed.schedules[function_name] = str(settings["Schedule"])


_WIRINGS: Mapping[str, Wiring] = {
    "HttpApi": _http_api,
    "SNS": _sns,
    "DynamoDB": _dynamodb,
    "SQS": _sqs,
    "S3": _s3,
    "Schedule": _schedule,
}
