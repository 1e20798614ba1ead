"""Stands the application up in the emulator from `template.yaml` itself: no second list of resources.

The template is resolved by `payments.local.template`; each resource is created by its type's creator
in `payments.local.resources`, in the table's creation order. A resource type without a creator is an
error, never silently skipped: what the template declares exists locally, or `payments local up`
refuses to start, before anything is created.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from payments.local.deployed import Deployed
from payments.local.resources import apigateway
from payments.local.resources.registry import Build, creation_rank, creator_for
from payments.local.template import StackError, Template


class StackBuilder:
    """Creates each resource of a `Template` through boto3 clients (pointed at the emulator)."""

    def __init__(self, template: Template, client: Callable[[str], Any], *, template_dir: Path) -> None:
        self.template = template
        self._build = Build(template, client, template_dir)

    @property
    def deployed(self) -> Deployed:
        return self._build.deployed

    def build(
        self, on_created: Callable[[int, int, str], None] = lambda _done, _total, _id: None
    ) -> Deployed:
        """Create every resource, in dependency order; `on_created(done, total, logical_id)` after each."""
        unknown = {
            f"{logical_id} ({resource['Type']})"
            for logical_id, resource in self.template.resources.items()
            if creator_for(resource) is None
        }
        if unknown:
            raise StackError(f"the local runtime cannot create: {', '.join(sorted(unknown))}")
        broken = self.template.broken_rules()
        if broken:  # as CloudFormation, before anything is created
            raise StackError(f"the template's Rules refuse these parameters: {'; '.join(broken)}")
        resources = sorted(self.template.resources.items(), key=lambda item: creation_rank(item[1]))
        for done, (logical_id, resource) in enumerate(resources, start=1):
            if "Condition" in resource and not self.template.condition(resource["Condition"]):
                continue
            creator = creator_for(resource)
            assert creator is not None  # every type was checked above
            creator(self._build, logical_id, resource)
            self.deployed.resources[logical_id] = self.template.physical_id(logical_id)
            on_created(done, len(resources), logical_id)
        apigateway.publish_routes(self._build)
        return self.deployed
