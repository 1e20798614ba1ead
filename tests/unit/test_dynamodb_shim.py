"""The emulator's DynamoDB with `payments.local.dynamodb_shim` installed, through boto3: a Query or a Scan
reads the items it returns, not the table; and it answers exactly what the emulator's own code answers
(compared request by request, with the emulator's own Query and Scan put back)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from payments.local import dynamodb_shim

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module", autouse=True)
def _shim() -> None:
    dynamodb_shim.install()


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "dynamodb", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )


def _attribute(name: str, kind: str = "S") -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


def _key(hash_name: str, range_name: str | None = None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_name, "KeyType": "HASH"}]
    return schema + ([{"AttributeName": range_name, "KeyType": "RANGE"}] if range_name else [])


def create_ledger(client: Any, name: str = "ledger") -> None:
    """The ledger's shape: a partition key only, and two global indexes (one sorted by a number)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            _attribute("entryId"),
            _attribute("paymentIntentId"),
            _attribute("createdAt"),
            _attribute("kind"),
            _attribute("amount", "N"),
        ],
        KeySchema=_key("entryId"),
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-payment",
                "KeySchema": _key("paymentIntentId", "createdAt"),
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "by-kind",
                "KeySchema": _key("kind", "amount"),
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
            },
        ],
    )


def create_batches(client: Any, name: str = "batches") -> None:
    """The refund batches' shape: a partition key and a sort key."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[_attribute("batchId"), _attribute("item")],
        KeySchema=_key("batchId", "item"),
    )


def fill(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table: requests})


def ledger_entry(number: int, *, payments: int = 700) -> dict[str, Any]:
    return {
        "entryId": {"S": f"le_{number:05d}"},
        "paymentIntentId": {"S": f"pi_{number % payments:04d}"},
        "createdAt": {"S": f"2026-01-01T00:{number % 60:02d}:{number % 7:02d}"},
        "kind": {"S": ("CAPTURED", "REFUNDED", "AUTHORIZED")[number % 3]},
        "amount": {"N": str(number % 50 * 10)},
        "note": {"S": f"entry {number}"},
    }


def batch_row(batch: int, line: int) -> dict[str, Any]:
    return {
        "batchId": {"S": f"rb_{batch:03d}"},
        "item": {"S": f"ROW#{line:06d}"},
        "state": {"S": "SUCCEEDED"},
    }


@contextmanager
def items_read() -> Iterator[set[int]]:
    """The stored items (and copies of them) a call looks at, by identity."""
    seen: set[int] = set()

    def spy(self: Item, name: str) -> Any:
        seen.add(id(self))
        return object.__getattribute__(self, name)

    Item.__getattribute__ = spy  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        del Item.__getattribute__


@contextmanager
def the_emulators_own_reads() -> Iterator[None]:
    """Query and Scan as the emulator answers them without the shim."""
    query, scan = Table.query, Table.scan
    Table.query, Table.scan = query.__wrapped__, scan.__wrapped__  # type: ignore[attr-defined,method-assign]
    try:
        yield
    finally:
        Table.query, Table.scan = query, scan  # type: ignore[method-assign]


def table_of(name: str) -> Any:
    return dynamodb_backends[ACCOUNT][REGION].get_table(name)


# -- what a request reads --------------------------------------------------------------------------


def test_a_query_of_a_partition_reads_that_partition_not_the_table(client: Any) -> None:
    create_batches(client)
    fill(client, "batches", [batch_row(batch, line) for batch in range(200) for line in range(10)])  # 2,000
    client.query(  # the first query builds the table's sorted view
        TableName="batches",
        KeyConditionExpression="batchId = :b",
        ExpressionAttributeValues={":b": {"S": "rb_000"}},
    )

    with items_read() as seen:
        page = client.query(
            TableName="batches",
            KeyConditionExpression="batchId = :b AND #item BETWEEN :first AND :last",
            ExpressionAttributeNames={"#item": "item"},
            ExpressionAttributeValues={
                ":b": {"S": "rb_117"},
                ":first": {"S": "ROW#000002"},
                ":last": {"S": "ROW#000008"},
            },
            Limit=3,
            ScanIndexForward=False,
        )

    assert [item["item"]["S"] for item in page["Items"]] == ["ROW#000008", "ROW#000007", "ROW#000006"]
    assert page["LastEvaluatedKey"] == {"batchId": {"S": "rb_117"}, "item": {"S": "ROW#000006"}}
    # the page's items, their copies for the answer, and the next one (to know the page is full)
    assert len(seen) <= 2 * 3 + 1, f"{len(seen)} of 2,000 items read for a 3-item page"


def test_an_index_query_reads_that_index_partition_not_the_table(client: Any) -> None:
    create_ledger(client)
    fill(client, "ledger", [ledger_entry(n) for n in range(2_100)])  # 3 entries per payment
    client.query(
        TableName="ledger",
        IndexName="by-payment",
        KeyConditionExpression="paymentIntentId = :p",
        ExpressionAttributeValues={":p": {"S": "pi_0000"}},
    )

    with items_read() as seen:
        page = client.query(
            TableName="ledger",
            IndexName="by-payment",
            KeyConditionExpression="paymentIntentId = :p",
            ExpressionAttributeValues={":p": {"S": "pi_0042"}},
        )

    assert sorted(item["entryId"]["S"] for item in page["Items"]) == ["le_00042", "le_00742", "le_01442"]
    assert len(seen) <= 2 * 3, f"{len(seen)} of 2,100 items read for a 3-item answer"


def test_a_scan_page_reads_that_page_not_the_table(client: Any) -> None:
    create_ledger(client)
    fill(client, "ledger", [ledger_entry(n) for n in range(2_000)])
    first = client.scan(TableName="ledger", Limit=1)  # builds the view

    with items_read() as seen:
        page = client.scan(TableName="ledger", Limit=25, ExclusiveStartKey={"entryId": {"S": "le_01000"}})

    assert [item["entryId"]["S"] for item in page["Items"]] == [f"le_{n:05d}" for n in range(1_001, 1_026)]
    assert page["LastEvaluatedKey"] == {"entryId": {"S": "le_01025"}}
    assert first["Items"][0]["entryId"]["S"] == "le_00000"
    assert len(seen) <= 2 * 25 + 1, f"{len(seen)} of 2,000 items read for a 25-item page"


# -- the same answers as the emulator's own code ---------------------------------------------------


def every_page(client: Any, operation: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    request = dict(request)
    while True:
        page = getattr(client, operation)(**request)
        page.pop("ResponseMetadata", None)
        pages.append(page)
        if "LastEvaluatedKey" not in page or len(pages) > 500:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def both_answers(client: Any, operation: str, request: dict[str, Any]) -> tuple[Any, Any]:
    shimmed = every_page(client, operation, request)
    with the_emulators_own_reads():
        own = every_page(client, operation, request)
    return shimmed, own


def random_ledger_request(rng: random.Random) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": "ledger", "ScanIndexForward": rng.random() < 0.5}
    if rng.random() < 0.5:
        request["IndexName"] = "by-payment"
        values: dict[str, Any] = {":p": {"S": f"pi_{rng.randrange(30):04d}"}}
        condition = "paymentIntentId = :p"
        shape = rng.choice(["", "=", "<", "<=", ">", ">=", "between", "begins"])
        bound = f"2026-01-01T00:{rng.randrange(60):02d}" + rng.choice(["", f":{rng.randrange(7):02d}"])
        if shape == "between":
            condition += " AND createdAt BETWEEN :a AND :b"
            values |= {
                ":a": {"S": bound},
                ":b": {"S": f"2026-01-01T00:{rng.randrange(60):02d}:{rng.randrange(7):02d}"},
            }
        elif shape == "begins":
            condition += " AND begins_with(createdAt, :a)"
            values[":a"] = {"S": bound[: rng.randrange(14, len(bound) + 1)]}
        elif shape:
            condition += f" AND createdAt {shape} :a"
            values[":a"] = {"S": bound}
    elif rng.random() < 0.6:
        request["IndexName"] = "by-kind"
        values = {":k": {"S": rng.choice(["CAPTURED", "REFUNDED", "AUTHORIZED", "VOIDED"])}}
        condition = "kind = :k"
        if rng.random() < 0.6:
            condition += f" AND amount {rng.choice(['=', '<', '<=', '>', '>='])} :a"
            values[":a"] = {"N": str(rng.randrange(-10, 520))}
    else:
        values = {":e": {"S": f"le_{rng.randrange(200):05d}"}}
        condition = "entryId = :e"
    request["KeyConditionExpression"] = condition
    request["ExpressionAttributeValues"] = values
    if rng.random() < 0.6:
        request["Limit"] = rng.choice([1, 2, 3, 7, 50])
    if rng.random() < 0.3:
        request["FilterExpression"] = "contains(note, :digit)"
        values[":digit"] = {"S": str(rng.randrange(10))}
    if rng.random() < 0.2:
        request["ProjectionExpression"] = "entryId, amount"
    return request


def random_batches_request(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {":b": {"S": f"rb_{rng.randrange(6):03d}"}}
    condition = "batchId = :b"
    shape = rng.choice(["", "=", "<", "<=", ">", ">=", "between", "begins"])
    line = f"ROW#{rng.randrange(40):06d}"
    if shape == "between":
        condition += " AND #item BETWEEN :a AND :z"
        values |= {":a": {"S": line}, ":z": {"S": rng.choice(["ROW#000030", "ROW#999999", "FAILURE#"])}}
    elif shape == "begins":
        condition += " AND begins_with(#item, :a)"
        values[":a"] = {"S": rng.choice(["ROW#00001", "ROW#", "FAILURE#", "R", "BATCH"])}
    elif shape:
        condition += f" AND #item {shape} :a"
        values[":a"] = {"S": line}
    request = {
        "TableName": "batches",
        "KeyConditionExpression": condition,
        **({"ExpressionAttributeNames": {"#item": "item"}} if "#item" in condition else {}),
        "ExpressionAttributeValues": values,
        "ScanIndexForward": rng.random() < 0.5,
        "ConsistentRead": rng.random() < 0.5,
    }
    if rng.random() < 0.6:
        request["Limit"] = rng.choice([1, 4, 9, 100])
    return request


def random_write(client: Any, rng: random.Random, number: int) -> None:
    """One of the writes our adapters make (and a few they do not), on either table."""
    entry = f"le_{rng.randrange(200):05d}"
    row = {"batchId": {"S": f"rb_{rng.randrange(6):03d}"}, "item": {"S": f"ROW#{rng.randrange(40):06d}"}}
    match rng.randrange(9):
        case 0:  # a new entry, or one written over with other index keys
            item = ledger_entry(rng.randrange(300))
            item["entryId"] = {"S": entry}
            client.put_item(TableName="ledger", Item=item)
        case 1:  # an index key changed in place
            client.update_item(
                TableName="ledger",
                Key={"entryId": {"S": entry}},
                UpdateExpression="SET paymentIntentId = :p, amount = :a",
                ExpressionAttributeValues={
                    ":p": {"S": f"pi_{rng.randrange(30):04d}"},
                    ":a": {"N": str(rng.randrange(50) * 10)},
                },
            )
        case 2:  # out of an index, and back into it by a later write
            client.update_item(
                TableName="ledger", Key={"entryId": {"S": entry}}, UpdateExpression="REMOVE kind"
            )
        case 3:
            client.delete_item(TableName="ledger", Key={"entryId": {"S": entry}})
        case 4:  # a row settled (made by an update) with its batch's count, as the refund worker does
            client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": "batches",
                            "Key": row,
                            "UpdateExpression": "SET #state = :s",
                            "ExpressionAttributeNames": {"#state": "state"},
                            "ExpressionAttributeValues": {":s": {"S": "FAILED"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": "batches",
                            "Key": {"batchId": row["batchId"], "item": {"S": "BATCH"}},
                            "UpdateExpression": "ADD failed :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        case 5:
            client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "batches", "Item": {**row, "state": {"S": "SUCCEEDED"}}}},
                    {"Delete": {"TableName": "ledger", "Key": {"entryId": {"S": entry}}}},
                ]
            )
        case 6:
            client.batch_write_item(
                RequestItems={
                    "batches": [{"DeleteRequest": {"Key": row}}],
                    "ledger": [{"PutRequest": {"Item": {**ledger_entry(number), "entryId": {"S": entry}}}}],
                }
            )
        case 7:  # an item the emulator makes for an update of a missing key
            client.update_item(
                TableName="ledger",
                Key={"entryId": {"S": f"le_new_{number}"}},
                UpdateExpression="SET kind = :k, amount = :a",
                ExpressionAttributeValues={":k": {"S": "CAPTURED"}, ":a": {"N": str(number % 40)}},
            )
        case _:
            client.execute_statement(
                Statement=f"UPDATE ledger SET kind = 'REFUNDED' WHERE entryId = '{entry}'"  # noqa: S608 (ours)
            )


@pytest.fixture
def answered_by_views(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each Query and Scan from now on: whether the views answered it (not the emulator's code)."""
    answered: list[bool] = []
    for name in ("_query_page", "_scan_page"):
        read = getattr(dynamodb_shim, name)

        def recording(*args: Any, _read: Any = read, **kwargs: Any) -> Any:
            page = _read(*args, **kwargs)
            answered.append(page is not None)
            return page

        monkeypatch.setattr(dynamodb_shim, name, recording)
    return answered


def test_queries_and_scans_answer_as_the_emulators_own_code_while_items_change(
    client: Any, answered_by_views: list[bool]
) -> None:
    create_ledger(client)
    create_batches(client)
    fill(client, "ledger", [ledger_entry(n, payments=30) for n in range(150)])
    fill(client, "batches", [batch_row(batch, line) for batch in range(5) for line in range(0, 40, 2)])
    rng = random.Random(20)
    found = 0
    for number in range(400):
        random_write(client, rng, number)
        if number % 2:
            request = random_ledger_request(rng) if rng.random() < 0.6 else random_batches_request(rng)
            shimmed, own = both_answers(client, "query", request)
            assert shimmed == own, request
            found += sum(page["Count"] for page in shimmed)
        if number % 25 == 0:
            table = rng.choice(["ledger", "batches"])
            request = {"TableName": table, "Limit": rng.choice([1, 10, 33])}
            if rng.random() < 0.3:
                request |= {
                    "FilterExpression": "attribute_exists(#s)",
                    "ExpressionAttributeNames": {"#s": "state"},
                }
            shimmed, own = both_answers(client, "scan", request)
            assert shimmed == own, request
            found += sum(page["Count"] for page in shimmed)
    assert all(answered_by_views)
    assert len(answered_by_views) > 300
    assert found > 1_000  # the requests mostly find something


def test_a_page_ends_at_a_megabyte_as_the_emulators_does(client: Any) -> None:
    create_batches(client)
    fill(client, "batches", [{**batch_row(1, line), "blob": {"S": "x" * 300_000}} for line in range(6)])
    requests = [
        {"TableName": "batches", "Limit": 5},
        {
            "TableName": "batches",
            "KeyConditionExpression": "batchId = :b",
            "ExpressionAttributeValues": {":b": {"S": "rb_001"}},
        },
        {
            # three items, 900 KB, in range; the emulator still looks at the next item, out of range
            "TableName": "batches",
            "KeyConditionExpression": "batchId = :b AND #item BETWEEN :a AND :z",
            "ExpressionAttributeNames": {"#item": "item"},
            "ExpressionAttributeValues": {
                ":b": {"S": "rb_001"},
                ":a": {"S": "ROW#000001"},
                ":z": {"S": "ROW#000003"},
            },
            "ScanIndexForward": False,
        },
    ]

    for request in requests:
        operation = "scan" if "KeyConditionExpression" not in request else "query"
        shimmed, own = both_answers(client, operation, request)
        assert shimmed == own
        assert len(shimmed) > 1


def test_an_index_added_later_is_answered_from_the_items_already_there(client: Any) -> None:
    create_batches(client)
    fill(
        client,
        "batches",
        [{**batch_row(b, n), "merchantId": {"S": f"m{n % 3}"}} for b in range(4) for n in range(9)],
    )
    client.query(
        TableName="batches",
        KeyConditionExpression="batchId = :b",
        ExpressionAttributeValues={":b": {"S": "rb_001"}},
    )

    client.update_table(
        TableName="batches",
        AttributeDefinitions=[_attribute("merchantId"), _attribute("item")],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-merchant",
                    "KeySchema": _key("merchantId", "item"),
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    request = {
        "TableName": "batches",
        "IndexName": "by-merchant",
        "KeyConditionExpression": "merchantId = :m",
        "ExpressionAttributeValues": {":m": {"S": "m1"}},
        "Limit": 5,
    }

    shimmed, own = both_answers(client, "query", request)
    assert shimmed == own
    assert sum(page["Count"] for page in shimmed) == 12


def test_what_the_views_do_not_answer_the_emulator_does(client: Any) -> None:
    create_batches(client)
    fill(client, "batches", [batch_row(b, n) for b in range(3) for n in range(5)])
    legacy = {
        "TableName": "batches",
        "KeyConditions": {"batchId": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "rb_001"}]}},
        "Limit": 2,
    }
    parallel = {"TableName": "batches", "Segment": 1, "TotalSegments": 2}

    for operation, request in (("query", legacy), ("scan", parallel)):
        shimmed, own = both_answers(client, operation, request)
        assert shimmed == own


def test_a_consistent_read_of_a_global_index_is_refused_as_before(client: Any) -> None:
    create_ledger(client)

    with pytest.raises(client.exceptions.ClientError, match="Consistent reads are not supported"):
        client.query(
            TableName="ledger",
            IndexName="by-payment",
            KeyConditionExpression="paymentIntentId = :p",
            ExpressionAttributeValues={":p": {"S": "pi_0001"}},
            ConsistentRead=True,
        )


# -- what a table keeps ----------------------------------------------------------------------------


def test_reading_or_deleting_a_missing_item_leaves_no_partition(client: Any) -> None:
    create_batches(client)
    client.put_item(TableName="batches", Item=batch_row(1, 1))
    partitions = len(table_of("batches").items)

    for n in range(50):
        client.get_item(TableName="batches", Key={"batchId": {"S": f"rb_9{n:02d}"}, "item": {"S": "BATCH"}})
        client.delete_item(
            TableName="batches", Key={"batchId": {"S": f"rb_8{n:02d}"}, "item": {"S": "BATCH"}}
        )
    client.batch_get_item(
        RequestItems={
            "batches": {"Keys": [{"batchId": {"S": f"rb_7{n:02d}"}, "item": {"S": "X"}} for n in range(50)]}
        }
    )
    client.delete_item(TableName="batches", Key={"batchId": {"S": "rb_001"}, "item": {"S": "ROW#000001"}})

    assert len(table_of("batches").items) == partitions - 1 == 0


def test_stored_items_share_their_attribute_names(client: Any) -> None:
    create_batches(client)
    client.put_item(
        TableName="batches", Item={**batch_row(1, 1), "legs": {"L": [{"M": {"account": {"S": "a"}}}]}}
    )
    client.put_item(
        TableName="batches", Item={**batch_row(1, 2), "legs": {"L": [{"M": {"account": {"S": "b"}}}]}}
    )
    client.update_item(
        TableName="batches",
        Key={"batchId": {"S": "rb_001"}, "item": {"S": "ROW#000003"}},
        UpdateExpression="SET #state = :s",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":s": {"S": "FAILED"}},
    )
    partition = table_of("batches").items[next(iter(table_of("batches").items))]
    first, second, updated = (partition[key] for key in sorted(partition, key=lambda k: k.value))

    names = [{name: name for name in item.attrs} for item in (first, second, updated)]
    assert names[0]["state"] is names[1]["state"] is names[2]["state"]
    inner = [item.attrs["legs"].value[0].value for item in (first, second)]
    assert next(iter(inner[0])) is next(iter(inner[1]))


def test_copies_of_items_are_not_kept(client: Any) -> None:
    create_batches(client)
    client.put_item(TableName="batches", Item={**batch_row(1, 1), "count": {"N": "0"}})
    made = len(Item.instances_tracked)  # type: ignore[attr-defined]

    for _ in range(100):
        client.update_item(
            TableName="batches",
            Key={"batchId": {"S": "rb_001"}, "item": {"S": "ROW#000001"}},
            UpdateExpression="ADD #count :one",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="ALL_NEW",
        )
        client.query(
            TableName="batches",
            KeyConditionExpression="batchId = :b",
            ExpressionAttributeValues={":b": {"S": "rb_001"}},
        )

    assert len(Item.instances_tracked) == made  # type: ignore[attr-defined]
