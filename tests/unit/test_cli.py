"""The `payments` command as an operator meets it: its version, its help, and AWS set-up problems in
one line (exit code 2) instead of a traceback. An endpoint that does not answer is tried for real in
tests/integration/test_operator_commands.py (this tier has no sockets)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from payments.cli import _aws_problem, _empty, build_parser, main


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"payments {version('payments')}"


def _parsers(parser: argparse.ArgumentParser, path: str = "payments") -> list[tuple[str, Any]]:
    """Every command's parser, subcommands included, with its command line."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_help_shows_the_defaults_of_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # no line breaks inside a default (argparse wraps at hyphens)
    parsers = _parsers(build_parser())
    checked = 0
    for command, parser in parsers:
        shown = " ".join(parser.format_help().split())
        for action in parser._actions:
            if _empty(action.default) or action.default == argparse.SUPPRESS or not action.option_strings:
                continue
            assert f"(default: {action.default})" in shown, (command, action.dest)
            checked += 1
    assert checked >= 12  # local up, demo, refunds import, suppressions, api-keys, bundle, package
    assert "payments dlq redrive" in {command for command, _ in parsers}


def test_redrive_needs_the_dead_letter_queue_and_show_lists_them_all_without_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build_parser().parse_args(["dlq", "show"]).queue is None
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["dlq", "redrive"])
    assert exited.value.code == 2
    assert "--queue" in capsys.readouterr().err


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


@pytest.mark.usefixtures("no_region")
@pytest.mark.parametrize(
    "command",
    [["dlq", "show"], ["dlq", "redrive", "--queue", "q"], ["suppressions", "show", "a@example.com"]],
)
def test_a_missing_region_is_one_line_and_exit_code_2(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(command) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"payments {command[0]}: no AWS region: set AWS_DEFAULT_REGION")


@pytest.mark.usefixtures("no_region")
def test_an_empty_region_is_a_missing_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "")  # botocore would build https://sqs..amazonaws.com

    assert main(["dlq", "show"]) == 2
    assert "no AWS region" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "line", "code"),
    [
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"),
            "cannot reach http://127.0.0.1:4566/: is the stack up?",
            2,
        ),
        (NoRegionError(), "no AWS region", 2),
        (NoCredentialsError(), "no AWS credentials", 2),
        (
            ClientError({"Error": {"Code": "AccessDenied", "Message": "not you"}}, "ReceiveMessage"),
            "AWS refused: AccessDenied: not you",
            1,
        ),
    ],
)
def test_aws_problems_read_as_one_line(error: Exception, line: str, code: int) -> None:
    problem = _aws_problem(error)

    assert problem is not None
    assert problem[0].startswith(line)
    assert "\n" not in problem[0]
    assert problem[1] == code


@pytest.mark.parametrize(
    ("default", "empty"), [(None, True), (False, True), ("", True), ([], True), (0, False)]
)
def test_only_empty_defaults_go_unshown(default: object, empty: bool) -> None:
    assert _empty(default) is empty  # 0 == False, yet a default of 0 says something


def test_any_other_error_is_not_taken_for_an_aws_problem() -> None:
    assert _aws_problem(ValueError("a bug")) is None


def test_local_up_runs_on_the_sandbox_unless_told_stripe() -> None:
    assert build_parser().parse_args(["local", "up"]).processor == "sandbox"
    assert build_parser().parse_args(["local", "up", "--processor", "stripe"]).processor == "stripe"
    assert build_parser().parse_args(["local", "up", "--processor=sandbox"]).processor == "sandbox"


def test_local_up_refuses_a_processor_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["local", "up", "--processor", "paypal"])

    assert exited.value.code == 2
    assert "argument --processor: invalid choice: 'paypal'" in capsys.readouterr().err


def test_local_up_help_names_the_processors_and_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    [up] = [parser for command, parser in _parsers(build_parser()) if command == "payments local up"]
    shown = " ".join(up.format_help().split())

    assert "--processor {sandbox,stripe}" in shown
    assert "(default: sandbox)" in shown


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # `payments api-keys create | head -1`: head exits after one line; the command must not end in a
    # BrokenPipeError traceback. A command printing more than a pipe holds, its reader gone after one line.
    script = textwrap.dedent(
        """
        import argparse, sys
        from payments import cli

        def run(args):
            for number in range(200_000):
                print(f"line {number}")
            return 0

        parser = argparse.ArgumentParser()
        parser.set_defaults(run=run, command="test")
        cli.build_parser = lambda: parser
        sys.exit(cli.main([]))
        """
    )
    process = subprocess.Popen(  # noqa: S603 (our interpreter, our script)
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline() == b"line 0\n"
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 0, errors
    assert b"Traceback" not in errors
    assert b"BrokenPipe" not in errors
