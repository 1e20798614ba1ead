"""API fuzzing: schemathesis generates requests from the project's own OpenAPI spec (valid ones, invalid
ones, and sequences that follow the spec's links) and sends them to `payments local up`.

Every answer must be no 5xx, a status code the spec documents for that operation, the documented
content type and headers, and a body in the documented shape, errors included (the contract's
`{"error": {"code", "message"}}`). The run is seeded, so a failure replays exactly.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "api" / "openapi.yaml"
SEED = "20261124"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


def test_generated_requests_never_break_the_contract(api: Api) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    run = subprocess.run(  # noqa: S603 (the pinned tool, against the local stack)
        [
            str(schemathesis),
            "run",
            str(SPEC),
            "--url",
            api.base_url,
            "--checks",
            ",".join(CHECKS),
            "--max-examples",
            "40",
            "--seed",
            SEED,
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = run.stdout[run.stdout.find("SUMMARY") :]
    assert run.returncode == 0, run.stdout[-6000:]
    # It really ran: every operation of the spec, and hundreds of cases.
    assert "Tested: 18" in summary, summary
    generated = re.search(r"(\d+) generated", summary)
    assert generated is not None, summary
    assert int(generated.group(1)) > 500, summary
