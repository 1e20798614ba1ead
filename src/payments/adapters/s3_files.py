"""Files kept in S3, encrypted with the payments data key."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

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

    def put_once(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        """A conditional write (`If-None-Match: *`): a redelivered event never writes a file twice."""
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=metadata,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self._kms_key,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {
                "PreconditionFailed",
                "ConditionalRequestConflict",
            }:
                return False
            raise
        return True

    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            raise NotFound(f"no file {key}") from None
        body: bytes = response["Body"].read()
        return body, dict(response.get("Metadata", {}))

    def metadata(self, key: str) -> dict[str, str]:
        try:
            return dict(self._client.head_object(Bucket=self._bucket, Key=key).get("Metadata", {}))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NotFound"}:
                raise NotFound(f"no file {key}") from None
            raise

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)
