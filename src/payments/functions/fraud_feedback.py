"""fraud-feedback: AUTHORIZED events (the subscription's filter) become each customer's approval history.

The history (approved count, last approval) is kept beside the velocity counters, as an input the fraud
rules can weigh; replays of one event count once (its id is remembered with a condition).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from payments import bootstrap


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    counted = 0
    table = bootstrap.settings().fraud_velocity_table
    for record in event.get("Records", []):
        payment_event = json.loads(record["Sns"]["Message"])
        try:
            bootstrap.dynamodb().update_item(
                TableName=table,
                Key={"counterKey": {"S": f"approved#{payment_event['customerId']}"}},
                UpdateExpression="ADD approvedCount :one, seenEvents :event SET lastApprovedAt = :at",
                ConditionExpression="NOT contains(seenEvents, :eventId)",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":event": {"SS": [payment_event["eventId"]]},
                    ":eventId": {"S": payment_event["eventId"]},
                    ":at": {"S": payment_event["occurredAt"]},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            continue  # this event was counted already
        counted += 1
    return {"counted": counted}
