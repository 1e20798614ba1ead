"""The template scan's bookkeeping: every finding fixed or suppressed with a reason, no stale excuse."""

from __future__ import annotations

from typing import Any

import pytest

from payments.delivery.scan import (
    SUPPRESSIONS,
    Finding,
    ScanError,
    findings_from,
    judge,
    load_suppressions,
)


def _report(*failed: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "check_type": "cloudformation",
        "results": {
            "failed_checks": [
                {"check_id": check, "resource": resource, "file_path": path, "check_name": "a check"}
                for check, resource, path in failed
            ]
        },
        "summary": {"passed": 3, "failed": len(failed)},
    }


NAMES = {"application.json": "template.yaml", "pipeline.yaml": "pipeline/pipeline.yaml"}


def test_findings_are_keyed_by_template_and_logical_id() -> None:
    report = _report(
        ("CKV_AWS_28", "AWS::DynamoDB::Table.IdempotencyTable", "/tmp/x/application.json"),
        ("CKV_AWS_18", "AWS::S3::Bucket.ArtifactBucket", "/work/pipeline/pipeline.yaml"),
    )
    assert findings_from([report], NAMES) == [
        Finding("CKV_AWS_18", "ArtifactBucket", "pipeline/pipeline.yaml", "a check"),
        Finding("CKV_AWS_28", "IdempotencyTable", "template.yaml", "a check"),
    ]


SUPPRESSED = """
CKV_AWS_28:
  reason: short-lived, TTL'd records
  resources: [IdempotencyTable]
CKV_AWS_117:
  reason: nothing the functions call lives in a VPC
  resources: "*"
"""


def test_suppressed_findings_pass_and_anything_else_stays_open() -> None:
    suppressions = load_suppressions(SUPPRESSED)
    findings = [
        Finding("CKV_AWS_28", "IdempotencyTable", "template.yaml"),
        Finding("CKV_AWS_117", "AuthorizeFunction", "template.yaml"),
        Finding("CKV_AWS_117", "LedgerFunction", "template.yaml"),
        Finding("CKV_AWS_28", "PaymentIntentsTable", "template.yaml"),  # money state: never excused
        Finding("CKV_AWS_18", "AuditBucket", "template.yaml"),
    ]
    open_findings, stale = judge(findings, suppressions)
    assert [(f.check_id, f.resource) for f in open_findings] == [
        ("CKV_AWS_28", "PaymentIntentsTable"),
        ("CKV_AWS_18", "AuditBucket"),
    ]
    assert stale == []


def test_a_suppression_that_matches_nothing_any_more_is_reported() -> None:
    suppressions = load_suppressions(SUPPRESSED)
    open_findings, stale = judge([Finding("CKV_AWS_117", "AuthorizeFunction", "template.yaml")], suppressions)
    assert open_findings == []
    assert stale == ["CKV_AWS_28: suppressed, but nothing fails it any more"]
    _, stale = judge(
        [Finding("CKV_AWS_28", "FraudVelocityTable", "t"), Finding("CKV_AWS_117", "F", "t")], suppressions
    )
    assert stale == ["CKV_AWS_28: IdempotencyTable is suppressed, but the check does not flag it"]


@pytest.mark.parametrize(
    "text",
    [
        "CKV_AWS_28:\n  resources: [IdempotencyTable]\n",  # no reason
        "CKV_AWS_28:\n  reason: '  '\n  resources: [IdempotencyTable]\n",
        "CKV_AWS_28:\n  reason: why\n",  # no resources
        "CKV_AWS_28:\n  reason: why\n  resources: []\n",
        "- CKV_AWS_28\n",
    ],
)
def test_every_suppression_has_a_reason_and_says_what_it_covers(text: str) -> None:
    with pytest.raises(ScanError):
        load_suppressions(text)


def test_the_project_suppressions_are_well_formed() -> None:
    suppressions = load_suppressions(SUPPRESSIONS.read_text())
    assert suppressions
    assert all(len(s.reason) > 80 for s in suppressions), "a reason says why, not just that"


def test_no_table_is_excused_from_the_customer_managed_key() -> None:
    """Every table is encrypted with the stack's data key (test_template.py checks it): CKV_AWS_119
    passes, and an excuse for it must not come back."""
    checks = {s.check_id for s in load_suppressions(SUPPRESSIONS.read_text())}
    assert "CKV_AWS_119" not in checks
