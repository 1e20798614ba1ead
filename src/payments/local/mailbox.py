"""What SES sent, as a person would read it: recipient, template, locale, rendered subject and text.

The emulator keeps sent messages but does not render templated ones; the rendering here follows SES's
`{{name}}` substitution on the template the stack created (read back through the SES API).
"""

from __future__ import annotations

import json
import re
from typing import Any

from payments.local.emulator import ACCOUNT_ID, REGION

_PLACEHOLDER = re.compile(r"{{\s*([A-Za-z0-9_]+)\s*}}")
_LOCALE = re.compile(r"-([a-z]{2}-[A-Z]{2})$")


def _render(text: str, data: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda match: str(data.get(match.group(1), "")), text)


def sent_emails(ses: Any, *, stage: str) -> list[dict[str, Any]]:
    from moto.ses.models import ses_backends  # noqa: PLC0415 (the emulator's own record of sends)

    emails = []
    for message in list(ses_backends[ACCOUNT_ID][REGION].sent_messages):
        template_name = getattr(message, "template", None)
        if template_name is None:
            continue
        template = ses.get_template(TemplateName=template_name)["Template"]
        data = json.loads(message.template_data or "{}")
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
                "subject": _render(template.get("SubjectPart", ""), data),
                "text": _render(template.get("TextPart", ""), data),
            }
        )
    return emails
