"""Audit records in S3, encrypted with the payments data key."""

from __future__ import annotations

import json
from typing import Any

from payments.service.ports import AuditArchive


class S3AuditArchive(AuditArchive):
    def __init__(self, client: Any, *, bucket: str, kms_key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._kms_key = kms_key

    def store(self, key: str, document: dict[str, object]) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=json.dumps(document, sort_keys=True).encode(),
            ContentType="application/json",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self._kms_key,
        )
