"""ops-alerts: each message on the ops-alerts topic becomes a chat message (Slack-compatible webhook).

A failed post raises, so SNS retries the delivery; a message is never dropped silently.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.request import Request, urlopen

from payments import bootstrap


def _chat_message(alert: dict[str, Any]) -> dict[str, Any]:
    subject = alert.get("subject", "payments alert")
    details = "\n".join(f"*{key}*: {value}" for key, value in alert.items() if key != "subject")
    return {
        "text": f":rotating_light: {subject}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": details}}],
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    url = bootstrap.settings().ops_webhook_url
    posted = 0
    for record in event.get("Records", []):
        alert = json.loads(record["Sns"]["Message"])
        request = Request(  # noqa: S310 (the operator's configured webhook)
            url,
            data=json.dumps(_chat_message(alert)).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
        posted += 1
    return {"posted": posted}
