"""Step Functions: state machines, from the ASL file itself.

Created through the API (not CloudFormation), so the emulator's executing backend knows them.
"""

from __future__ import annotations

import re
from typing import Any

from payments.local.resources import iam
from payments.local.resources.registry import Build, creates
from payments.local.template import StackError

_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9]+)\}")


@creates("AWS::Serverless::StateMachine")
def state_machine(build: Build, logical_id: str, resource: dict[str, Any]) -> None:
    """The ASL file, with `DefinitionSubstitutions` applied as CloudFormation applies them."""
    properties = build.properties(resource)
    definition = (build.template_dir / properties["DefinitionUri"]).read_text()
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    unresolved = _SUBSTITUTION.findall(definition)
    if unresolved:
        raise StackError(f"{logical_id}: no substitution for {', '.join(sorted(set(unresolved)))}")
    name = build.template.name(logical_id)
    role = iam.role(build, name, logical_id, properties.get("Policies", []), service="states.amazonaws.com")
    build.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=role, type=properties.get("Type", "STANDARD")
    )
