"""What each function's role may do in AWS, checked against what its code does and how it is wired.

The local runtime does not enforce IAM, so these checks are where a grant too wide, or one the code
cannot use, is caught before a deploy. None of them lists the functions: each one iterates the
template's functions, so a new function is checked as soon as it is declared.

- **Actions**: every action a function is granted is an AWS call its code makes, read from the source
  its handler reaches (its module's imports, and the `bootstrap` builders those name), mapped to IAM
  through botocore's operation names; or an action AWS itself performs with the role (an event
  source's polling, a dead-letter queue's send, KMS behind an encrypted resource).
- **Resources**: every resource a function is granted is one it is told about (its environment, its
  dead-letter queue), handed by what invokes it (its event sources, the workflow that runs it, the
  deployment it checks), or the key those are encrypted with.
- **GET routes write nothing**: the method says the function only reads.
- **Who moves money**: the one explicit table here. See `test_only_these_functions_move_money`.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from payments.delivery.imports import ImportGraph
from tests.unit.inventory import (
    MANAGED_POLICY,
    SOURCE_ROOT,
    STATE_MACHINE,
    WILDCARD_RESOURCES_ALLOWED,
    as_list,
    deployment_hooks,
    environment,
    functions,
    handler_module,
    referenced,
    resources_of,
    statements,
    sub_text,
)

# IAM's service prefix -> botocore's service name, where they differ.
BOTOCORE_SERVICE = {"states": "stepfunctions"}
# boto3 calls whose IAM action is not the operation's own name.
CALL_ACTIONS = {
    # A transaction is authorized per item action (DynamoDB has no TransactWriteItems permission).
    "transact_write_items": {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    },
    "transact_get_items": {"dynamodb:GetItem"},
    "head_object": {"s3:GetObject"},
    "upload_fileobj": {"s3:PutObject"},
    "download_fileobj": {"s3:GetObject"},
    "invoke": {"lambda:InvokeFunction"},
    "send_message_batch": {"sqs:SendMessage"},
    "delete_message_batch": {"sqs:DeleteMessage"},
}
# What Lambda does with the function's role for an event source, not its code.
EVENT_SOURCE_ACTIONS = {
    "DynamoDB": {
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
    },
    "SQS": {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    },
}
# Lambda sends an asynchronous event that keeps failing to the function's DLQ, as the function's role.
DEAD_LETTER_ACTIONS = {"sqs:SendMessage"}
# What Powertools' idempotency store does on the idempotency table for a route declared `idempotent=True`
# (its calls are in the library, not in our source): read, put, complete (an update) and delete a record.
IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
# The operations a safe (GET) request may make.
READ_PREFIXES = ("Get", "BatchGet", "List", "Describe", "Query", "Scan", "Head")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")
# The email templates the package ships, which the EmailTemplates custom resource publishes to SES as
# `<template>-<stage>-<locale>`: a function may send those, and the code names them.
SHIPPED_EMAIL_TEMPLATES = frozenset(
    path.name for path in (SOURCE_ROOT / "payments" / "email_templates").iterdir() if path.is_dir()
)


@pytest.fixture(scope="module")
def template(application_template: dict[str, Any]) -> dict[str, Any]:
    return application_template


def _grants(document: Mapping[str, Any], owner: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(action, resource, statement) of every Allow statement the owner holds, managed policies too."""
    return [
        (action, resource, statement)
        for name, statement in statements(document)
        if name == owner and statement.get("Effect") == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


# -- what the code calls ----------------------------------------------------------------------------------


@functools.cache
def _operations(prefixes: frozenset[str]) -> dict[str, set[str]]:
    """boto3 method name -> the IAM actions it needs, for the services of these IAM prefixes."""
    session = botocore.session.get_session()
    calls: dict[str, set[str]] = {name: set(actions) for name, actions in CALL_ACTIONS.items()}
    for prefix in prefixes:
        model = session.get_service_model(BOTOCORE_SERVICE.get(prefix, prefix))
        for operation in model.operation_names:
            calls.setdefault(xform_name(operation), set()).add(f"{prefix}:{operation}")
    return calls


@functools.cache
def _graph() -> ImportGraph:
    return ImportGraph(SOURCE_ROOT)


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _trees(modules: Iterable[str]) -> list[ast.AST]:
    trees: list[ast.AST] = []
    for module in sorted(modules):
        base = SOURCE_ROOT.joinpath(*module.split("."))
        trees += [_parsed(path) for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()]
    return trees


def _builders_named(trees: Iterable[ast.AST]) -> set[str]:
    return {
        node.attr
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "bootstrap"
    }


@functools.cache
def _reached_code(handler: str) -> tuple[list[ast.AST], set[str]]:
    """The syntax trees a handler reaches (its module's import closure, and of `payments.bootstrap` only
    the builders and classes it uses, with what those use in turn), and the builders it names that
    bootstrap does not define."""
    modules, _ = _graph().closure(handler_module(handler))
    trees = _trees(modules - {"payments.bootstrap"})
    (bootstrap,) = _trees({"payments.bootstrap"})
    assert isinstance(bootstrap, ast.Module)
    defined = {
        node.name: node
        for node in bootstrap.body
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)
    }
    wanted = _builders_named(trees)
    missing = {name for name in wanted if name not in defined and not hasattr(_bootstrap_module(), name)}
    seen: set[str] = set()
    pending = [name for name in wanted if name in defined]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        used = {node.id for node in ast.walk(defined[name]) if isinstance(node, ast.Name)}
        pending.extend(used & set(defined))
    return [*trees, *(defined[name] for name in sorted(seen))], missing


@functools.cache
def _bootstrap_module() -> Any:
    import payments.bootstrap  # noqa: PLC0415

    return payments.bootstrap


@functools.cache
def _method_calls(tree: ast.AST) -> frozenset[str]:
    """The names of the methods a piece of code calls (`client.get_item(...)` -> get_item), and the
    operations it asks paginators for (`get_paginator("query")` -> query)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                name = str(node.args[0].value)
            names.add(name)
    return frozenset(names)


def _called_actions(trees: Iterable[ast.AST], prefixes: frozenset[str]) -> set[str]:
    operations = _operations(prefixes)
    return {action for tree in trees for name in _method_calls(tree) for action in operations.get(name, ())}


def _actions_not_called(document: Mapping[str, Any], logical_id: str) -> list[str]:
    """Actions the function is granted that neither its code nor AWS on its behalf performs."""
    properties = document["Resources"][logical_id]["Properties"]
    granted = {str(action) for action, _, _ in _grants(document, logical_id)}
    done_by_aws = {action for action in granted if action.startswith("kms:")}
    if _idempotent(properties["Handler"]):  # made by the library; still checked where granted elsewhere
        table = {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
        elsewhere = {str(action) for action, where, _ in _grants(document, logical_id) if where != table}
        done_by_aws |= IDEMPOTENCY_ACTIONS - elsewhere
    for event in properties.get("Events", {}).values():
        done_by_aws |= EVENT_SOURCE_ACTIONS.get(event["Type"], set())
    if "DeadLetterQueue" in properties:
        done_by_aws |= DEAD_LETTER_ACTIONS
    trees, missing = _reached_code(properties["Handler"])
    problems = [
        f"{logical_id}: its code names bootstrap.{name}, which bootstrap does not define" for name in missing
    ]
    prefixes = frozenset(action.split(":")[0] for action in granted - done_by_aws)
    called = _called_actions(trees, prefixes)
    problems += [
        f"{logical_id}: granted {action}, which its code never calls"
        for action in sorted(granted - done_by_aws - called)
    ]
    return problems


def _idempotent(handler: str) -> bool:
    module_name, _, name = handler.rpartition(".")
    return bool(getattr(getattr(importlib.import_module(module_name), name), "idempotent", False))


def test_every_action_granted_is_a_call_the_code_makes(template: dict[str, Any]) -> None:
    problems = [problem for name in functions(template) for problem in _actions_not_called(template, name)]
    assert problems == []


def test_the_action_check_catches_a_call_the_code_never_makes(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    inline = next(
        p for p in broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"] if "Statement" in p
    )
    inline["Statement"][0]["Action"] = ["dynamodb:GetItem", "dynamodb:DeleteTable"]
    assert _actions_not_called(broken, "GetIntentFunction") == [
        "GetIntentFunction: granted dynamodb:DeleteTable, which its code never calls"
    ]


# -- which resources ------------------------------------------------------------------------------------


def _name_patterns(document: Mapping[str, Any]) -> dict[str, re.Pattern[str]]:
    """Each resource with a name of its own (a `Fn::Sub` on the stage, usually), and a pattern that finds
    that name inside another Sub's text (an ARN built from names, as the deployment hooks' are)."""
    patterns = {}
    for logical_id, res in document["Resources"].items():
        for value in res.get("Properties", {}).values():
            text = sub_text(value)
            if text and "${Stage}" in text and not text.startswith(("arn:", "/", "${")):
                patterns[logical_id] = re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")
                break
    return patterns


def _names_in(value: Any, patterns: Mapping[str, re.Pattern[str]]) -> set[str]:
    """The resources and parameters a value names (the stage aside: every name holds it)."""
    text = sub_text(value)
    found = referenced(value) | {
        logical_id for logical_id, pattern in patterns.items() if pattern.search(text)
    }
    return found - {"Stage"}


def _with_their_keys(document: Mapping[str, Any], names: set[str]) -> set[str]:
    """The names, the keys those resources are encrypted with, and each alias's key."""
    found = set(names)
    resources = document["Resources"]
    for name in names & set(resources):
        props = resources[name].get("Properties", {})
        keys = [
            props.get("KmsMasterKeyId"),
            props.get("KmsKeyId"),
            props.get("SSESpecification", {}).get("KMSMasterKeyId"),
            props.get("TargetKeyId"),
            *(
                rule.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID")
                for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            ),
        ]
        found |= referenced([key for key in keys if key is not None])
    return found if found == names else _with_their_keys(document, found)


def _known_to(document: Mapping[str, Any], logical_id: str) -> set[str]:
    """What a function is told about or handed: its environment, dead-letter queue and event sources,
    the workflow it is a task of, the deployment it checks; with the keys all those are encrypted with."""
    properties = document["Resources"][logical_id]["Properties"]
    patterns = _name_patterns(document)
    known = set()
    for value in [*environment(document, logical_id).values(), properties.get("DeadLetterQueue", {})]:
        known |= _names_in(value, patterns)
    for event in properties.get("Events", {}).values():
        known |= referenced(event.get("Properties", {}))
    for machine_id, res in resources_of(document, STATE_MACHINE).items():
        if logical_id in referenced(res["Properties"].get("DefinitionSubstitutions", {})):
            known.add(machine_id)  # its executions: the task is given their ARNs
    if logical_id in deployment_hooks(document):
        known |= referenced({"Fn::Sub": "${ServerlessDeploymentApplication}"})
    return _with_their_keys(document, known)


def _prefixes_told(document: Mapping[str, Any], logical_id: str) -> set[str]:
    """The name prefixes a function is told (`payments/webhook-secret-${Stage}/`): what its code makes
    under one at run time (a secret per webhook endpoint) is no resource of the template."""
    texts = {sub_text(value) for value in environment(document, logical_id).values()}
    return {text for text in texts if "${Stage}" in text and text.endswith("/") and text[:4] != "arn:"}


def _resources_not_known(document: Mapping[str, Any], logical_id: str) -> list[str]:
    known = _known_to(document, logical_id)
    patterns = _name_patterns(document)
    prefixes = _prefixes_told(document, logical_id)
    problems = []
    for action, resource, statement in _grants(document, logical_id):
        if resource == "*":
            if (logical_id, statement.get("Sid")) not in WILDCARD_RESOURCES_ALLOWED:
                problems.append(f"{logical_id}: {action} on any resource")
            continue
        template = re.search(r":template/([\w-]+)-\$\{Stage\}-\*$", sub_text(resource))
        if action.startswith("ses:") and template and template[1] in SHIPPED_EMAIL_TEMPLATES:
            continue
        names = _names_in(resource, patterns)
        unknown = names - known
        if not names and any(f":{prefix}" in sub_text(resource) for prefix in prefixes):
            continue  # a name under a prefix the function is told
        if not names or unknown:
            problems.append(
                f"{logical_id}: {action} on {json.dumps(resource)} ({sorted(unknown) or 'no resource'})"
            )
    return problems


def test_every_resource_granted_is_one_the_function_is_told_about_or_handed(template: dict[str, Any]) -> None:
    problems = [problem for name in functions(template) for problem in _resources_not_known(template, name)]
    assert problems == []


def test_the_resource_check_catches_a_table_the_function_is_not_told_about(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    inline = next(
        p for p in broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"] if "Statement" in p
    )
    inline["Statement"][0]["Resource"] = [
        {"Fn::GetAtt": ["PaymentIntentsTable", "Arn"]},
        {"Fn::GetAtt": ["LedgerTable", "Arn"]},
    ]
    inline["Statement"].append(
        {"Sid": "Any", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}
    )
    assert _resources_not_known(broken, "GetIntentFunction") == [
        'GetIntentFunction: dynamodb:GetItem on {"Fn::GetAtt": ["LedgerTable", "Arn"]} ([\'LedgerTable\'])',
        "GetIntentFunction: dynamodb:GetItem on any resource",
    ]


def test_a_grant_under_a_name_prefix_needs_the_function_told_that_prefix(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    variables = broken["Resources"]["DeleteWebhookEndpointFunction"]["Properties"]["Environment"]["Variables"]
    assert _resources_not_known(broken, "DeleteWebhookEndpointFunction") == []
    del variables["WEBHOOK_SECRETS_PREFIX"]
    problems = _resources_not_known(broken, "DeleteWebhookEndpointFunction")
    assert [problem.split(" on ")[0] for problem in problems] == [
        "DeleteWebhookEndpointFunction: secretsmanager:DeleteSecret"
    ]


def test_each_function_is_told_about_by_name_only_functions_it_may_invoke(template: dict[str, Any]) -> None:
    """The name patterns find an ARN built from a function's name (the deployment hooks', which cannot
    refer to the versions they check): make sure they find it, and nothing else."""
    patterns = _name_patterns(template)
    account = "${AWS::Region}:${AWS::AccountId}"
    arn = {"Fn::Sub": f"arn:${{AWS::Partition}}:lambda:{account}:function:payments-authorize-${{Stage}}:*"}
    assert _names_in(arn, patterns) == {"AuthorizeFunction"}
    execution = {
        "Fn::Sub": f"arn:${{AWS::Partition}}:states:{account}:execution:payments-checkout-${{Stage}}:*"
    }
    assert _names_in(execution, patterns) == {"CheckoutStateMachine"}


# -- reads and writes -------------------------------------------------------------------------------------


def _get_route_writes(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for logical_id, properties in functions(document).items():
        methods = {
            str(event["Properties"]["Method"]).upper()
            for event in properties.get("Events", {}).values()
            if event["Type"] == "HttpApi"
        }
        if methods != {"GET"}:
            continue
        problems += [
            f"{logical_id}: a GET route's function is granted {action}"
            for action, _, _ in _grants(document, logical_id)
            if not action.startswith("kms:") and not action.split(":")[1].startswith(READ_PREFIXES)
        ]
    return problems


def test_a_get_routes_function_may_only_read(template: dict[str, Any]) -> None:
    assert _get_route_writes(template) == []


def test_the_read_only_check_catches_a_write(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    inline = next(
        p for p in broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"] if "Statement" in p
    )
    inline["Statement"][0]["Action"] = ["dynamodb:GetItem", "dynamodb:PutItem"]
    assert _get_route_writes(broken) == [
        "GetIntentFunction: a GET route's function is granted dynamodb:PutItem"
    ]


# The money movements and the books: the tables where a write is a payment or a posting.
MONEY_WRITERS = {
    "TransactionsTable": {
        "AuthorizeFunction",
        "CaptureIntentFunction",
        "VoidIntentFunction",
        "CreateRefundFunction",
        "RefundJobsWorkerFunction",
        "GatewayWebhooksFunction",  # disputes
        "StripeWebhooksFunction",  # disputes, and voids made at Stripe first
        "CheckoutAuthorizeFunction",
        "CheckoutDeclineFunction",
        "CheckoutCompensateFunction",
    },
    "LedgerTable": {"LedgerFunction", "CheckoutLedgerFunction", "CheckoutCompensateFunction"},
    "LedgerBalancesTable": {"LedgerFunction", "CheckoutLedgerFunction", "CheckoutCompensateFunction"},
}


def _writers(document: Mapping[str, Any], table: str) -> set[str]:
    arn = {"Fn::GetAtt": [table, "Arn"]}
    return {
        owner
        for owner in [*functions(document), *resources_of(document, STATE_MACHINE)]
        for action, resource, _ in _grants(document, owner)
        if resource == arn and action.startswith("dynamodb:") and action.split(":")[1] in WRITES
    }


@pytest.mark.parametrize("table", sorted(MONEY_WRITERS))
def test_only_these_functions_move_money(template: dict[str, Any], table: str) -> None:
    """Who may write a payment's movements or the books, stated once, here, on purpose.

    The two derived checks above cannot pin this: the code a handler reaches is read module by module,
    and the module holding a table's adapter both reads and writes it, so a read-only grant widened to
    a write would still be "a call the code makes" on "a table the function is told about". Which
    functions move money is a security decision; a new function that writes these tables is a change to
    review, and adding it here is that review. Read-only functions need no entry (nor does any new
    function that does not write money)."""
    assert _writers(template, table) == MONEY_WRITERS[table]


def test_the_money_check_sees_managed_policies_too(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["SneakyPolicy"] = {
        "Type": MANAGED_POLICY,
        "Properties": {
            "PolicyDocument": {
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "dynamodb:PutItem",
                        "Resource": {"Fn::GetAtt": ["LedgerTable", "Arn"]},
                    }
                ]
            }
        },
    }
    broken["Resources"]["GetIntentFunction"]["Properties"]["Policies"].append({"Ref": "SneakyPolicy"})
    assert _writers(broken, "LedgerTable") == MONEY_WRITERS["LedgerTable"] | {"GetIntentFunction"}
