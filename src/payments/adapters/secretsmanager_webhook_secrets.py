"""Webhook endpoints' signing secrets in Secrets Manager: one secret per endpoint, named
`<prefix><webhookEndpointId>` (`payments/webhook-secret-<stage>/we_...`, so a role is granted the
stack's endpoints' secrets and no other) and encrypted with the stack's data key, as the merchants'
Stripe keys are.

The value is JSON: `{"current": "whsec_..."}`, and after a rotation also `"previous"` (the secret it
replaced) and `"previousUntil"` (when that one stops signing: 24 hours on). Both sign meanwhile, so a
receiver that has not yet taken up the new secret still verifies every delivery.

`signing` is on the delivery hot path: each endpoint's value is kept in this instance for
`SIGNING_CACHE_SECONDS` (60 s), one read per endpoint per minute per container instead of one per
delivery. So a rotation made elsewhere reaches deliveries within a minute; the overlap is a day, so
nothing fails meanwhile. A deleted endpoint's secret is deleted at once, without a recovery window:
it must sign nothing more.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from botocore.exceptions import ClientError

from payments.adapters.aws_errors import error_code
from payments.adapters.dynamodb_items import format_time, parse_time
from payments.domain.errors import NotFound
from payments.domain.merchant_webhooks import new_secret
from payments.service.webhook_ports import WebhookSecrets

ROTATION_OVERLAP: Final = timedelta(hours=24)
SIGNING_CACHE_SECONDS: Final = 60.0
_NOT_FOUND: Final = "ResourceNotFoundException"
_CACHE_PRUNE_AT: Final = 1024


@dataclass(frozen=True, slots=True)
class _Value:
    current: str
    previous: str | None = None
    previous_until: datetime | None = None

    def signing(self, now: datetime) -> list[str]:
        """The current secret, then the replaced one while its overlap lasts."""
        if self.previous is not None and self.previous_until is not None and now < self.previous_until:
            return [self.current, self.previous]
        return [self.current]

    def text(self) -> str:
        value: dict[str, str] = {"current": self.current}
        if self.previous is not None and self.previous_until is not None:
            value |= {"previous": self.previous, "previousUntil": format_time(self.previous_until)}
        return json.dumps(value)

    @classmethod
    def parse(cls, text: str) -> _Value:
        value = json.loads(text)
        until = value.get("previousUntil")
        return cls(value["current"], value.get("previous"), None if until is None else parse_time(until))


class SecretsManagerWebhookSecrets(WebhookSecrets):
    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        kms_key: str | None,
        cache_seconds: float = SIGNING_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`kms_key`: the data key new secrets are encrypted with; only a function that creates
        secrets needs it (None elsewhere, and `create` then refuses)."""
        self._client = client
        self._prefix = prefix
        self._kms_key = kms_key
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[_Value, float]] = {}

    def create(self, webhook_endpoint_id: str) -> str:
        if not self._kms_key:
            raise RuntimeError("creating a webhook secret needs the data key (DATA_KEY)")
        value = _Value(new_secret())
        self._client.create_secret(
            Name=self._name(webhook_endpoint_id),
            Description=f"Signing secret of merchant webhook endpoint {webhook_endpoint_id}.",
            KmsKeyId=self._kms_key,
            SecretString=value.text(),
        )
        self._keep(webhook_endpoint_id, value)
        return value.current

    def signing(self, webhook_endpoint_id: str, now: datetime) -> list[str]:
        with self._lock:
            cached = self._cache.get(webhook_endpoint_id)
        if cached is not None and self._clock() - cached[1] < self._cache_seconds:
            return cached[0].signing(now)
        return self._read(webhook_endpoint_id).signing(now)

    def rotate(self, webhook_endpoint_id: str, now: datetime) -> str:
        # Read afresh, not from the cache: the secret replaced must be the one signing now. Two
        # rotations of one endpoint at the same moment: the last write wins, and the other caller's
        # new secret never signs (Secrets Manager has no conditional put). Rotations are rare and by
        # hand, and the merchant rotates again if it happens.
        replaced = self._read(webhook_endpoint_id)
        value = _Value(new_secret(), replaced.current, now + ROTATION_OVERLAP)
        self._client.put_secret_value(SecretId=self._name(webhook_endpoint_id), SecretString=value.text())
        self._keep(webhook_endpoint_id, value)
        return value.current

    def delete(self, webhook_endpoint_id: str) -> None:
        with self._lock:
            self._cache.pop(webhook_endpoint_id, None)
        try:
            self._client.delete_secret(
                SecretId=self._name(webhook_endpoint_id), ForceDeleteWithoutRecovery=True
            )
        except ClientError as error:
            if error_code(error) != _NOT_FOUND:
                raise

    def _name(self, webhook_endpoint_id: str) -> str:
        return f"{self._prefix}{webhook_endpoint_id}"

    def _read(self, webhook_endpoint_id: str) -> _Value:
        try:
            text = self._client.get_secret_value(SecretId=self._name(webhook_endpoint_id))["SecretString"]
        except ClientError as error:
            if error_code(error) != _NOT_FOUND:
                raise
            raise NotFound(f"no signing secret for {webhook_endpoint_id}") from None
        value = _Value.parse(text)
        self._keep(webhook_endpoint_id, value)
        return value

    def _keep(self, webhook_endpoint_id: str, value: _Value) -> None:
        kept_at = self._clock()
        with self._lock:
            if len(self._cache) >= _CACHE_PRUNE_AT:  # a long-lived worker meets many endpoints
                stale = [key for key, (_, at) in self._cache.items() if kept_at - at >= self._cache_seconds]
                for key in stale:
                    del self._cache[key]
            self._cache[webhook_endpoint_id] = (value, kept_at)
