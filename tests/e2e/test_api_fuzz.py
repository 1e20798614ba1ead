"""API fuzzing: schemathesis generates requests from the project's own OpenAPI spec (valid ones, invalid
ones, and sequences that follow the spec's links) and sends them to `payments local up`.

Every answer must be no 5xx, a status code the spec documents for that operation, the documented
content type and headers, and a body in the documented shape, errors included (the contract's
`{"error": {"code", "message"}}`). The run is seeded, so a failure replays exactly.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from payments.local.api_key import authorization
from tests.e2e.conftest import Api, RunningStack

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "api" / "openapi.yaml"
SEED = "20261124"
# Every operation of the spec, counted from it: a run that skipped one would say fewer.
OPERATIONS = sum(
    method in {"get", "post", "put", "patch", "delete"}
    for item in yaml.safe_load(SPEC.read_text())["paths"].values()
    for method in item
)
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


def schemathesis(api: Api, *options: str, hooks: str | None = None) -> subprocess.CompletedProcess[str]:
    """The pinned tool against the local stack; `hooks`: the AWS endpoint the write check reads."""
    environment = dict(os.environ)
    if hooks is not None:
        environment |= {
            "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks",
            "PAYMENTS_FUZZ_AWS_ENDPOINT": hooks,
            "PYTHONPATH": str(ROOT),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    return subprocess.run(  # noqa: S603 (the pinned tool, against the local stack)
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(SPEC),
            "--url",
            api.base_url,
            "--seed",
            SEED,
            "--header",
            f"Authorization: {authorization()['authorization']}",
            "--no-color",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=environment,
        cwd=ROOT,
    )


def test_generated_requests_never_break_the_contract(api: Api) -> None:
    run = schemathesis(api, "--checks", ",".join(CHECKS), "--max-examples", "40")
    summary = run.stdout[run.stdout.find("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    # It really ran: every operation of the spec, and hundreds of cases.
    assert f"Tested: {OPERATIONS}" in summary, summary
    generated = re.search(r"(\d+) generated", summary)
    assert generated is not None, summary
    assert int(generated.group(1)) > 500, summary


def test_rejected_requests_write_nothing(api: Api, stack: RunningStack) -> None:
    """Mostly invalid requests (schemathesis' negative mode, one at a time): each refused one must
    leave the stored state as it was (`fuzz_hooks.rejected_requests_write_nothing`)."""
    run = schemathesis(
        api,
        "--mode",
        "negative",
        "--phases",
        "coverage,fuzzing",
        "--checks",
        "not_a_server_error,rejected_requests_write_nothing",
        "--max-examples",
        "20",
        "--workers",
        "1",
        hooks=stack.aws_endpoint,
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert f"Tested: {OPERATIONS}" in run.stdout, run.stdout[-3000:]
