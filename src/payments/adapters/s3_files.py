"""Files kept in S3, encrypted with the payments data key."""

from __future__ import annotations

from typing import Any

from payments.domain.errors import NotFound
from payments.service.ports import FileStore


class S3FileStore(FileStore):
    def __init__(self, client: Any, *, bucket: str, kms_key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._kms_key = kms_key

    def put(self, key: str, body: bytes, *, content_type: str) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self._kms_key,
        )

    def get(self, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey:
            raise NotFound(f"no file {key}") from None
        return body
