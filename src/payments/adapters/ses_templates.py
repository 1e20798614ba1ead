"""The email templates kept as files (`payments/email_templates/<template>/<locale>/`), published to SES.

Each locale directory holds `subject.txt`, `body.txt` and `body.html`, in SES's Handlebars syntax. They
become SES v1 templates named `<template>-<stage>-<locale>` (the names `SesMailer` sends). The digest
over every file is a property of the stack's custom resource, so a changed template updates it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from payments.adapters.ses_mailer import ses_template_name

_PARTS = {"subject.txt": "SubjectPart", "body.txt": "TextPart", "body.html": "HtmlPart"}


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    name: str
    locale: str
    subject: str
    text: str
    html: str

    def for_ses(self, stage: str) -> dict[str, str]:
        return {
            "TemplateName": ses_template_name(self.name, stage=stage, locale=self.locale),
            "SubjectPart": self.subject.strip(),
            "TextPart": self.text,
            "HtmlPart": self.html,
        }


def _root() -> Traversable:
    return resources.files("payments").joinpath("email_templates")


def load_email_templates() -> list[EmailTemplate]:
    """Every template in every locale, in name then locale order. A locale missing a part is an error."""
    templates = []
    for template_dir in sorted(_root().iterdir(), key=lambda entry: entry.name):
        if not template_dir.is_dir():
            continue
        for locale_dir in sorted(template_dir.iterdir(), key=lambda entry: entry.name):
            parts = {}
            for file_name in _PARTS:
                part = locale_dir.joinpath(file_name)
                if not part.is_file():
                    raise FileNotFoundError(
                        f"email template {template_dir.name}/{locale_dir.name} lacks {file_name}"
                    )
                parts[file_name] = part.read_text(encoding="utf-8")
            templates.append(
                EmailTemplate(
                    template_dir.name,
                    locale_dir.name,
                    subject=parts["subject.txt"],
                    text=parts["body.txt"],
                    html=parts["body.html"],
                )
            )
    return templates


def templates_digest(templates: list[EmailTemplate] | None = None) -> str:
    digest = hashlib.sha256()
    for template in templates if templates is not None else load_email_templates():
        for part in (template.name, template.locale, template.subject, template.text, template.html):
            digest.update(part.encode())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def publish_email_templates(ses: Any, *, stage: str) -> list[str]:
    """Create each template in SES, or update it where it exists; the SES names published."""
    published = []
    for template in load_email_templates():
        request = template.for_ses(stage)
        try:
            ses.create_template(Template=request)
        except ses.exceptions.AlreadyExistsException:
            ses.update_template(Template=request)
        published.append(request["TemplateName"])
    return published


def delete_email_templates(ses: Any, *, stage: str) -> list[str]:
    deleted = []
    for template in load_email_templates():
        name = ses_template_name(template.name, stage=stage, locale=template.locale)
        ses.delete_template(TemplateName=name)  # deleting a missing template is not an error in SES
        deleted.append(name)
    return deleted
