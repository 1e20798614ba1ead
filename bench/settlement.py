"""A settlement file's enrichment on the emulator: wall time, DynamoDB calls, memory, and the same file
enriched row by row, side by side.

The document's file has 14,821 rows. Each row is a different payment, so the payments are read in
ceil(rows / 100) BatchGetItem calls at best: the floor the bench compares its count with. The naive
enrichment reads each row's payment with its own GetItem. Both run the same code around the reads
(read the Parquet file from S3, append the columns, write the enriched file) in this process against
the embedded emulator; the stack's own functions are not involved (the file goes to a bucket of the
bench's own, which notifies nobody). Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa

from payments.adapters.dynamodb_batch import batch_put
from payments.adapters.dynamodb_items import intent_to_item
from payments.adapters.dynamodb_settlements import DynamoDBPaymentDirectory
from payments.adapters.s3_files import S3FileStore
from payments.domain.intents import PaymentIntent
from payments.domain.money import Money
from payments.local.runtime import LocalStack
from payments.service.ports import PaymentDirectory
from payments.service.settlements import enrich_settlement_file
from payments.settlement.parquet import rows_to_parquet
from payments.settlement.rows import MovementType, SettlementRow, enriched_key, raw_key

BUCKET = "bench-settlements"


class RowByRow(PaymentDirectory):
    """The naive enrichment: one GetItem per row."""

    def __init__(self, client: Any, *, intents_table: str) -> None:
        self._client = client
        self._table = intents_table

    def lookup(self, payment_intent_ids: list[str]) -> dict[str, dict[str, str]]:
        found = {}
        for pi in payment_intent_ids:
            item = self._client.get_item(TableName=self._table, Key={"paymentIntentId": {"S": pi}}).get(
                "Item"
            )
            if item is not None:
                found[pi] = {
                    "merchant_id": item["merchantId"]["S"],
                    "customer_id": item["customerId"]["S"],
                    "order_id": item.get("orderId", {}).get("S"),
                    "payment_status": item["status"]["S"],
                }
        return found


def seed(client: Any, table: str, rows: int) -> list[SettlementRow]:
    now = datetime.now(UTC)
    intents, settlement = [], []
    for n in range(rows):
        intent = PaymentIntent.create(
            amount=Money.of(1_000 + n % 5_000, "USD"),
            customer_id=f"cus_{n % 997}",
            merchant_id=f"mer_{n % 50}",
            payment_method="pm_card_visa",
            now=now,
            time_to_live=timedelta(hours=1),
            order_id=f"ord-{n}",
        )
        intents.append(intent_to_item(intent))
        settlement.append(
            SettlementRow(
                f"cap_{n:06d}",
                intent.payment_intent_id,
                f"{intent.payment_intent_id}:capture",
                MovementType.CAPTURE,
                intent.amount.amount,
                "USD",
                59,
                now,
                "stl_bench",
            )
        )
    batch_put(client, table, intents)
    return settlement


def run(
    label: str, stack: LocalStack, directory: PaymentDirectory, files: S3FileStore, key: str
) -> dict[str, Any]:
    before = stack.emulator.calls.snapshot()
    pool = pa.default_memory_pool()
    started = time.perf_counter()
    result = enrich_settlement_file(key, files=files, payments=directory)
    seconds = time.perf_counter() - started
    after = stack.emulator.calls.snapshot()
    # Memory is measured on a second pass: tracing every allocation would slow the timed one.
    files.delete(enriched_key(key))
    tracemalloc.start()
    enrich_settlement_file(key, files=files, payments=directory)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    calls = {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}
    print(f"  {label}: {seconds:.2f} s, calls {calls}", file=sys.stderr)
    return {
        "seconds": round(seconds, 3),
        "calls": calls,
        "python_peak_mb": round(peak / 2**20, 1),
        "arrow_peak_mb": round(pool.max_memory() / 2**20, 1),
        "rows": result["rows"],
        "written": result["written"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=14_821)
    args = parser.parse_args()
    with LocalStack(port=0, gateway_stall_seconds=0.3) as stack:
        for poller in (*stack.pollers, *stack.queue_pollers):
            poller.stop()  # nothing else polls the emulator meanwhile: the figures are enrichment's own
        session = {"endpoint_url": stack.emulator.endpoint, "region_name": "us-east-1"}
        dynamodb, s3 = boto3.client("dynamodb", **session), boto3.client("s3", **session)
        table, key_id = (
            stack.deployed.resources["PaymentIntentsTable"],
            stack.deployed.resources["PaymentsDataKey"],
        )
        s3.create_bucket(Bucket=BUCKET)
        print(f"seeding {args.rows} payments ...", file=sys.stderr, flush=True)
        rows = seed(dynamodb, table, args.rows)
        files = S3FileStore(s3, bucket=BUCKET, kms_key=key_id)
        body = rows_to_parquet(rows)
        batched_key, naive_key = (
            raw_key(rows[0].settled_at, "stl_batched"),
            raw_key(rows[0].settled_at, "stl_naive"),
        )
        for key in (batched_key, naive_key):
            files.put_once(
                key, body, content_type="application/vnd.apache.parquet", metadata={"source": "bench"}
            )
        batched = run(
            "BatchGetItem", stack, DynamoDBPaymentDirectory(dynamodb, intents_table=table), files, batched_key
        )
        naive = run("GetItem per row", stack, RowByRow(dynamodb, intents_table=table), files, naive_key)
    floor = math.ceil(args.rows / 100)
    batch_calls = batched["calls"].get(
        f"dynamodb BatchGetItem:{table}", batched["calls"].get("dynamodb BatchGetItem", 0)
    )
    ratio = naive["seconds"] / batched["seconds"]
    size = f"{len(body) / 2**20:.1f} MB of Parquet"
    print(f"\nsettlement file enrichment: {args.rows} rows ({size}), one payment each")
    calls = f"{batch_calls} BatchGetItem calls, floor {floor}"
    print(f"  batched (BatchGetItem): {batched['seconds']:.2f} s; {calls}")
    print(f"  row by row (GetItem):   {naive['seconds']:.2f} s; {naive['calls']}")
    print(f"  batched is {ratio:.1f} x faster")
    heap, arrow = batched["python_peak_mb"], batched["arrow_peak_mb"]
    print(f"  peak memory, batched: {heap} MB Python heap, {arrow} MB Arrow pool")
    print(
        json.dumps(
            {
                "bench": "settlement",
                "rows": args.rows,
                "parquet_mb": round(len(body) / 2**20, 2),
                "batched": batched,
                "row_by_row": naive,
                "batch_get_calls": batch_calls,
                "batch_get_floor": floor,
                "speedup": round(ratio, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
