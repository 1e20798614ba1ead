"""Deployment bundles: each function ships what its handler imports (read from the source), and the
same files always make the same zip."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest

from payments.delivery.build import build, pins, units
from payments.delivery.bundle import bundle_files, write_zip
from payments.delivery.imports import ImportGraph, handler_distributions
from payments.local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def needs(handler: str) -> set[str]:
    return handler_distributions(f"payments.functions.{handler}", source_root=SRC)


def test_the_api_path_carries_neither_pyarrow_nor_babel() -> None:
    authorize = needs("authorize.handler")
    assert {"boto3", "aws-lambda-powertools", "pydantic"} <= authorize
    assert not {"pyarrow", "babel", "moto", "pyyaml", "mypy-boto3-dynamodb"} & authorize


def test_receipts_carry_babel_and_settlements_pyarrow() -> None:
    assert "babel" in needs("refund_receipts.handler")
    assert "babel" in needs("receipt_feedback.handler")
    assert "pyarrow" in needs("settlement_enricher.handler")
    assert "pyarrow" not in needs("request_settlement.handler")  # it only asks the gateway


def test_a_chat_poster_needs_nothing_but_its_structured_logger() -> None:
    # No boto3 even: it posts with urllib. Powertools' Logger (and what it imports) is every handler's.
    assert needs("ops_alerts.handler") == {"aws-lambda-powertools", "typing-extensions", "jmespath"}


def third_party_of(tmp_path: Path, module: str, sources: dict[str, str]) -> set[str]:
    """The third-party imports `payments.<module>` needs, in a `payments` package made of `sources`."""
    package = tmp_path / "payments"
    package.mkdir()
    for name, text in {"__init__": "", **sources}.items():
        (package / f"{name}.py").write_text(text)
    _, third_party = ImportGraph(tmp_path).closure(f"payments.{module}")
    return third_party


def test_imports_inside_functions_count_and_type_checking_ones_do_not(tmp_path: Path) -> None:
    late = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import mypy_boto3_s3\n"
        "def handler(event, context):\n    import yaml\n    return yaml\n"
    )
    assert third_party_of(tmp_path, "late", {"late": late}) == {"yaml"}


def test_bootstrap_is_followed_builder_by_builder(tmp_path: Path) -> None:
    bootstrap = (
        "import os\n"
        "def client():\n    import boto3\n    return boto3\n"
        "def mailer():\n    return client()\n"
        "def parquet():\n    import pyarrow\n    return pyarrow\n"
    )
    fn = "from payments import bootstrap\ndef handler(e, c):\n    return bootstrap.mailer()\n"
    # mailer -> client; parquet is never called
    assert third_party_of(tmp_path, "fn", {"bootstrap": bootstrap, "fn": fn}) == {"boto3"}


def test_what_a_layer_provides_is_left_out_of_its_functions() -> None:
    found = {unit.logical_id: unit for unit in units(load_template(ROOT / "template.yaml"), root=ROOT)}
    layer = found["SettlementLayer"]
    assert "pyarrow" in layer.distributions
    enricher = found["SettlementEnricherFunction"]
    assert enricher.layers == ("SettlementLayer",)
    assert "pyarrow" not in enricher.distributions
    assert "boto3" in enricher.distributions
    pinned = pins(ROOT / "requirements.lock")
    assert all(name in pinned for unit in found.values() for name in unit.distributions)


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "b.py").write_text("B = 2\n")
    (root / "pkg" / "a.py").write_text("A = 1\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    return root


def test_the_same_files_make_the_same_zip_whenever_and_wherever(tmp_path: Path) -> None:
    first, second = _tree(tmp_path / "one"), _tree(tmp_path / "two")
    os.utime(second / "pkg" / "a.py", (1_000_000_000, 1_000_000_000))  # another mtime
    (second / "pkg" / "a.py").chmod(0o600)  # other permissions
    one = write_zip(bundle_files(first), tmp_path / "one.zip")
    two = write_zip(bundle_files(second), tmp_path / "two.zip")
    assert one == two == hashlib.sha256((tmp_path / "two.zip").read_bytes()).hexdigest()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["pkg/a.py", "pkg/b.py"]  # sorted, no caches
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_changed_byte_changes_the_zip(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    before = write_zip(bundle_files(tree), tmp_path / "before.zip")
    (tree / "pkg" / "b.py").write_text("B = 3\n")
    assert write_zip(bundle_files(tree), tmp_path / "after.zip") != before


@pytest.mark.parametrize("prefix", ["", "python/"])
def test_layers_put_their_packages_under_python(tmp_path: Path, prefix: str) -> None:
    names = [name for name, _ in bundle_files(_tree(tmp_path / "t"), prefix=prefix)]
    assert names == [f"{prefix}pkg/a.py", f"{prefix}pkg/b.py"]


def _copy_from_this_environment(distributions: frozenset[str], _pinned: dict[str, str], target: Path) -> None:
    """An offline stand-in for pip: each distribution's files as installed here, copied afresh (new
    timestamps each time), so two builds differ in everything a zip must not depend on."""
    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(distributions):
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or []:
            source = Path(str(distribution.locate_file(file)))
            if ".." in file.parts or not source.is_file():
                continue  # console scripts live outside site-packages
            destination = target / file
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


def test_two_builds_of_real_bundles_are_byte_identical(tmp_path: Path) -> None:
    template = load_template(ROOT / "template.yaml")
    chosen = {"FraudCheckFunction", "OpsAlertsFunction"}  # with and without third-party code
    manifests = []
    for attempt in ("first", "second"):
        manifests.append(
            build(
                template,
                root=ROOT,
                out=tmp_path / attempt,
                only=chosen,
                installer=_copy_from_this_environment,
            )
        )
        time.sleep(1.1)  # zip timestamps have 2-second resolution; files copied later get later mtimes
    first, second = ({entry["logicalId"]: entry["sha256"] for entry in manifest} for manifest in manifests)
    assert set(first) == chosen
    assert first == second
    for name in chosen:
        assert (tmp_path / "first" / f"{name}.zip").read_bytes() == (
            tmp_path / "second" / f"{name}.zip"
        ).read_bytes()
    # Different closures give different bundles: the check compares real contents, not empty zips.
    assert len(set(first.values())) == len(chosen)
