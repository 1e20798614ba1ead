"""The cost of one AWS call as a handler of the local stack sees it, beside moto's own in-process cost.

Handler side: the stack is started in this process as `payments local up` starts it (pollers and all),
and a client is built as a handler builds one (`boto3.client(service)`, the endpoint from the
environment), so its calls take the stack's transport. Emulator side: a fresh interpreter runs the same
calls on the same table shape under moto's in-process mock (`mock_aws`), which is the least any
emulated call can cost: botocore's serialising, signing and parsing, and moto's backend.

Each operation is timed `--samples` times after a warm-up; the median is reported. Ends with one JSON
line (`per_call_ratio` is the handler's median over moto's, for the median operation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TABLE = "bench-calls"
QUEUE = "bench-calls"


def _table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def operations(dynamodb: Any, sqs: Any) -> dict[str, Callable[[], Any]]:
    """The calls timed, on both sides: a handler's usual reads and conditional writes, and a send."""
    _table(dynamodb)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    item = {"pk": {"S": "pi_1"}, "sk": {"S": "intent"}, "amount": {"N": "4200"}, "status": {"S": "CAPTURED"}}
    dynamodb.put_item(TableName=TABLE, Item=item)
    return {
        "dynamodb GetItem": lambda: dynamodb.get_item(
            TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True
        ),
        "dynamodb PutItem (conditional)": lambda: dynamodb.put_item(
            TableName=TABLE,
            Item={**item, "pk": {"S": f"pi_{uuid.uuid4().hex}"}},
            ConditionExpression="attribute_not_exists(pk)",
        ),
        "dynamodb UpdateItem (conditional)": lambda: dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET amount = amount + :one",
            ConditionExpression="#s = :status",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":status": {"S": "CAPTURED"}},
        ),
        "dynamodb Query": lambda: dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": item["pk"]},
        ),
        "sqs SendMessage": lambda: sqs.send_message(QueueUrl=queue_url, MessageBody='{"event": "bench"}'),
    }


def timed(calls: dict[str, Callable[[], Any]], samples: int) -> dict[str, float]:
    medians = {}
    for name, call in calls.items():
        for _ in range(20):
            call()
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            timings.append((time.perf_counter() - started) * 1000)
        medians[name] = round(statistics.median(timings), 3)
    return medians


def moto_in_process(samples: int) -> dict[str, float]:
    """The same calls under `mock_aws`, in a fresh interpreter (moto's backends are per process)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    output = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--moto-only", "--samples", str(samples)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _moto_only(samples: int) -> None:
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
    )
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from payments.local import moto_patches  # noqa: PLC0415

    moto_patches.apply()
    with mock_aws():
        print(json.dumps(timed(operations(boto3.client("dynamodb"), boto3.client("sqs")), samples)))


def handler_side(samples: int) -> dict[str, float]:
    """The calls from inside a running local stack, through a client made as a handler makes one."""
    import boto3  # noqa: PLC0415

    from payments.local.runtime import LocalStack  # noqa: PLC0415

    with LocalStack(port=0, progress=lambda message: print(f"  {message}", file=sys.stderr)):
        return timed(operations(boto3.client("dynamodb"), boto3.client("sqs")), samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--moto-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.moto_only:
        _moto_only(args.samples)
        return
    print("moto in-process (mock_aws) ...", file=sys.stderr, flush=True)
    moto = moto_in_process(args.samples)
    print("a handler of the local stack ...", file=sys.stderr, flush=True)
    handler = handler_side(args.samples)
    ratios = {name: round(handler[name] / moto[name], 2) for name in moto}
    print(f"\n{'operation (median ms)':<36} {'handler':>8} {'moto':>8} {'ratio':>6}")
    for name in moto:
        print(f"{name:<36} {handler[name]:>8.3f} {moto[name]:>8.3f} {ratios[name]:>6.2f}")
    ratio = statistics.median(ratios.values())
    print(f"\nper-call cost as a handler sees it / moto in-process (median operation): {ratio:.2f}")
    print(
        json.dumps(
            {
                "bench": "calls",
                "handler_ms": handler,
                "moto_in_process_ms": moto,
                "ratios": ratios,
                "per_call_ratio": ratio,
                "moto_in_process_call_ms": statistics.median(moto.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
