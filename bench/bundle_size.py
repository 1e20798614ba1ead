"""The settlement functions' deployment size on arm64, against Lambda's 250 MB unzipped limit.

Installs, for Lambda's platform (python3.12 on manylinux aarch64, binary wheels only, as `sam build`
does for an arm64 function), the settlement layer's requirements (`layers/settlement/requirements.txt`:
pyarrow) and the function code's own (the project's run-time dependencies plus `src/payments`), then
measures each unzipped and zipped. Lambda counts the function and all its layers together, unzipped.
Needs the package index (pip downloads the aarch64 wheels). Ends with one JSON line of the figures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 250
PLATFORM = ["--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64"]


def install(requirements: list[str], target: Path) -> None:
    subprocess.run(  # noqa: S603 (our own interpreter's pip)
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target), *PLATFORM, "--implementation", "cp", "--python-version", "3.12",
            "--only-binary=:all:", *requirements,
        ],
        check=True,
    )  # fmt: skip


def size_mb(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / 2**20


def zipped_mb(directory: Path) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in directory.rglob("*"):
                if path.is_file():
                    bundle.write(path, path.relative_to(directory))
        return archive.stat().st_size / 2**20


def main() -> None:
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    layer_requirements = [
        line
        for line in (ROOT / "layers/settlement/requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    with tempfile.TemporaryDirectory() as scratch:
        layer, function = Path(scratch) / "layer" / "python", Path(scratch) / "function"
        print(f"installing the layer for arm64: {layer_requirements} ...", file=sys.stderr, flush=True)
        install(layer_requirements, layer)
        print(f"installing the function's dependencies for arm64: {runtime} ...", file=sys.stderr, flush=True)
        install(runtime, function)
        shutil.copytree(
            ROOT / "src" / "payments", function / "payments", ignore=shutil.ignore_patterns("__pycache__")
        )
        figures = {
            "layer_unzipped_mb": round(size_mb(layer.parent), 1),
            "layer_zipped_mb": round(zipped_mb(layer.parent), 1),
            "function_unzipped_mb": round(size_mb(function), 1),
            "function_zipped_mb": round(zipped_mb(function), 1),
        }
    total = figures["layer_unzipped_mb"] + figures["function_unzipped_mb"]
    print("\nsettlement function on arm64 (python3.12), unzipped / zipped:")
    for label, part in (("layer (pyarrow)", "layer"), ("function (code and deps)", "function")):
        unzipped, zipped = figures[f"{part}_unzipped_mb"], figures[f"{part}_zipped_mb"]
        print(f"  {label:<26}{unzipped:7.1f} MB / {zipped:.1f} MB")
    print(f"  together: {total:.1f} MB of Lambda's {LIMIT_MB} MB ({100 * total / LIMIT_MB:.0f} %)")
    print(
        json.dumps(
            {"bench": "bundle_size", **figures, "total_unzipped_mb": round(total, 1), "limit_mb": LIMIT_MB}
        )
    )


if __name__ == "__main__":
    main()
