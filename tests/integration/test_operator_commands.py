"""The operator's commands against real endpoints: one that does not answer, and the local stack (every
dead-letter queue of template.yaml found with its redrive; the demo walked over HTTP)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from payments.dead_letters import dead_letter_queues
from payments.demo import run_demo
from payments.local.cfn_yaml import load_template
from payments.local.runtime import LocalStack

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _unused_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["dlq", "show"], ["api-keys", "revoke", "sk_local_…abcd"]])
def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_code_2(command: list[str]) -> None:
    endpoint = f"http://127.0.0.1:{_unused_loopback_port()}"
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_MAX_ATTEMPTS": "1",  # one connection refused is enough to know
    }
    ran = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "payments.cli", *command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert ran.returncode == 2
    assert ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.startswith(f"payments {command[0]}: cannot reach {endpoint}")
    assert "Traceback" not in ran.stderr


def _expected_dead_letter_queues(deployed: dict[str, str]) -> dict[str, list[str]]:
    """From template.yaml: each dead-letter queue's name -> what its redrive returns to, by name."""
    resources = load_template(TEMPLATE)["Resources"]
    returns: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        target: Any = None
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in properties:
            target = properties["RedrivePolicy"]["deadLetterTargetArn"]
        elif resource["Type"] == "AWS::Serverless::Function" and "DeadLetterQueue" in properties:
            target = properties["DeadLetterQueue"]["TargetArn"]
        if target is None:
            continue
        queue = deployed[target["Fn::GetAtt"][0]].rsplit("/", 1)[-1]
        returns.setdefault(queue, []).append(deployed[logical_id].rsplit("/", 1)[-1])
    return {queue: sorted(names) for queue, names in returns.items()}


def test_every_dead_letter_queue_of_the_template_is_found_with_what_it_returns_to(
    local_stack: LocalStack,
) -> None:
    expected = _expected_dead_letter_queues(local_stack.deployed.resources)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=local_stack.emulator.endpoint)  # type: ignore[call-overload]

    found = {queue.name: sorted(queue.returns_to) for queue in dead_letter_queues(client)}

    assert len(expected) >= 4  # refund jobs, the ledger, the subscribers, the file events
    assert found == expected


def test_the_demo_walks_every_payment_and_the_3d_secure_one_to_its_end(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(local_stack.api_url) == 0

    out = capsys.readouterr().out
    step_up = out.split("(pm_card_3ds_required)")[1].split("==")[0]
    assert "authorize -> 402 authentication_required" in step_up
    assert "checkout  -> ACTION_REQUIRED (three_d_secure)" in step_up
    assert "challenge -> 202 passed" in step_up
    assert "checkout  -> SUCCEEDED, payment AUTHORIZED" in step_up
    assert "payment intents (newest first)" in out


def test_the_demo_with_a_key_the_stack_does_not_know_says_so_in_one_line(
    local_stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYMENTS_API_KEY", "sk_local_not_a_key_of_this_stack")

    assert run_demo(local_stack.api_url) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("the stack refused the API key (40")
