"""`payments package`: what `sam package` does, without the SAM CLI. Every bundle `payments bundle` made
is uploaded to S3 under its SHA-256 (content-addressed, so an unchanged bundle is neither uploaded again
nor redeployed), and a copy of the template points each function's `CodeUri`, each layer's `ContentUri`
and each state machine's `DefinitionUri` at its object. The application template is left unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

CODE_PROPERTY: Final = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class PackageError(RuntimeError):
    pass


def _upload_once(s3: Any, bucket: str, key: str, body: bytes) -> bool:
    """Put the object unless it is there already; True when it was uploaded now."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms")
        return True
    return False


def package(
    template: dict[str, Any], *, root: Path, bundles: Path, s3: Any, bucket: str, prefix: str = ""
) -> tuple[dict[str, Any], dict[str, int]]:
    """(the packaged template, {"uploaded": n, "reused": n})."""
    manifest_path = bundles / "manifest.json"
    if not manifest_path.is_file():
        raise PackageError(f"no {manifest_path}: run `payments bundle --out {bundles}` first")
    manifest = {entry["logicalId"]: entry for entry in json.loads(manifest_path.read_text())}
    document = copy.deepcopy(template)
    document.get("Globals", {}).get("Function", {}).pop("CodeUri", None)  # every function gets its own
    counts = {"uploaded": 0, "reused": 0}
    for logical_id, resource in document["Resources"].items():
        kind = resource["Type"]
        properties = resource.setdefault("Properties", {})
        if kind in CODE_PROPERTY:
            entry = manifest.get(logical_id)
            if entry is None:
                raise PackageError(
                    f"{logical_id} has no bundle in {manifest_path}: run `payments bundle` again"
                )
            body = (bundles / entry["zip"]).read_bytes()
            if hashlib.sha256(body).hexdigest() != entry["sha256"]:
                raise PackageError(f"{entry['zip']} is not the bundle the manifest lists: rebuild it")
            key = f"{prefix}{entry['sha256']}.zip"
            counts["uploaded" if _upload_once(s3, bucket, key, body) else "reused"] += 1
            properties[CODE_PROPERTY[kind]] = {"Bucket": bucket, "Key": key}
            resource.pop("Metadata", None)  # BuildMethod: already built
        elif kind == "AWS::Serverless::StateMachine" and isinstance(properties.get("DefinitionUri"), str):
            body = (root / properties["DefinitionUri"]).read_bytes()
            key = f"{prefix}{hashlib.sha256(body).hexdigest()}.json"
            counts["uploaded" if _upload_once(s3, bucket, key, body) else "reused"] += 1
            properties["DefinitionUri"] = {"Bucket": bucket, "Key": key}
    return document, counts
