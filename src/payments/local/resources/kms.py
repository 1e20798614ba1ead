"""KMS: keys (the id and ARN AWS assigns are what references read) and aliases."""

from __future__ import annotations

import json
from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::KMS::Key")
def key(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    request: dict[str, Any] = {"Description": properties.get("Description", logical_id)}
    if "KeyPolicy" in properties:
        request["Policy"] = json.dumps(properties["KeyPolicy"])
    kms = build.client("kms")
    metadata = kms.create_key(**request)["KeyMetadata"]
    if properties.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    build.template.created[logical_id] = metadata["KeyId"]
    build.template.attributes[(logical_id, "Arn")] = metadata["Arn"]
    build.template.attributes[(logical_id, "KeyId")] = metadata["KeyId"]


@creates("AWS::KMS::Alias")
def alias(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    build.client("kms").create_alias(AliasName=properties["AliasName"], TargetKeyId=properties["TargetKeyId"])
