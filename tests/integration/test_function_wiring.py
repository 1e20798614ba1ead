"""Every function in template.yaml is wired from its own variables, and the local runtime refuses a
function its template entry does not equip, as AWS would (one process serves every function here)."""

from __future__ import annotations

import importlib
from dataclasses import replace

import pytest

from payments.bootstrap import Environment, LambdaFunction
from payments.local.invoker import LocalLambda
from payments.local.runtime import LocalStack


def test_every_function_is_declared_with_its_wiring(local_stack: LocalStack) -> None:
    plain = []
    for spec in local_stack.invoker.functions:
        module_name, _, attribute = spec.handler.rpartition(".")
        if not isinstance(getattr(importlib.import_module(module_name), attribute), LambdaFunction):
            plain.append(spec.logical_id)
    assert plain == []


def test_every_function_wires_from_its_template_entry_alone(local_stack: LocalStack) -> None:
    """Built as a cold container would be: a variable a builder needs and the entry lacks fails here."""
    failures = {}
    for spec in local_stack.invoker.functions:
        module_name, _, attribute = spec.handler.rpartition(".")
        function = getattr(importlib.import_module(module_name), attribute)
        try:
            function.wire(Environment(spec.environment))
        except Exception as error:  # every function's failure is reported at once
            failures[spec.logical_id] = f"{type(error).__name__}: {error}"
    assert failures == {}


@pytest.mark.parametrize("variable", ["LEDGER_TABLE", "LEDGER_BALANCES_TABLE"])
def test_a_function_missing_a_variable_fails_locally_as_in_aws(
    local_stack: LocalStack, variable: str
) -> None:
    ledger = next(
        spec for spec in local_stack.invoker.functions if spec.handler == "payments.functions.ledger.handler"
    )
    assert variable in ledger.environment
    stripped = replace(
        ledger,
        name=f"{ledger.name}-without-{variable.lower()}",
        environment={key: value for key, value in ledger.environment.items() if key != variable},
    )
    invoker = LocalLambda()
    invoker.register(stripped)
    result = invoker.invoke(stripped.name, {"Records": []})
    assert result.error
    assert result.payload["errorType"] == "SettingsError"
    assert variable in result.payload["errorMessage"]
    # The same function with its whole entry is fine: the failure is the missing variable's.
    invoker.register(ledger)
    assert not invoker.invoke(ledger.name, {"Records": []}).error
