"""`payments package` against the emulator's S3: content-addressed uploads, the packaged template the
SAM transform accepts, nothing uploaded twice, and a bundle that is not the manifest's refused."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from payments.delivery.package import PackageError, package
from payments.local.cfn_yaml import load_template
from payments.local.runtime import LocalStack
from payments.local.sam import translate

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "package-test-artifacts"


@pytest.fixture
def s3(local_stack: LocalStack) -> Any:
    client = boto3.client("s3", endpoint_url=local_stack.emulator.endpoint)
    client.create_bucket(Bucket=BUCKET)
    return client


def fake_bundles(template: dict[str, Any], out: Path) -> dict[str, str]:
    """A small zip per function and layer (its own contents), and the manifest `payments bundle` writes."""
    out.mkdir()
    manifest, hashes = [], {}
    for logical_id, resource in sorted(template["Resources"].items()):
        if resource["Type"] not in {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}:
            continue
        path = out / f"{logical_id}.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(
                zipfile.ZipInfo("handler.py", date_time=(1980, 1, 1, 0, 0, 0)), f"# {logical_id}\n"
            )
        hashes[logical_id] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest.append({"logicalId": logical_id, "zip": path.name, "sha256": hashes[logical_id]})
    (out / "manifest.json").write_text(json.dumps(manifest))
    return hashes


def test_every_bundle_is_uploaded_once_under_its_hash_and_the_template_points_at_it(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = load_template(ROOT / "template.yaml")
    hashes = fake_bundles(template, tmp_path / "bundles")
    packaged, counts = package(
        template, root=ROOT, bundles=tmp_path / "bundles", s3=s3, bucket=BUCKET, prefix="p/"
    )
    assert counts == {"uploaded": len(hashes) + 1, "reused": 0}  # the bundles and the state machine's ASL
    for logical_id, digest in hashes.items():
        properties = packaged["Resources"][logical_id]["Properties"]
        location = properties.get("CodeUri") or properties.get("ContentUri")
        assert location == {"Bucket": BUCKET, "Key": f"p/{digest}.zip"}
        body = s3.get_object(Bucket=BUCKET, Key=location["Key"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == digest
    assert "CodeUri" not in packaged["Globals"]["Function"]
    assert template["Globals"]["Function"]["CodeUri"] == "src/"  # the application template is left alone
    machine = packaged["Resources"]["CheckoutStateMachine"]["Properties"]["DefinitionUri"]
    asl = (ROOT / "statemachines" / "checkout.asl.json").read_bytes()
    assert s3.get_object(Bucket=BUCKET, Key=machine["Key"])["Body"].read() == asl

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    translated = translate(packaged)
    code = {
        name: resource["Properties"]["Code"]
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    assert code["AuthorizeFunction"] == {"S3Bucket": BUCKET, "S3Key": f"p/{hashes['AuthorizeFunction']}.zip"}

    _, again = package(template, root=ROOT, bundles=tmp_path / "bundles", s3=s3, bucket=BUCKET, prefix="p/")
    assert again == {"uploaded": 0, "reused": len(hashes) + 1}


def test_a_bundle_that_is_not_the_manifests_is_refused(s3: Any, tmp_path: Path) -> None:
    template = load_template(ROOT / "template.yaml")
    fake_bundles(template, tmp_path / "bundles")
    (tmp_path / "bundles" / "AuthorizeFunction.zip").write_bytes(b"something else")
    with pytest.raises(PackageError, match="not the bundle the manifest lists"):
        package(template, root=ROOT, bundles=tmp_path / "bundles", s3=s3, bucket=BUCKET)


def test_without_bundles_it_says_what_to_run(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="run `payments bundle"):
        package(load_template(ROOT / "template.yaml"), root=ROOT, bundles=tmp_path, s3=s3, bucket=BUCKET)
