"""What SES sent, as a person would read it: recipient, template, locale, rendered subject, text and HTML.

The emulator keeps sent messages but does not render templated ones; each is rendered here through
SES's own `TestRenderTemplate` (Handlebars, as SES renders it) with the data it was sent with.
"""

from __future__ import annotations

import email
import re
from typing import Any

from payments.local.emulator import ACCOUNT_ID, REGION

_LOCALE = re.compile(r"-([a-z]{2}-[A-Z]{2})$")


def _render(ses: Any, template_name: str, data: str) -> tuple[str, str, str]:
    """(subject, text part, HTML part) as SES renders the template with the message's data."""
    rendered = ses.test_render_template(TemplateName=template_name, TemplateData=data)["RenderedTemplate"]
    message = email.message_from_string(rendered)
    parts = {"text/plain": "", "text/html": ""}
    for part in message.walk():
        if part.get_content_type() in parts and not parts[part.get_content_type()]:
            payload = part.get_payload(decode=True)
            parts[part.get_content_type()] = (
                payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
            )
    return str(message.get("Subject", "")), parts["text/plain"], parts["text/html"]


def sent_emails(ses: Any, *, stage: str) -> list[dict[str, Any]]:
    from moto.ses.models import ses_backends  # noqa: PLC0415 (the emulator's own record of sends)

    emails = []
    for message in list(ses_backends[ACCOUNT_ID][REGION].sent_messages):
        template_name = getattr(message, "template", None)
        if template_name is None:
            continue
        subject, text, html = _render(ses, template_name, message.template_data or "{}")
        found = _LOCALE.search(template_name)
        locale = found.group(1) if found else None
        base = template_name.removesuffix(f"-{locale}" if locale else "").removesuffix(f"-{stage}")
        emails.append(
            {
                "messageId": message.id,
                "from": message.source,
                "to": list(message.destinations.get("ToAddresses", [])),
                "template": base,
                "locale": locale,
                "subject": subject,
                "text": text,
                "html": html,
            }
        )
    return emails
