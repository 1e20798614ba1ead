"""Settlement files end to end: the gateway delivers -> enrichment -> reconciliation against the ledger,
with a file that carries a deliberate amount mismatch, a movement we never booked, and one it leaves out."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any
from urllib.request import Request, urlopen

import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Api, RunningStack

BUCKET = "payments-settlements-123456789012-local"


def gateway(stack: RunningStack, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json", **({"Idempotency-Key": key} if key else {})}
    url = f"{stack.gateway_url}{path}"
    request = Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    with urlopen(request, timeout=10) as response:  # noqa: S310 (the local sandbox gateway)
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def emit(api: Api) -> dict[str, Any]:
    """A settlement file now, once the ledger has every earlier event; its report once reconciled."""
    api.quiet()
    reply = api.request("POST", "/_local/settlements/emit")
    assert reply.status == 200, reply.body
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reports = api.request("GET", "/v1/settlements/reports?limit=5").body["data"]
        mine = [report for report in reports if report["settlementKey"] == reply.body["key"]]
        if mine:
            assert mine[0]["rows"] == reply.body["rows"]
            return dict(mine[0])
        time.sleep(0.1)
    raise AssertionError(f"no report for {reply.body}")


@pytest.fixture(scope="module")
def settled_before(api_module: Api) -> None:
    emit(api_module)  # whatever earlier tests left unsettled goes in a file of its own


@pytest.fixture(scope="module")
def api_module(stack: RunningStack) -> Api:
    return stack.api


def test_a_clean_file_matches_every_row_and_sums_the_fees(api: Api, settled_before: None) -> None:
    first, second = api.captured(2_500), api.captured(4_000, currency="EUR")
    assert api.request("POST", "/v1/refunds", {"paymentIntentId": second, "amount": 1_000}).status == 201
    report = emit(api)
    assert report == report | {
        "rows": 3,
        "matched": 3,
        "missingInLedger": 0,
        "missingInSettlement": 0,
        "amountMismatches": 0,
        "status": "MATCHED",
        # 2.9 % + 0.30 per capture, refunds free: 2500 -> 103, 4000 -> 146
        "fees": {"EUR": 146, "USD": 103},
    }
    assert first != second


def test_a_file_with_a_mismatch_an_unknown_movement_and_a_gap_is_reported_and_alerted(
    api: Api, stack: RunningStack, settled_before: None
) -> None:
    left_out, misstated, fine = api.captured(1_000), api.captured(2_000), api.captured(3_000)
    assert api.request("POST", "/v1/refunds", {"paymentIntentId": misstated, "amount": 500}).status == 201
    # A capture at the gateway our books never saw (made there directly, not through the API).
    ghost = f"pi_ghost{uuid.uuid4().hex[:12]}"
    authorization = gateway(
        stack,
        "/v1/authorizations",
        {"amount": 700, "currency": "USD", "paymentMethod": "pm_card_visa", "reference": ghost},
        key=f"{ghost}:authorize",
    )
    gateway(
        stack, f"/v1/authorizations/{authorization['id']}/capture", {"amount": 700}, key=f"{ghost}:capture"
    )
    gateway(
        stack,
        "/_sandbox/settlement-faults",
        {"omit": [f"{left_out}:capture"], "misstate": {f"{misstated}:refund:1": 100}},
    )

    report = emit(api)
    assert {
        name: report[name]
        for name in (
            "rows",
            "matched",
            "missingInLedger",
            "missingInSettlement",
            "amountMismatches",
            "status",
        )
    } == {
        "rows": 4,  # three captures and a refund: the left-out capture is not in the file, the ghost is
        "matched": 2,
        "missingInLedger": 1,
        "missingInSettlement": 1,
        "amountMismatches": 1,
        "status": "MISMATCHED",
    }
    # The report's lines, in S3, say which movement and why.
    s3 = stack.aws("s3")
    lines = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=report["reportKey"])["Body"].read()))
    outcomes = {(row["payment_intent_id"], row["outcome"]) for row in lines.to_pylist()}
    assert outcomes == {
        (left_out, "missing_in_settlement"),
        (misstated, "matched"),
        (misstated, "amount_mismatch"),
        (fine, "matched"),
        (ghost, "missing_in_ledger"),
    }
    [mismatch] = [row for row in lines.to_pylist() if row["outcome"] == "amount_mismatch"]
    assert (mismatch["settled_amount"], mismatch["booked_amount"]) == (600, 500)
    summary = json.loads(
        s3.get_object(Bucket=BUCKET, Key=report["reportKey"].replace(".parquet", ".json"))["Body"].read()
    )
    assert summary["settlementKey"] == report["settlementKey"]
    # Ops hear of it.
    notes = api.request("GET", "/_local/notifications").body["data"]
    assert any(report["settlementKey"] in note["text"] for note in notes), notes

    # The left-out capture comes in the next file and matches there.
    later = emit(api)
    assert later == later | {"rows": 1, "matched": 1, "missingInSettlement": 0, "status": "MATCHED"}


def test_the_file_and_its_enrichment_as_stored(api: Api, stack: RunningStack, settled_before: None) -> None:
    paid = api.captured(1_250, orderId="ord-settle-1")
    report = emit(api)
    s3 = stack.aws("s3")
    raw = s3.get_object(Bucket=BUCKET, Key=report["settlementKey"])
    assert raw["ContentType"] == "application/vnd.apache.parquet"
    assert raw["ServerSideEncryption"] == "aws:kms"
    assert raw["Metadata"]["source"] == "sandbox-gateway"
    assert raw["Metadata"]["record-count"] == "1"
    enriched_key = report["settlementKey"].replace("raw/", "enriched/", 1)
    enriched = s3.get_object(Bucket=BUCKET, Key=enriched_key)
    [row] = pq.read_table(io.BytesIO(enriched["Body"].read())).to_pylist()
    assert (row["payment_intent_id"], row["type"], row["amount"], row["currency"]) == (
        paid,
        "capture",
        1_250,
        "USD",
    )
    assert (row["merchant_id"], row["order_id"], row["payment_status"]) == (
        "mer_e2e",
        "ord-settle-1",
        "CAPTURED",
    )
    assert enriched["Metadata"]["record-count"] == "1"


def test_a_redelivered_event_writes_nothing_twice(
    api: Api, stack: RunningStack, settled_before: None
) -> None:
    api.captured(900)
    report = emit(api)
    s3, lambda_client = stack.aws("s3"), stack.aws("lambda")
    enriched_key = report["settlementKey"].replace("raw/", "enriched/", 1)
    for function, key in (
        ("payments-settlement-enricher-local", report["settlementKey"]),
        ("payments-settlement-reconciler-local", enriched_key),
    ):
        event = {
            "Records": [
                {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": BUCKET}, "object": {"key": key}}}
            ]
        }
        answer = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event))
        assert "FunctionError" not in answer, answer["Payload"].read()
    for key in (enriched_key, report["reportKey"]):
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
        assert len(versions) == 1, (key, versions)
    reports = api.request("GET", "/v1/settlements/reports?limit=50").body["data"]
    assert [r["settlementKey"] for r in reports].count(report["settlementKey"]) == 1


def test_reports_page_newest_first(api: Api, settled_before: None) -> None:
    first_page = api.request("GET", "/v1/settlements/reports?limit=1").body
    assert len(first_page["data"]) == 1
    assert first_page["nextToken"]
    second_page = api.request(
        "GET", f"/v1/settlements/reports?limit=1&nextToken={first_page['nextToken']}"
    ).body
    assert second_page["data"][0]["createdAt"] <= first_page["data"][0]["createdAt"]
    assert api.request("GET", "/v1/settlements/reports?nextToken=bogus").status == 400
