"""The CodeBuild buildspec runs what CI runs (the Makefile's `test` targets), then builds and packages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def buildspec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    return loaded


def _commands(buildspec: dict[str, Any], phase: str) -> list[str]:
    return [str(command) for command in buildspec["phases"][phase]["commands"]]


def test_ci_runs_make_test_and_the_buildspec_runs_each_of_its_targets(buildspec: dict[str, Any]) -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    [targets] = re.findall(r"^test: (.*?)(?:##.*)?$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    run = [command for phase in buildspec["phases"] for command in _commands(buildspec, phase)]
    made = [command.split()[1] for command in run if command.startswith("make ")]
    assert set(targets.split()) <= set(made), (targets, made)


def test_the_phases_in_codebuilds_order_each_stopping_the_build_on_failure(buildspec: dict[str, Any]) -> None:
    assert str(buildspec["version"]) == "0.2"
    assert list(buildspec["phases"]) == ["install", "pre_build", "build", "post_build"]
    assert all(phase["on-failure"] == "ABORT" for phase in buildspec["phases"].values())
    assert buildspec["phases"]["install"]["runtime-versions"] == {"python": "3.12"}
    assert any("--cov=payments" in command for command in _commands(buildspec, "pre_build"))


def test_the_build_makes_the_artifacts_it_hands_on(buildspec: dict[str, Any]) -> None:
    build = " ".join(_commands(buildspec, "build"))
    assert "payments bundle --out build/bundles" in build
    assert "payments package" in build
    assert "--output-template build/packaged.json" in build
    assert set(buildspec["artifacts"]["files"]) == {"build/packaged.json", "build/bundles/manifest.json"}
    assert buildspec["env"]["variables"]["PIP_CACHE_DIR"] + "/**/*" in buildspec["cache"]["paths"]
