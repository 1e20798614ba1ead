"""SES's mailbox simulator, as the configuration set's event publishing reports it.

In AWS, a message to `bounce@simulator.amazonses.com` bounces (Permanent/General) and one to
`complaint@simulator.amazonses.com` draws a complaint; `success@` is delivered. Either may carry a label
(`bounce+order-42@...`). SES then publishes the event, with the message's tags, to each event destination
of the message's configuration set that matches its type. The emulator keeps the configuration set's
destinations but publishes nothing, so this does it: a moment after the send returns, as SES does.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from payments.adapters.dynamodb_items import format_time

SIMULATOR_DOMAIN: Final = "simulator.amazonses.com"
FEEDBACK_DELAY_SECONDS: Final = 0.1
_OUTCOMES: Final = {"bounce": "Bounce", "complaint": "Complaint", "success": "Delivery"}


def simulated_outcome(address: str) -> str | None:
    """The event SES's simulator produces for this recipient, or None for every other address."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return None
    return _OUTCOMES.get(local.split("+", 1)[0])


def feedback_event(
    outcome: str, *, recipient: str, message_id: str, source: str, tags: dict[str, list[str]]
) -> dict[str, Any]:
    """The event as SES's event publishing writes it (the body of the SNS notification)."""
    at = format_time(datetime.now(UTC))
    event: dict[str, Any] = {
        "eventType": outcome,
        "mail": {
            "timestamp": at,
            "source": source,
            "messageId": message_id,
            "destination": [recipient],
            "headersTruncated": False,
            "tags": tags,
        },
    }
    feedback_id = f"{uuid.uuid4().hex}-000000"
    if outcome == "Bounce":
        event["bounce"] = {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": at,
            "feedbackId": feedback_id,
            "reportingMTA": "dsn; a48-30.smtp-out.amazonses.com",
        }
    elif outcome == "Complaint":
        event["complaint"] = {
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": at,
            "feedbackId": feedback_id,
            "userAgent": "Amazon SES Mailbox Simulator",
            "complaintFeedbackType": "abuse",
            "arrivalDate": at,
        }
    else:
        event["delivery"] = {
            "timestamp": at,
            "recipients": [recipient],
            "processingTimeMillis": 100,
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a48-30.smtp-out.amazonses.com",
        }
    return event


def install() -> None:
    """Patch the emulator's SendTemplatedEmail (once per process)."""
    from moto.ses.responses import EmailResponse  # noqa: PLC0415 (local only)

    original = EmailResponse.send_templated_email
    if getattr(original, "_payments_shimmed", False):
        return

    def send_templated_email(self: Any) -> Any:
        result = original(self)
        configuration_set = self._get_param("ConfigurationSetName")
        if configuration_set:
            _publish_simulated_events(self, configuration_set, str(result.result["MessageId"]))  # type: ignore[index]
        return result

    send_templated_email._payments_shimmed = True  # type: ignore[attr-defined]
    EmailResponse.send_templated_email = send_templated_email  # type: ignore[method-assign]


def _publish_simulated_events(response: Any, configuration_set: str, message_id: str) -> None:
    from moto.sns.models import sns_backends  # noqa: PLC0415

    destination = response.backend.config_set_event_destination.get(configuration_set)
    if not destination or str(destination.get("Enabled", True)).lower() == "false":
        return
    topic_arn = (destination.get("SNSDestination") or {}).get("TopicARN")
    matching = {str(kind).lower() for kind in destination.get("MatchingEventTypes", [])}
    if not topic_arn:
        return
    source = response._get_param("Source")
    recipients = [
        address for addresses in (response._get_param("Destination") or {}).values() for address in addresses
    ]
    tags = {str(tag["Name"]): [str(tag["Value"])] for tag in response._get_param("Tags") or []}
    tags["ses:configuration-set"] = [configuration_set]
    sns = sns_backends[response.current_account][response.region]
    for recipient in recipients:
        outcome = simulated_outcome(recipient)
        if outcome is None or outcome.lower() not in matching:
            continue
        event = feedback_event(outcome, recipient=recipient, message_id=message_id, source=source, tags=tags)
        timer = threading.Timer(
            FEEDBACK_DELAY_SECONDS, sns.publish, args=(json.dumps(event),), kwargs={"arn": topic_arn}
        )
        timer.daemon = True
        timer.start()
