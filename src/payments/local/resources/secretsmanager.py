"""Secrets Manager: secrets, with a generated value as CloudFormation generates one."""

from __future__ import annotations

from typing import Any

from payments.local.resources.registry import Build, creates


@creates("AWS::SecretsManager::Secret")
def secret(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    secrets = build.client("secretsmanager")
    request: dict[str, Any] = {"Name": build.template.name(logical_id)}
    for field_name in ("Description", "SecretString", "KmsKeyId"):
        if field_name in properties:
            request[field_name] = str(properties[field_name])
    generate = properties.get("GenerateSecretString")
    if generate is not None:  # what CloudFormation does for it: Secrets Manager's own generator
        request["SecretString"] = secrets.get_random_password(
            PasswordLength=int(generate.get("PasswordLength", 32)),
            ExcludePunctuation=bool(generate.get("ExcludePunctuation", False)),
        )["RandomPassword"]
    build.template.created[logical_id] = secrets.create_secret(**request)["ARN"]
