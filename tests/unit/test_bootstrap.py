"""Each function is wired once per container from its own environment, and fails as AWS would."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from payments import bootstrap
from payments.bootstrap import Environment, LambdaFunction, Secret
from payments.settings import SettingsError

GLOBALS = {"INTENTS_TABLE": "intents", "TRANSACTIONS_TABLE": "transactions", "IDEMPOTENCY_TABLE": "keys"}


class Context:
    function_name = "payments-test"


def test_a_variable_the_function_needs_must_be_its_own() -> None:
    env = Environment({**GLOBALS, "LEDGER_TABLE": ""})
    with pytest.raises(SettingsError, match="LEDGER_TABLE is required"):
        env.need("ledger_table")
    assert Environment({**GLOBALS, "LEDGER_TABLE": "ledger"}).need("ledger_table") == "ledger"


def test_the_process_environment_does_not_stand_in_for_the_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_TABLE", "ledger")  # another function's variable, in the same process
    with pytest.raises(SettingsError, match="LEDGER_TABLE"):
        Environment(GLOBALS).need("ledger_table")


def test_a_malformed_variable_fails_the_wiring() -> None:
    with pytest.raises(SettingsError, match="GATEWAY_MAX_ATTEMPTS"):
        _ = Environment({**GLOBALS, "GATEWAY_MAX_ATTEMPTS": "three"}).settings


def _counting(wired: list[dict[str, str]]) -> LambdaFunction[str, str]:
    def wire(env: Environment) -> str:
        wired.append(env.variables)
        return env.need("ledger_table")

    def run(event: Any, context: Any, table: str) -> str:
        return f"{event['n']}:{table}"

    return LambdaFunction(wire, run)


def test_a_container_is_wired_once_on_its_first_event_and_each_container_apart() -> None:
    wired: list[dict[str, str]] = []
    function = _counting(wired)
    first = function.with_environment({**GLOBALS, "LEDGER_TABLE": "a"})
    second = function.with_environment({**GLOBALS, "LEDGER_TABLE": "b"})
    assert wired == []  # nothing is built before an event arrives
    assert [first({"n": 1}, Context()), first({"n": 2}, Context()), second({"n": 3}, Context())] == [
        "1:a",
        "2:a",
        "3:b",
    ]
    assert [variables["LEDGER_TABLE"] for variables in wired] == ["a", "b"]


def test_concurrent_first_events_wire_a_container_once() -> None:
    wired: list[dict[str, str]] = []
    handler = _counting(wired).with_environment({**GLOBALS, "LEDGER_TABLE": "a"})
    start = threading.Barrier(8)

    def call(n: int) -> None:
        start.wait()
        handler({"n": n}, Context())

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wired) == 1


def test_a_wiring_failure_is_the_invocations_error_and_the_next_event_tries_again() -> None:
    wired: list[dict[str, str]] = []
    handler = _counting(wired).with_environment(GLOBALS)
    for _ in range(2):
        with pytest.raises(SettingsError, match="LEDGER_TABLE"):
            handler({"n": 1}, Context())
    assert len(wired) == 2  # as a Lambda container whose init failed: nothing half-built is kept


def test_tests_pass_fakes_instead_of_patching() -> None:
    wired: list[dict[str, str]] = []
    assert _counting(wired).with_dependencies("fake")({"n": 7}, Context()) == "7:fake"
    assert wired == []


def test_lambda_calls_the_function_wired_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**GLOBALS, "LEDGER_TABLE": "from-process"}.items():
        monkeypatch.setenv(name, value)
    wired: list[dict[str, str]] = []
    function = _counting(wired)
    assert function({"n": 1}, Context()) == "1:from-process"
    assert function({"n": 2}, Context()) == "2:from-process"
    assert len(wired) == 1


class SecretsManager:
    def __init__(self) -> None:
        self.value = "first"
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, str]:  # noqa: N803 (boto3's name)
        assert SecretId == "arn:secret"
        self.reads += 1
        return {"SecretString": self.value}


def test_a_secret_is_read_again_once_it_is_older_than_its_maximum_age() -> None:
    client, now = SecretsManager(), [0.0]
    secret = Secret(client, "arn:secret", max_age_seconds=300, clock=lambda: now[0])
    assert secret() == "first"
    client.value = "rotated"
    now[0] = 299.0
    assert (secret(), client.reads) == ("first", 1)
    now[0] = 300.0
    assert (secret(), client.reads) == ("rotated", 2)


def test_a_secret_is_never_kept_longer_than_five_minutes_by_default() -> None:
    assert bootstrap.SECRET_MAX_AGE_SECONDS <= 300
