"""CloudFormation: custom resources (`Custom::*`), kept for the runtime to create once the functions
that implement them run (`payments.local.custom_resources`)."""

from __future__ import annotations

from typing import Any

from payments.local.deployed import CustomResource
from payments.local.resources.registry import CUSTOM_RESOURCE, Build, creates


@creates(CUSTOM_RESOURCE)
def custom_resource(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    properties = build.properties(resource)
    build.deployed.custom_resources.append(
        CustomResource(logical_id, resource["Type"], str(properties["ServiceToken"]), properties)
    )
