"""`payments bundle`: every function of `template.yaml` and every layer as a deployment zip for Lambda's
python3.12 on arm64, each with only the distributions its handler imports (see `imports`), pinned as
`requirements.lock` pins them, installed from manylinux aarch64 wheels (no Docker, no SAM CLI).

Distributions a function's layers provide are left out of the function. The output directory gets one
zip per function and layer and `manifest.json` (sizes and SHA-256), and the sizes are printed against
Lambda's limits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.utils import canonicalize_name

from payments.delivery.bundle import (
    LAMBDA_UNZIPPED_LIMIT_MB,
    LAMBDA_ZIPPED_LIMIT_MB,
    bundle_files,
    unzipped_mb,
    write_zip,
)
from payments.delivery.imports import distributions_for, handler_distributions, import_names_of

PLATFORM: Final = ("--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64")


@dataclass(frozen=True)
class Unit:
    """A function or a layer of the template, and what goes in its zip."""

    logical_id: str
    kind: str  # "function" | "layer"
    distributions: frozenset[str]
    layers: tuple[str, ...] = ()


def pins(lock: Path) -> dict[str, str]:
    pinned: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pinned[canonicalize_name(name)] = version
    return pinned


def units(template: dict[str, Any], *, root: Path) -> list[Unit]:
    resources = template["Resources"]
    layer_dists: dict[str, frozenset[str]] = {}
    found = []
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            requirements = root / resource["Properties"]["ContentUri"] / "requirements.txt"
            names = [
                line.split("==")[0].strip()
                for line in requirements.read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
            layer_dists[logical_id] = frozenset(distributions_for(import_names_of(names)))
            found.append(Unit(logical_id, "layer", layer_dists[logical_id]))
    for logical_id, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        layers = tuple(str(layer["Ref"]) for layer in properties.get("Layers", []) if "Ref" in layer)
        needed = handler_distributions(properties["Handler"], source_root=root / "src")
        provided = frozenset().union(*(layer_dists.get(layer, frozenset()) for layer in layers))
        found.append(Unit(logical_id, "function", frozenset(needed - provided), layers))
    return found


def install(distributions: frozenset[str], pinned: dict[str, str], target: Path) -> None:
    """The exact pinned wheels for aarch64 (no dependency resolution: the closure is already known)."""
    missing = sorted(name for name in distributions if name not in pinned)
    if missing:
        raise SystemExit(f"not pinned in requirements.lock: {', '.join(missing)}")
    if not distributions:
        target.mkdir(parents=True, exist_ok=True)
        return
    subprocess.run(  # noqa: S603 (this interpreter's pip)
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--no-compile", "--target", str(target), *PLATFORM, "--implementation", "cp",
            "--python-version", "3.12", "--only-binary=:all:",
            *(f"{name}=={pinned[name]}" for name in sorted(distributions)),
        ],
        check=True,
    )  # fmt: skip


def build(
    template: dict[str, Any],
    *,
    root: Path,
    out: Path,
    only: set[str] | None = None,
    progress: Callable[[str], None] = lambda _line: None,
    installer: Callable[[frozenset[str], dict[str, str], Path], None] = install,
) -> list[dict[str, Any]]:
    pinned = pins(root / "requirements.lock")
    manifest = []
    installed: dict[frozenset[str], Path] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for unit in units(template, root=root):
            if only and unit.logical_id not in only:
                continue
            if unit.distributions not in installed:
                target = Path(scratch) / f"deps-{len(installed)}"
                progress(f"installing {len(unit.distributions)} distributions for {unit.logical_id} ...")
                installer(unit.distributions, pinned, target)
                installed[unit.distributions] = target
            deps = installed[unit.distributions]
            if unit.kind == "layer":
                entries = bundle_files(deps, prefix="python/")
            else:
                entries = [*bundle_files(deps), *bundle_files(root / "src" / "payments", prefix="payments/")]
            zip_path = out / f"{unit.logical_id}.zip"
            digest = write_zip(entries, zip_path)
            manifest.append(
                {
                    "logicalId": unit.logical_id,
                    "kind": unit.kind,
                    "zip": zip_path.name,
                    "sha256": digest,
                    "zippedMb": round(zip_path.stat().st_size / 2**20, 2),
                    "unzippedMb": round(unzipped_mb(entries), 2),
                    "layers": list(unit.layers),
                    "distributions": sorted(unit.distributions),
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def report(manifest: list[dict[str, Any]]) -> list[str]:
    """One line per zip, with the function's total including its layers against the unzipped limit."""
    layers = {entry["logicalId"]: entry for entry in manifest if entry["kind"] == "layer"}
    limits = f"limits: {LAMBDA_ZIPPED_LIMIT_MB} MB zipped, {LAMBDA_UNZIPPED_LIMIT_MB} MB unzipped"
    lines = [f"{'bundle':<34}{'zipped':>9}{'unzipped':>11}{'with layers':>13}  {limits}"]
    for entry in manifest:
        total = entry["unzippedMb"] + sum(
            layers[name]["unzippedMb"] for name in entry["layers"] if name in layers
        )
        flag = (
            "  OVER" if total > LAMBDA_UNZIPPED_LIMIT_MB or entry["zippedMb"] > LAMBDA_ZIPPED_LIMIT_MB else ""
        )
        lines.append(
            f"{entry['logicalId']:<34}{entry['zippedMb']:>7.1f}MB{entry['unzippedMb']:>9.1f}MB{total:>11.1f}MB{flag}"
        )
    return lines
