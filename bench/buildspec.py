"""Run buildspec.yml here as CodeBuild would, and time each phase.

A fresh clone of this repository's HEAD, each phase's commands in order in one shell per command,
stopping at the first failure (every phase is `on-failure: ABORT`). CodeBuild's S3 is the emulator:
`payments package` uploads to a bucket on it through AWS_ENDPOINT_URL, exactly as it would to the
pipeline's artifact bucket. The pip cache is this machine's, as CodeBuild's `cache` keeps it.

    .venv/bin/python bench/buildspec.py

Prints one line per command, a table per phase, and one JSON line with the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import yaml

from payments.local.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "payments-pipeline-artifacts"


def _run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """git and bash from PATH, as CodeBuild's image has them; the commands are the buildspec's own."""
    return subprocess.run(command, check=False, text=True, **options)  # noqa: S603


def main() -> int:
    buildspec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    head = _run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    emulator = Emulator()
    emulator.start()
    try:
        os.environ.update(emulator.environment())  # this process's boto3 (the bucket, the count) too
        environment = {**os.environ, **buildspec.get("env", {}).get("variables", {})}
        environment.pop("VIRTUAL_ENV", None)
        environment["ARTIFACT_BUCKET"] = BUCKET
        environment["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
        boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        with tempfile.TemporaryDirectory() as scratch:
            checkout = Path(scratch) / "source"
            _run(["git", "clone", "-q", str(ROOT), str(checkout)]).check_returncode()
            print(
                f"buildspec.yml at {head.stdout.strip()}, in a fresh clone, S3 on {emulator.endpoint}",
                flush=True,
            )
            timings: dict[str, float] = {}
            failed = None
            started_all = time.perf_counter()
            for phase, settings in buildspec["phases"].items():
                started = time.perf_counter()
                for command in settings.get("commands", []):
                    print(f"[{phase}] {command}", flush=True)
                    step = time.perf_counter()
                    result = _run(["bash", "-ec", command], cwd=checkout, env=environment)
                    print(
                        f"[{phase}]   {time.perf_counter() - step:7.1f} s, exit {result.returncode}",
                        flush=True,
                    )
                    if result.returncode != 0:
                        failed = f"{phase}: {command}"
                        break
                timings[phase] = time.perf_counter() - started
                if failed:
                    break
            total = time.perf_counter() - started_all
            artifacts = {
                pattern: sum(path.stat().st_size for path in checkout.glob(pattern))
                for pattern in buildspec["artifacts"]["files"]
            }
            s3 = boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1")
            uploaded = s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0)
    finally:
        emulator.stop()
    print()
    print(f"{'phase':<12}{'seconds':>10}")
    for phase, seconds in timings.items():
        print(f"{phase:<12}{seconds:>10.1f}")
    print(f"{'total':<12}{total:>10.1f}")
    print(f"artifacts: {artifacts}; objects in the artifact bucket: {uploaded}")
    figures = {
        "phases": {phase: round(seconds, 1) for phase, seconds in timings.items()},
        "total_s": round(total, 1),
        "failed": failed,
        "artifacts_bytes": artifacts,
        "uploaded_objects": uploaded,
    }
    print(json.dumps(figures))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
