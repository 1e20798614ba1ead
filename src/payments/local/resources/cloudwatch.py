"""CloudWatch: alarms and dashboards."""

from __future__ import annotations

from typing import Any

from payments.local.resources.registry import Build, creates

_ALARM_PROPERTIES = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "DatapointsToAlarm",
    "EvaluationPeriods",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
    "Dimensions",
    "Metrics",
)


@creates("AWS::CloudWatch::Alarm")
def alarm(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    request = {key: properties[key] for key in _ALARM_PROPERTIES if key in properties}
    for number in ("Threshold", "Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if number in request:  # a `!Ref` to a Number parameter arrives as a string
            request[number] = float(request[number]) if number == "Threshold" else int(request[number])
    build.client("cloudwatch").put_metric_alarm(AlarmName=build.template.name(logical_id), **request)


@creates("AWS::CloudWatch::Dashboard")
def dashboard(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    build.client("cloudwatch").put_dashboard(
        DashboardName=properties.get("DashboardName", build.template.name(logical_id)),
        DashboardBody=properties["DashboardBody"],
    )
