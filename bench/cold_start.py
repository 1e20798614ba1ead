"""Import time of each function's handler module against a bare `import boto3`, in fresh interpreters.

Cold starts land on p99, so the handler may cost at most a little more than boto3 itself. Each figure is
the median of several fresh processes (imports are cached on disk, as in a warm Lambda sandbox image).
Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HANDLERS = {
    "authorize": "payments.functions.authorize",
    "create-intent": "payments.functions.create_intent",
    "fraud-check": "payments.functions.fraud_check",
}

INIT_PROBE = (
    "import os, time; os.environ.update(INTENTS_TABLE='i', TRANSACTIONS_TABLE='t', IDEMPOTENCY_TABLE='d', "
    "FRAUD_FUNCTION_NAME='f', GATEWAY_BASE_URL='http://127.0.0.1:9', AWS_DEFAULT_REGION='us-east-1', "
    "AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x'); t = time.perf_counter(); "
    "from payments.functions import authorize; from payments import bootstrap; "
    "authorize.handler.wire(bootstrap.Environment(os.environ)); "
    "print((time.perf_counter() - t) * 1000)"
)

PROBE = (
    "import time, importlib; t = time.perf_counter(); importlib.import_module({module!r}); "
    "print((time.perf_counter() - t) * 1000)"
)


def import_ms(module: str, runs: int, probe: str | None = None) -> float:
    timings = []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 (our own interpreter and module names)
            [sys.executable, "-c", probe or PROBE.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
        )
        timings.append(float(out.stdout))
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    import_ms("boto3", 2)  # fill the bytecode cache first
    baseline = import_ms("boto3", args.runs)
    figures = {"boto3_ms": round(baseline, 1)}
    print(f"import boto3: {baseline:.1f} ms (median of {args.runs})")
    for name, module in HANDLERS.items():
        import_ms(module, 2)
        elapsed = import_ms(module, args.runs)
        figures[f"{name}_ms"] = round(elapsed, 1)
        figures[f"{name}_ratio"] = round(elapsed / baseline, 2)
        print(f"import {module}: {elapsed:.1f} ms = {elapsed / baseline:.2f} x boto3")
    ready = import_ms("", args.runs, INIT_PROBE)
    figures["authorize_init_ms"] = round(ready, 1)
    figures["authorize_init_ratio"] = round(ready / baseline, 2)
    print(
        f"authorize import + every client and adapter built: {ready:.1f} ms = {ready / baseline:.2f} x boto3"
    )
    print(json.dumps({"bench": "cold_start", **figures}))


if __name__ == "__main__":
    main()
