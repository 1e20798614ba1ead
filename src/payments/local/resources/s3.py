"""S3: buckets (versioning, encryption, public access block, lifecycle) and bucket policies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::S3::Bucket")
def bucket(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    s3 = build.client("s3")
    name = build.template.name(logical_id)
    s3.create_bucket(Bucket=name)
    if properties.get("VersioningConfiguration"):
        s3.put_bucket_versioning(
            Bucket=name,
            VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]},
        )
    encryption = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
            }
            for rule in encryption
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    lifecycle = properties.get("LifecycleConfiguration", {}).get("Rules")
    if lifecycle:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in lifecycle]}
        )


@creates("AWS::S3::BucketPolicy")
def bucket_policy(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    """The emulator evaluates bucket policies but ignores their `Condition` blocks, which would turn
    a conditional deny (no TLS, no KMS header) into a deny of everything. Locally only the
    unconditional statements apply; in AWS the whole policy does (the template tests check it)."""
    properties = build.properties(resource)
    document = properties["PolicyDocument"]
    statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
    enforceable = [statement for statement in statements if "Condition" not in statement]
    if enforceable:
        build.client("s3").put_bucket_policy(
            Bucket=properties["Bucket"], Policy=json.dumps({**document, "Statement": enforceable})
        )


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of the S3 API."""
    converted: dict[str, Any] = {
        "ID": rule.get("Id", "rule"),
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "Transitions" in rule:
        converted["Transitions"] = [
            {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
            for t in rule["Transitions"]
        ]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    return converted
