"""Receipts through SES v1 templates (`<template>-<stage>-<locale>`), sent with the configuration set,
whose event destination brings bounces and complaints back (with the message's tags)."""

from __future__ import annotations

import json
from typing import Any

from payments.service.ports import Mailer


def ses_template_name(template: str, *, stage: str, locale: str) -> str:
    return f"{template}-{stage}-{locale}"


class SesMailer(Mailer):
    def __init__(self, client: Any, *, sender: str, configuration_set: str, stage: str) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set
        self._stage = stage

    def send(
        self, template: str, *, to: str, locale: str, data: dict[str, object], tags: dict[str, str]
    ) -> str:
        response = self._client.send_templated_email(
            Source=self._sender,
            Destination={"ToAddresses": [to]},
            Template=ses_template_name(template, stage=self._stage, locale=locale),
            TemplateData=json.dumps(data),
            ConfigurationSetName=self._configuration_set,
            Tags=[{"Name": name, "Value": value} for name, value in tags.items()],
        )
        message_id: str = response["MessageId"]
        return message_id
