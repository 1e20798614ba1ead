"""DynamoDB: tables, with their indexes, stream, encryption and time to live."""

from __future__ import annotations

from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::DynamoDB::Table")
def table(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    dynamodb = build.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": build.template.physical_id(logical_id),
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "GlobalSecondaryIndexes" in properties:
        request["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    if "StreamSpecification" in properties:
        request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    if "SSESpecification" in properties:
        request["SSESpecification"] = {"Enabled": properties["SSESpecification"].get("SSEEnabled", False)}
    description = dynamodb.create_table(**request)["TableDescription"]
    build.template.attributes[(logical_id, "Arn")] = description["TableArn"]
    if "LatestStreamArn" in description:
        build.template.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        dynamodb.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
        )
