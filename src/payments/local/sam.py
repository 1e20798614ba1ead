"""Translate a SAM template to plain CloudFormation offline, as `sam package` + the SAM transform would.

The transform refuses local paths (`CodeUri: src/`), so they are first pointed at S3 the way
`sam package` would after uploading them. Managed policy ARNs come from the list bundled with
aws-sam-translator instead of a call to IAM. The region comes from boto3's usual resolution
(`AWS_DEFAULT_REGION`, profile); nothing is sent over the network.
"""

from __future__ import annotations

import copy
from pathlib import PurePosixPath
from typing import Any

import boto3
from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

__all__ = ["DEFAULT_CODE_URI", "translate"]

DEFAULT_CODE_URI = "s3://payments-artifacts/code.zip"

# What `sam package` uploads: the property per resource type (and per Globals section), and whether
# it is code (a zip) rather than a definition file.
_UPLOADED: dict[str, tuple[str, bool]] = {
    "Function": ("CodeUri", True),
    "LayerVersion": ("ContentUri", True),
    "StateMachine": ("DefinitionUri", False),
    "Api": ("DefinitionUri", False),
    "HttpApi": ("DefinitionUri", False),
}


class _BundledManagedPolicies:
    """Stands in for samtranslator's IAM-backed `ManagedPolicyLoader`."""

    def __init__(self, partition: str) -> None:
        self._partition = partition

    def load(self) -> dict[str, str]:
        policies: dict[str, str] | None = get_bundled_managed_policy_map(self._partition)
        if policies is None:
            raise ValueError(
                f"aws-sam-translator bundles no managed policies for partition {self._partition}"
            )
        return policies


def _bucket(code_uri: str) -> str:
    if not code_uri.startswith("s3://") or "/" not in code_uri.removeprefix("s3://"):
        raise ValueError(f"code_uri must look like s3://bucket/key, got {code_uri!r}")
    return code_uri.removeprefix("s3://").split("/", 1)[0]


def _rewrite_local_uris(template: dict[str, Any], code_uri: str) -> None:
    targets: list[tuple[object, str]] = [
        (properties, kind) for kind, properties in template.get("Globals", {}).items()
    ]
    for resource in template.get("Resources", {}).values():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if isinstance(kind, str) and kind.startswith("AWS::Serverless::"):
            targets.append((resource.get("Properties"), kind.removeprefix("AWS::Serverless::")))
    for properties, kind in targets:
        if kind not in _UPLOADED or not isinstance(properties, dict):
            continue
        prop, is_code = _UPLOADED[kind]
        value = properties.get(prop)
        if isinstance(value, str) and not value.startswith("s3://"):
            properties[prop] = (
                code_uri if is_code else f"s3://{_bucket(code_uri)}/{PurePosixPath(value).name}"
            )


def translate(template: dict[str, Any], *, code_uri: str = DEFAULT_CODE_URI) -> dict[str, Any]:
    """Return the CloudFormation template the SAM transform makes of `template` (left unchanged).

    Every local code path becomes `code_uri`; a local definition file becomes an object of the same
    name in `code_uri`'s bucket. Raises `ValueError` when no AWS region is configured.
    """
    _bucket(code_uri)
    region = boto3.session.Session().region_name
    if not region:
        raise ValueError("the SAM transform needs an AWS region: set AWS_DEFAULT_REGION")
    document = copy.deepcopy(template)
    _rewrite_local_uris(document, code_uri)
    loader = _BundledManagedPolicies(ArnGenerator.get_partition_name(region))
    translated: dict[str, Any] = transform(document, {}, loader)
    return translated
