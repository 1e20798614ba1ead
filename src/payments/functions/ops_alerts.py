"""ops-alerts (and customer-success): each message on the topic becomes a chat message (Slack-compatible
webhook).

A failed post raises, so SNS retries the delivery; a message is never dropped silently.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.request import Request, urlopen

from payments import bootstrap


def chat_message(alert: dict[str, Any], *, icon: str = ":rotating_light:") -> dict[str, Any]:
    subject = alert.get("subject", "payments alert")
    details = "\n".join(f"*{key}*: {value}" for key, value in alert.items() if key != "subject")
    return {
        "text": f"{icon} {subject}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": details}}],
    }


def post_each(event: dict[str, Any], url: str, *, icon: str) -> dict[str, int]:
    """Post every SNS message of the event to the chat webhook at `url`."""
    posted = 0
    for record in event.get("Records", []):
        alert = json.loads(record["Sns"]["Message"])
        request = Request(  # noqa: S310 (the operator's configured webhook)
            url,
            data=json.dumps(chat_message(alert, icon=icon)).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
        posted += 1
    return {"posted": posted}


def ops_webhook(env: bootstrap.Environment) -> str:
    """Ops' chat webhook (the function exists only when one is given)."""
    return env.settings.ops_webhook_url


def customer_success_webhook(env: bootstrap.Environment) -> str:
    """Customer success's chat webhook (ops' when it has none of its own)."""
    return env.settings.customer_success_webhook_url


@bootstrap.lambda_function(ops_webhook)
def handler(event: dict[str, Any], context: Any, url: str) -> dict[str, int]:
    return post_each(event, url, icon=":rotating_light:")


@bootstrap.lambda_function(customer_success_webhook)
def customer_success_handler(event: dict[str, Any], context: Any, url: str) -> dict[str, int]:
    """customer-success: the same chat post, to customer success's channel."""
    return post_each(event, url, icon=":email:")
