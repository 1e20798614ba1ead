"""The security scan of the templates: checkov on the application template (as the SAM transform turns
it into plain CloudFormation, so every role, alias and deployment group is seen) and on the pipeline.

Every failed check must be fixed or suppressed in `security/checkov-suppressions.yaml` with its reason,
per resource or for every resource the check flags. A suppression that no longer matches anything fails
the scan too, so the file never keeps an excuse for something that is gone.

    python -m payments.delivery.scan --checkov .venv-scan/bin/checkov
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
SUPPRESSIONS = ROOT / "security" / "checkov-suppressions.yaml"
EVERY_RESOURCE = "*"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    check_id: str
    resource: str  # the logical id
    template: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Suppression:
    check_id: str
    reason: str
    resources: frozenset[str]  # logical ids, or {"*"}

    def covers(self, finding: Finding) -> bool:
        return finding.check_id == self.check_id and (
            EVERY_RESOURCE in self.resources or finding.resource in self.resources
        )


class ScanError(RuntimeError):
    """The scanner could not run, or its suppressions file is malformed."""


def load_suppressions(text: str) -> list[Suppression]:
    document = yaml.safe_load(text) or {}
    if not isinstance(document, dict):
        raise ScanError("the suppressions file must map check ids to {reason, resources}")
    suppressions = []
    for check_id, entry in document.items():
        reason = str((entry or {}).get("reason", "")).strip()
        if not reason:
            raise ScanError(f"{check_id}: a suppression needs its reason")
        resources = entry.get("resources")
        if resources != EVERY_RESOURCE and not (isinstance(resources, list) and resources):
            raise ScanError(f'{check_id}: resources must be "*" or a list of logical ids')
        names = frozenset([EVERY_RESOURCE] if resources == EVERY_RESOURCE else map(str, resources))
        suppressions.append(Suppression(str(check_id), reason, names))
    return suppressions


def findings_from(report: Any, template_names: Mapping[str, str]) -> list[Finding]:
    """checkov's JSON report (one report, or one per framework) as findings keyed by logical id."""
    reports = report if isinstance(report, list) else [report]
    findings = []
    for single in reports:
        for failed in single.get("results", {}).get("failed_checks", []):
            path = str(failed.get("file_path", ""))
            template = next((name for key, name in template_names.items() if path.endswith(key)), path)
            resource = str(failed["resource"]).rpartition(".")[2]
            findings.append(Finding(failed["check_id"], resource, template, failed.get("check_name", "")))
    return sorted(set(findings))


def judge(findings: Iterable[Finding], suppressions: list[Suppression]) -> tuple[list[Finding], list[str]]:
    """(findings nothing suppresses, suppressions that match nothing)."""
    findings = list(findings)
    open_findings = [f for f in findings if not any(s.covers(f) for s in suppressions)]
    stale = []
    for suppression in suppressions:
        matched = {f.resource for f in findings if f.check_id == suppression.check_id}
        if not matched:
            stale.append(f"{suppression.check_id}: suppressed, but nothing fails it any more")
        elif EVERY_RESOURCE not in suppression.resources:
            stale += [
                f"{suppression.check_id}: {name} is suppressed, but the check does not flag it"
                for name in sorted(suppression.resources - matched)
            ]
    return open_findings, stale


def _translated_application(workdir: Path) -> Path:
    from payments.local.cfn_yaml import load_template  # noqa: PLC0415
    from payments.local.sam import translate  # noqa: PLC0415

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle chatter
    translated = translate(load_template(ROOT / "template.yaml"))
    path = workdir / "application.json"
    path.write_text(json.dumps(translated, indent=1))
    return path


def run_checkov(checkov: str, files: list[Path]) -> Any:
    command = [checkov, "--framework", "cloudformation", "--skip-download", "--output", "json"]
    for file in files:
        command += ["--file", str(file)]
    # Offline: no guidelines, no version check, nothing uploaded (no API key is ever set).
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_VERSION_CHECK": "TRUE"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise ScanError(f"checkov failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True, help="the checkov executable (make scan installs it)")
    args = parser.parse_args(argv)
    suppressions = load_suppressions(SUPPRESSIONS.read_text())
    with tempfile.TemporaryDirectory() as workdir:
        application = _translated_application(Path(workdir))
        pipeline = ROOT / "pipeline" / "pipeline.yaml"
        report = run_checkov(args.checkov, [application, pipeline])
    findings = findings_from(
        report, {"application.json": "template.yaml", "pipeline.yaml": "pipeline/pipeline.yaml"}
    )
    open_findings, stale = judge(findings, suppressions)
    reports = report if isinstance(report, list) else [report]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    print(
        f"checkov: {passed} checks passed, {len(findings)} findings, "
        f"{len(findings) - len(open_findings)} suppressed with a reason ({SUPPRESSIONS.relative_to(ROOT)})"
    )
    for finding in open_findings:
        print(f"  OPEN  {finding.check_id} {finding.template}:{finding.resource}  {finding.title}")
    for problem in stale:
        print(f"  STALE {problem}")
    return 1 if open_findings or stale else 0


if __name__ == "__main__":
    sys.exit(main())
