"""Lambda: functions (as SAM declares them, `Globals` merged) and layers.

Each function is created in the emulator (a placeholder zip: locally the handler runs in-process from
the source tree) with its own role, alias and concurrency, and becomes a `FunctionSpec` carrying its
own environment. Its `Events` are wired by `payments.local.resources.lambda_events`.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from payments.local.invoker import FunctionSpec
from payments.local.resources import iam, lambda_events
from payments.local.resources.registry import Build, creates


@creates("AWS::Serverless::Function")
def function(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.template.function_properties(logical_id)
    name = build.template.physical_id(logical_id)
    role_arn = iam.role(
        build, name, logical_id, properties.get("Policies", []), service="lambda.amazonaws.com"
    )
    environment = {k: str(v) for k, v in properties.get("Environment", {}).get("Variables", {}).items()}
    dead_letter_arn = properties.get("DeadLetterQueue", {}).get("TargetArn")
    lambda_client = build.client("lambda")
    lambda_client.create_function(
        FunctionName=name,
        Runtime=properties["Runtime"],
        Role=role_arn,
        Handler=properties["Handler"],
        Code={"ZipFile": _placeholder_zip()},
        Timeout=int(properties.get("Timeout", 3)),
        MemorySize=int(properties.get("MemorySize", 128)),
        Architectures=properties.get("Architectures", ["x86_64"]),
        Environment={"Variables": environment},
        # What `payments dlq` reads to find the function's dead-letter queue, as in AWS.
        **({"DeadLetterConfig": {"TargetArn": dead_letter_arn}} if dead_letter_arn else {}),
    )
    if properties.get("AutoPublishAlias"):
        # Published once, as a first deploy does; `DeploymentPreference` (a canary) needs a second
        # deploy to mean anything, so locally the alias simply points at the one version.
        version = lambda_client.publish_version(FunctionName=name)["Version"]
        lambda_client.create_alias(
            FunctionName=name, Name=str(properties["AutoPublishAlias"]), FunctionVersion=version
        )
    if "ReservedConcurrentExecutions" in properties:
        lambda_client.put_function_concurrency(
            FunctionName=name,
            ReservedConcurrentExecutions=int(properties["ReservedConcurrentExecutions"]),
        )
    build.deployed.functions.append(
        FunctionSpec(
            logical_id=logical_id,
            name=name,
            handler=properties["Handler"],
            timeout_seconds=int(properties.get("Timeout", 3)),
            memory_mb=int(properties.get("MemorySize", 128)),
            environment=environment,
            dead_letter_arn=dead_letter_arn,
        )
    )
    for event_id, event in properties.get("Events", {}).items():
        lambda_events.wire(build, logical_id, name, event_id, event)


@creates("AWS::Serverless::LayerVersion")
def layer(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    """A layer's packages are installed in the local environment already (the `settlement` extra)."""


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Locally the handler runs in-process from the source tree.\n")
    return buffer.getvalue()
