"""Receipts through SES v1 templates (`receipt-v3-<locale>`), sent with the configuration set."""

from __future__ import annotations

import json
from typing import Any

from payments.service.ports import Mailer


class SesMailer(Mailer):
    def __init__(
        self, client: Any, *, sender: str, configuration_set: str, template_prefix: str = "receipt-v3"
    ) -> None:
        self._client = client
        self._sender = sender
        self._configuration_set = configuration_set
        self._template_prefix = template_prefix

    def send_receipt(self, *, to: str, locale: str, data: dict[str, object]) -> str:
        response = self._client.send_templated_email(
            Source=self._sender,
            Destination={"ToAddresses": [to]},
            Template=f"{self._template_prefix}-{locale}",
            TemplateData=json.dumps(data),
            ConfigurationSetName=self._configuration_set,
        )
        message_id: str = response["MessageId"]
        return message_id
