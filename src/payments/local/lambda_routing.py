"""The emulator's Lambda invocations, routed to the in-process invoker (`LocalLambda`).

moto would run a function in a container (or answer a canned echo), and delivers SNS and S3
notifications to functions synchronously, inside the `Publish` or `PutObject` call. Here a direct
invocation runs the real handler (`x-amz-function-error` reports its failure), and SNS and S3 hand
theirs to the invoker's asynchronous queue, as AWS does. Applied by `payments.local.moto_patches`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from payments.local.invoker import LocalLambda


def sns_event(
    message: str,
    subject: str | None,
    *,
    topic_arn: str | None = None,
    subscription_arn: str | None = None,
    message_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event SNS hands a subscribed function: its subscription's ARN is what says, in a
    dead-letter queue several functions share, which function an event was for (`payments dlq`)."""
    notification: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": message,
        "Subject": subject,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "MessageAttributes": {
            name: {"Type": value.get("Type", "String"), "Value": value.get("Value")}
            for name, value in (message_attributes or {}).items()
        },
    }
    record = {"EventVersion": "1.0", "EventSource": "aws:sns", "Sns": notification}
    if subscription_arn is not None:
        record["EventSubscriptionArn"] = subscription_arn
    return {"Records": [record]}


def _invocation_type(headers: Any) -> str:
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "x-amz-invocation-type":
            return str(value)
    return "RequestResponse"


_active: LocalLambda | None = None
# The SNS subscription delivering on this thread: the emulator names only the function to invoke.
_delivering = threading.local()


def install(invoker: LocalLambda) -> None:
    """Make the emulator's Lambda run our handlers instead of a container (or a canned echo)."""
    global _active  # noqa: PLW0603 (one emulator per process, as moto's backends are per process)
    _active = invoker
    from moto.awslambda.models import LambdaFunction  # noqa: PLC0415

    if getattr(LambdaFunction.invoke, "_payments_routed", False):
        return

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        assert _active is not None
        event = json.loads(body) if body else {}
        if _invocation_type(request_headers) == "Event":  # queued, as Lambda's asynchronous queue
            _active.invoke_async(self.function_name, event)
            return b""
        result = _active.invoke(self.function_name, event)
        if result.error:
            response_headers["x-amz-function-error"] = "Unhandled"
        return result.payload_bytes()

    invoke._payments_routed = True  # type: ignore[attr-defined]
    LambdaFunction.invoke = invoke  # type: ignore[method-assign]

    from moto.awslambda.models import LambdaBackend  # noqa: PLC0415

    def send_sns_message(
        _backend: Any, function_name: str, message: str, subject: str | None = None, **_qualifier: Any
    ) -> None:
        assert _active is not None
        subscription, attributes = getattr(_delivering, "current", (None, None))
        event = sns_event(
            message,
            subject,
            topic_arn=None if subscription is None else subscription.topic.arn,
            subscription_arn=None if subscription is None else subscription.arn,
            message_attributes=attributes,
        )
        _active.invoke_async(function_name, event)

    LambdaBackend.send_sns_message = send_sns_message  # type: ignore[method-assign,assignment]

    from moto.sns.models import Subscription  # noqa: PLC0415

    publish = Subscription.publish

    def publish_naming_the_subscription(self: Any, message: str, *args: Any, **kwargs: Any) -> None:
        attributes = kwargs.get("message_attributes", args[2] if len(args) > 2 else None)
        _delivering.current = (self, attributes)
        try:
            publish(self, message, *args, **kwargs)
        finally:
            _delivering.current = (None, None)

    Subscription.publish = publish_naming_the_subscription  # type: ignore[method-assign]

    # S3 notifies functions asynchronously too (the emulator would run them inside PutObject).
    from moto.s3 import notifications  # noqa: PLC0415

    def notify_function(_account_id: str, event_body: Any, fn_arn: str, _region_name: str) -> None:
        assert _active is not None
        _active.invoke_async(fn_arn, event_body)

    notifications._invoke_awslambda = notify_function  # type: ignore[assignment]
