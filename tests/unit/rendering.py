"""Email templates rendered as the local stack's SES renders them (the emulator's Handlebars subset:
`{{x}}`, `{{#if}}`/`{{else}}`, `{{#each}}`), with the data as SES receives it (JSON), so a unit test
reads what `GET /_local/emails` would show. Like SES, it escapes nothing, and it refuses a variable
that is missing outside an `{{#if}}`.
"""

from __future__ import annotations

import json
from typing import Any

from moto.ses.template import parse_template

from payments.adapters.ses_templates import EmailTemplate, load_email_templates


def render(part: str, data: dict[str, Any]) -> str:
    return str(parse_template(part, json.loads(json.dumps(data))))


def template(name: str, locale: str) -> EmailTemplate:
    [found] = [t for t in load_email_templates() if (t.name, t.locale) == (name, locale)]
    return found
