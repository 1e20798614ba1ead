"""CloudWatch Logs: log groups (retention, encryption) and metric filters."""

from __future__ import annotations

from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::Logs::LogGroup")
def log_group(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    logs = build.client("logs")
    name = build.template.physical_id(logical_id)
    encryption = {"kmsKeyId": str(properties["KmsKeyId"])} if "KmsKeyId" in properties else {}
    logs.create_log_group(logGroupName=name, **encryption)
    if "RetentionInDays" in properties:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(properties["RetentionInDays"]))


@creates("AWS::Logs::MetricFilter")
def metric_filter(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    build.client("logs").put_metric_filter(
        logGroupName=properties["LogGroupName"],
        filterName=properties.get("FilterName", f"{build.template.stack_name}-{logical_id}"),
        filterPattern=properties["FilterPattern"],
        metricTransformations=[
            {
                "metricName": transformation["MetricName"],
                "metricNamespace": transformation["MetricNamespace"],
                "metricValue": transformation["MetricValue"],
            }
            for transformation in properties["MetricTransformations"]
        ],
    )
