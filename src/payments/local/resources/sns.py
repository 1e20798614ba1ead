"""SNS: topics, subscriptions (filter policies, raw delivery) and topic policies."""

from __future__ import annotations

import json
from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::SNS::Topic")
def topic(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    attributes = {}
    if "KmsMasterKeyId" in properties:
        attributes["KmsMasterKeyId"] = str(properties["KmsMasterKeyId"])
    build.client("sns").create_topic(Name=build.template.name(logical_id), Attributes=attributes)


@creates("AWS::SNS::Subscription")
def subscription(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    attributes = {}
    if "FilterPolicy" in properties:
        attributes["FilterPolicy"] = json.dumps(properties["FilterPolicy"])
    if "RawMessageDelivery" in properties:
        attributes["RawMessageDelivery"] = str(properties["RawMessageDelivery"]).lower()
    build.client("sns").subscribe(
        TopicArn=properties["TopicArn"],
        Protocol=properties["Protocol"],
        Endpoint=properties["Endpoint"],
        Attributes=attributes,
    )


@creates("AWS::SNS::TopicPolicy")
def topic_policy(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    for topic_arn in properties["Topics"]:
        build.client("sns").set_topic_attributes(
            TopicArn=topic_arn,
            AttributeName="Policy",
            AttributeValue=json.dumps(properties["PolicyDocument"]),
        )
