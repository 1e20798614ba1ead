"""What template.yaml declares, read from the template itself for the tests that check it: its functions,
their HTTP routes, who calls each one, and every IAM statement each role ends up with.

Nothing here lists a function or a route: adding one to the template is what adds it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOT = ROOT / "src"
TEMPLATE_PATH = ROOT / "template.yaml"
SPEC_PATH = ROOT / "docs" / "api" / "openapi.yaml"

FUNCTION = "AWS::Serverless::Function"
STATE_MACHINE = "AWS::Serverless::StateMachine"
MANAGED_POLICY = "AWS::IAM::ManagedPolicy"
# What CloudFormation and SAM resolve by themselves: never a resource of the stack.
PSEUDO_NAMES = frozenset(
    {"AWS::Partition", "AWS::Region", "AWS::AccountId", "AWS::URLSuffix", "AWS::StackName", "AWS::NoValue"}
)
_SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")

# The IAM statements allowed a "*" resource, (owner, Sid) -> why it cannot name one. A security
# allowance, not an inventory: each entry is an exception someone decided on.
WILDCARD_RESOURCES_ALLOWED = {
    ("CheckoutChallengeFunction", "AnswerCallback"): "task-token calls take no resource ARN",
    ("CheckoutStateMachine", "LogDelivery"): "CloudWatch Logs delivery APIs take no resource ARN",
    ("EmailTemplatesFunction", "EmailTemplates"): "SES v1 template APIs take no resource ARN",
}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resources_of(document: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in document["Resources"].items() if res["Type"] == kind}


def functions(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every function of the SAM template: logical id -> its own Properties (Globals not merged)."""
    return {name: res["Properties"] for name, res in resources_of(document, FUNCTION).items()}


def environment(document: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's environment variables as Lambda gets them: Globals', then its own."""
    globals_ = document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = document["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {})
    return {**globals_, **own}


def handler_module(handler: str) -> str:
    """`payments.functions.authorize.handler` -> `payments.functions.authorize`."""
    return handler.rpartition(".")[0]


def module_path(module: str) -> Path:
    return SOURCE_ROOT.joinpath(*module.split(".")).with_suffix(".py")


def http_routes(document: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """Each HttpApi route of the template, (METHOD, path) -> the logical id of its function."""
    routes: dict[tuple[str, str], str] = {}
    for logical_id, properties in functions(document).items():
        for event in properties.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                key = (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
                assert key not in routes, f"{key} is declared twice"
                routes[key] = logical_id
    return routes


def referenced(value: Any) -> set[str]:
    """The logical ids and parameters a value names through Ref, GetAtt and Sub (`!Ref Fn.Alias`, the
    alias SAM writes for a function, names the function)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument.split(".")[0])
            elif key == "Fn::GetAtt":
                found.add(str(argument[0] if isinstance(argument, list) else argument.split(".")[0]))
            elif key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                found |= {name.split(".")[0] for name in _SUB_NAME.findall(text) if name not in variables}
                found |= referenced(variables)
            else:
                found |= referenced(argument)
    return found - PSEUDO_NAMES


def sub_text(value: Any) -> str:
    """The text of a `Fn::Sub` (either form), or "" for anything else."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        argument = value["Fn::Sub"]
        return str(argument if isinstance(argument, str) else argument[0])
    return ""


def synchronous_callers(document: Mapping[str, Any]) -> dict[str, set[str]]:
    """Who calls each function and waits for its answer: the API (a route, or the authorizer), a state
    machine (a task), or another function (one whose environment names it)."""
    callers: dict[str, set[str]] = {}
    names = set(functions(document))
    for logical_id, properties in functions(document).items():
        for event in properties.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                callers.setdefault(logical_id, set()).update(referenced(event["Properties"]["ApiId"]))
        for caller in referenced(list(properties.get("Environment", {}).get("Variables", {}).values())):
            if caller in names:
                callers.setdefault(caller, set()).add(logical_id)
    for api_id, res in resources_of(document, "AWS::Serverless::HttpApi").items():
        for authorizer in res["Properties"].get("Auth", {}).get("Authorizers", {}).values():
            for function in referenced(authorizer.get("FunctionArn")) & names:
                callers.setdefault(function, set()).add(api_id)
    for machine_id, res in resources_of(document, STATE_MACHINE).items():
        for function in referenced(res["Properties"].get("DefinitionSubstitutions", {})) & names:
            callers.setdefault(function, set()).add(machine_id)
    return callers


def deployment_hooks(document: Mapping[str, Any]) -> set[str]:
    """The functions CodeDeploy calls around a canary (Globals' DeploymentPreference hooks)."""
    preference = document.get("Globals", {}).get("Function", {}).get("DeploymentPreference", {})
    return referenced(preference.get("Hooks", {}))


def _policy_documents(res: Mapping[str, Any]) -> tuple[list[dict[str, Any]], set[str]]:
    """(inline policy documents, managed policies named by Ref) of a function, state machine or role."""
    props = res.get("Properties", {})
    if res["Type"] in {FUNCTION, STATE_MACHINE}:
        policies = props.get("Policies", [])
        inline = [p for p in policies if isinstance(p, dict) and "Statement" in p]
        named = [p for p in policies if not (isinstance(p, dict) and "Statement" in p)]
        return inline, referenced(named)
    if res["Type"] == "AWS::IAM::Role":
        inline = [p["PolicyDocument"] for p in props.get("Policies", [])]
        return inline, referenced(props.get("ManagedPolicyArns", []))
    if res["Type"] in {"AWS::IAM::Policy", MANAGED_POLICY}:
        return [props["PolicyDocument"]], set()
    return [], set()


def statements(document: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement, with the resource it applies to: a function's, state machine's or role's
    inline policies, and the statements of the stack's managed policies it names (a managed policy's
    statements are also yielded under its own id, so that one nobody names is still seen)."""
    managed = resources_of(document, MANAGED_POLICY)
    for name, res in document["Resources"].items():
        inline, named = _policy_documents(res)
        documents = [
            *inline,
            *(managed[policy]["Properties"]["PolicyDocument"] for policy in named & set(managed)),
        ]
        for doc in documents:
            for statement in as_list(doc["Statement"]):
                yield name, statement
