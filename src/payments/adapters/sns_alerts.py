"""Ops alerts as messages on the ops-alerts topic (its subscriber posts them to the team's chat)."""

from __future__ import annotations

import json
from typing import Any

from payments.service.ports import OpsAlerts


class SnsOpsAlerts(OpsAlerts):
    def __init__(self, client: Any, *, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def alert(self, subject: str, details: dict[str, object]) -> None:
        self._client.publish(
            TopicArn=self._topic_arn,
            Subject=subject[:100],
            Message=json.dumps({"subject": subject, **details}),
        )
