"""Settlement files: the schema and its keys, the reconciliation rules, Parquet round trips, the sandbox
gateway's batches, and batched DynamoDB reads that never drop what DynamoDB left unprocessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.adapters.dynamodb_batch import MAX_ATTEMPTS, Unprocessed, batch_get, batch_put
from payments.domain.intents import TransactionKind, refund_id_for, transaction_id_for
from payments.domain.ledger import Account, Direction, LedgerEntry, Leg
from payments.domain.money import Money
from payments.gateway.sandbox import SandboxGateway, Settlement, capture_fee
from payments.settlement import parquet
from payments.settlement.reconcile import Booked, Outcome, booked_from, reconcile
from payments.settlement.rows import (
    MovementType,
    SettlementRow,
    enriched_key,
    movement_for_reference,
    partition_of,
    raw_key,
    report_keys,
)

AT = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def row(
    reference: str, kind: MovementType = MovementType.CAPTURE, amount: int = 1_000, **fields: Any
) -> SettlementRow:
    values: dict[str, Any] = {
        "transaction_id": f"gw_{reference}",
        "payment_intent_id": reference.split(":", maxsplit=1)[0],
        "merchant_reference": reference,
        "type": kind,
        "amount": amount,
        "currency": "USD",
        "fee": 59,
        "settled_at": AT,
        "batch_id": "stl_1",
    }
    return SettlementRow(**(values | fields))


def booked(movement_id: str, amount: int = 1_000, kind: str = "CAPTURED", currency: str = "USD") -> Booked:
    return Booked(movement_id, "pi_X", kind, amount, currency, AT - timedelta(minutes=5))


# -- the schema and its keys -----------------------------------------------------------------------


def test_a_rows_movement_is_ours_from_the_reference_we_sent() -> None:
    assert movement_for_reference("pi_AB12:capture") == transaction_id_for("pi_AB12", TransactionKind.CAPTURE)
    assert movement_for_reference("pi_AB12:refund:3") == refund_id_for("pi_AB12", 3)
    assert movement_for_reference("pi_AB12:authorize") is None
    assert movement_for_reference("somebody-else") is None
    assert row("elsewhere-7").movement_id == "gw_elsewhere-7"  # not ours: the gateway's id stands


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", 10.5), ("amount", True), ("amount", 0), ("fee", -1), ("fee", 1.0), ("currency", "usd")],
)
def test_money_in_a_row_is_whole_minor_units(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "currency" else "ISO 4217"):
        row("pi_A:capture", **{field: value})


def test_file_keys_follow_the_partition() -> None:
    key = raw_key(AT, "stl_9")
    assert key == "raw/2026/11/24/13/stl_9.parquet"
    assert partition_of(key) == ("2026/11/24/13", "stl_9")
    assert enriched_key(key) == "enriched/2026/11/24/13/stl_9.parquet"
    assert report_keys(key) == ("reports/2026/11/24/13/stl_9.parquet", "reports/2026/11/24/13/stl_9.json")
    for wrong in (
        "raw/2026/11/24/stl.parquet",
        "enriched/2026/11/24/13/x.parquet",
        "raw/2026/11/24/13/x.csv",
    ):
        with pytest.raises(ValueError, match="not a settlement file key"):
            partition_of(wrong)


# -- the reconciliation rules ------------------------------------------------------------------------


def test_every_row_matches_when_the_ledger_booked_it_alike() -> None:
    rows = [row("pi_A:capture"), row("pi_A:refund:1", MovementType.REFUND, 300, fee=0)]
    ledger = {
        transaction_id_for("pi_A", TransactionKind.CAPTURE): booked("x", 1_000),
        refund_id_for("pi_A", 1): booked("y", 300, "REFUNDED"),
    }
    result = reconcile(rows, ledger, [])
    assert [line.outcome for line in result.lines] == [Outcome.MATCHED, Outcome.MATCHED]
    assert result.summary() == {
        "rows": 2,
        "matched": 2,
        "missingInLedger": 0,
        "missingInSettlement": 0,
        "amountMismatches": 0,
        "fees": {"USD": 59},
        "status": "MATCHED",
    }


@pytest.mark.parametrize(
    ("ledger_entry", "detail"),
    [
        (booked("x", 999), "amount 1000 settled, 999 booked"),
        (booked("x", 1_000, currency="EUR"), "currency 'USD' settled, 'EUR' booked"),
        (booked("x", 1_000, kind="REFUNDED"), "kind 'CAPTURED' settled, 'REFUNDED' booked"),
    ],
)
def test_a_booked_movement_that_differs_is_a_mismatch(ledger_entry: Booked, detail: str) -> None:
    movement = transaction_id_for("pi_A", TransactionKind.CAPTURE)
    [line] = reconcile([row("pi_A:capture")], {movement: ledger_entry}, []).lines
    assert (line.outcome, line.detail) == (Outcome.AMOUNT_MISMATCH, detail)


def test_a_settled_movement_the_ledger_never_booked_is_missing_in_the_ledger() -> None:
    result = reconcile([row("pi_A:capture")], {}, [])
    [line] = result.lines
    assert (line.outcome, line.settled_amount, line.booked_amount) == (Outcome.MISSING_IN_LEDGER, 1_000, None)
    assert result.summary()["status"] == "MISMATCHED"


def test_booked_movements_no_file_carried_are_missing_in_the_settlement() -> None:
    in_file = transaction_id_for("pi_A", TransactionKind.CAPTURE)
    result = reconcile(
        [row("pi_A:capture")],
        {in_file: booked(in_file)},
        [booked(in_file), booked("txn_B_capt", 250)],  # the one in this file is not "missing"
    )
    assert [(line.movement_id, line.outcome) for line in result.lines] == [
        (in_file, Outcome.MATCHED),
        ("txn_B_capt", Outcome.MISSING_IN_SETTLEMENT),
    ]
    assert result.count(Outcome.MISSING_IN_SETTLEMENT) == 1
    assert result.rows == 1  # rows counts the file's rows only


def test_fees_are_summed_per_currency() -> None:
    rows = [
        row("pi_A:capture", fee=10),
        row("pi_B:capture", fee=20, currency="EUR"),
        row("pi_C:capture", fee=5),
    ]
    assert reconcile(rows, {}, []).fees == {"USD": 15, "EUR": 20}


def _entry(kind: str, legs: tuple[Leg, ...]) -> LedgerEntry:
    return LedgerEntry("e1", "pi_A", kind, AT, legs)


def test_what_a_ledger_entry_booked_is_what_crossed_the_gateway_clearing_account() -> None:
    usd = Money.of(700, "USD")
    capture = _entry(
        "CAPTURED",
        (
            Leg(Account.GATEWAY_CLEARING, Direction.DEBIT, usd),
            Leg(Account.MERCHANT_PAYABLE, Direction.CREDIT, usd),
        ),
    )
    assert booked_from(capture) == Booked("e1", "pi_A", "CAPTURED", 700, "USD", AT)
    hold = _entry(
        "AUTHORIZED",
        (
            Leg(Account.CUSTOMER_AUTHORIZATIONS, Direction.DEBIT, usd),
            Leg(Account.AUTHORIZATIONS_PENDING, Direction.CREDIT, usd),
        ),
    )
    assert booked_from(hold) is None


# -- Parquet -------------------------------------------------------------------------------------------


def test_rows_survive_the_parquet_round_trip() -> None:
    rows = [row("pi_A:capture"), row("pi_A:refund:1", MovementType.REFUND, 250, fee=0)]
    table = parquet.read_table(parquet.rows_to_parquet(rows))
    assert table.schema == parquet.RAW_SCHEMA
    assert parquet.rows_of(table) == rows


def test_a_file_in_another_shape_is_refused() -> None:
    import pyarrow as pa  # noqa: PLC0415

    other = pa.table({"id": ["x"], "amount": [1]})
    with pytest.raises(ValueError, match="not a settlement file"):
        parquet.read_table(parquet._to_bytes(other))


def test_enrichment_appends_the_payment_and_leaves_unknown_payments_empty() -> None:
    table = parquet.read_table(parquet.rows_to_parquet([row("pi_A:capture"), row("pi_Z:capture")]))
    known = {
        "pi_A": {
            "merchant_id": "mer_1",
            "customer_id": "cus_1",
            "order_id": "o-1",
            "payment_status": "CAPTURED",
        }
    }
    enriched = parquet.pq.read_table(parquet.io.BytesIO(parquet.enrich(table, known)))
    assert enriched.schema == parquet.ENRICHED_SCHEMA
    first, second = enriched.to_pylist()
    assert (first["merchant_id"], first["order_id"], first["payment_status"]) == ("mer_1", "o-1", "CAPTURED")
    assert (second["merchant_id"], second["customer_id"]) == (None, None)
    assert (second["amount"], second["merchant_reference"]) == (1_000, "pi_Z:capture")


# -- the sandbox gateway's settlement batches ----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = AT

    def __call__(self) -> datetime:
        return self.now


def _post(gateway: SandboxGateway, path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    response = gateway.handle("POST", path, json.dumps(body).encode(), idempotency_key=key)
    assert response.status == 200, response.body
    return response.body


def _captured(gateway: SandboxGateway, payment: str, amount: int) -> str:
    body = {"amount": amount, "currency": "USD", "paymentMethod": "pm_card_visa", "reference": payment}
    authorization = _post(gateway, "/v1/authorizations", body, f"{payment}:authorize")["id"]
    _post(gateway, f"/v1/authorizations/{authorization}/capture", {"amount": amount}, f"{payment}:capture")
    return str(authorization)


def test_a_batch_settles_each_movement_once_with_its_fee_and_reference() -> None:
    clock = Clock()
    gateway = SandboxGateway(clock=clock)
    authorization = _captured(gateway, "pi_A", 2_500)
    _post(gateway, "/v1/refunds", {"authorizationId": authorization, "amount": 400}, "pi_A:refund:1")
    clock.now += timedelta(minutes=30)
    first = gateway.settle()
    assert [(r.type, r.amount, r.fee, r.merchant_reference) for r in first.rows] == [
        (MovementType.CAPTURE, 2_500, capture_fee(2_500), "pi_A:capture"),
        (MovementType.REFUND, 400, 0, "pi_A:refund:1"),
    ]
    assert capture_fee(2_500) == 103  # 2.9 % of 25.00 is 72.5, half up 73, plus 30
    assert (first.window_start.year, first.window_end) == (1970, clock.now)
    clock.now += timedelta(hours=1)
    second = gateway.settle()
    assert second.rows == ()
    assert second.window_start == first.window_end


def test_settlement_faults_leave_out_and_misstate_the_next_batch_only() -> None:
    gateway = SandboxGateway(clock=Clock())
    _captured(gateway, "pi_A", 1_000)
    _captured(gateway, "pi_B", 2_000)
    faults = {"omit": ["pi_A:capture"], "misstate": {"pi_B:capture": 5}}
    assert gateway.handle("POST", "/_sandbox/settlement-faults", json.dumps(faults).encode()).status == 200
    first = gateway.settle()
    assert [(r.merchant_reference, r.amount) for r in first.rows] == [("pi_B:capture", 2_005)]
    later = gateway.settle()
    assert [(r.merchant_reference, r.amount) for r in later.rows] == [("pi_A:capture", 1_000)]


def test_a_settlement_file_request_delivers_once_per_key() -> None:
    delivered: list[Settlement] = []

    def sink(settlement: Settlement, request: dict[str, Any]) -> str:
        delivered.append(settlement)
        return f"raw/x/{settlement.batch_id}.parquet"

    gateway = SandboxGateway(clock=Clock(), settlement_sink=sink)
    _captured(gateway, "pi_A", 1_000)
    request = {"bucket": "b", "kmsKeyId": "k"}
    answer = _post(gateway, "/v1/settlement-files", request, "settlement:1")
    assert _post(gateway, "/v1/settlement-files", request, "settlement:1") == answer  # a retry
    assert (answer["rows"], len(delivered)) == (1, 1)
    assert SandboxGateway().handle("POST", "/v1/settlement-files", b"{}", idempotency_key="k").status == 501


# -- batched reads and writes --------------------------------------------------------------------------


class PartialDynamoDB:
    """Answers like DynamoDB under pressure: the first `stingy` calls leave half their keys unprocessed."""

    def __init__(self, stingy: int) -> None:
        self.stingy = stingy
        self.calls: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        [(table, request)] = RequestItems.items()
        keys = request["Keys"]
        self.calls.append(len(keys))
        if len(self.calls) <= self.stingy:
            half = len(keys) // 2
            return {
                "Responses": {table: keys[:half]},
                "UnprocessedKeys": {table: {**request, "Keys": keys[half:]}},
            }
        return {"Responses": {table: keys}}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        [(table, requests)] = RequestItems.items()
        self.calls.append(len(requests))
        if len(self.calls) <= self.stingy:
            return {"UnprocessedItems": {table: requests[1:]}}
        return {}


def _keys(n: int) -> list[dict[str, Any]]:
    return [{"id": {"S": f"k{i}"}} for i in range(n)]


def test_reads_go_100_keys_a_call() -> None:
    client = PartialDynamoDB(stingy=0)
    assert len(batch_get(client, "t", _keys(250), sleep=lambda _s: None)) == 250
    assert client.calls == [100, 100, 50]


def test_unprocessed_keys_are_asked_again_with_growing_pauses() -> None:
    client, pauses = PartialDynamoDB(stingy=3), []
    found = batch_get(client, "t", _keys(100), sleep=pauses.append)
    assert sorted(item["id"]["S"] for item in found) == sorted(key["id"]["S"] for key in _keys(100))
    assert client.calls == [100, 50, 25, 13]
    assert len(pauses) == 3
    assert all(pause >= 0 for pause in pauses)


def test_keys_still_unprocessed_after_every_attempt_raise() -> None:
    client = PartialDynamoDB(stingy=10_000)
    with pytest.raises(Unprocessed, match=f"after {MAX_ATTEMPTS} attempts"):
        batch_get(client, "t", _keys(4), sleep=lambda _s: None)


def test_writes_go_25_items_a_call_and_retry_what_was_left() -> None:
    client = PartialDynamoDB(stingy=1)
    batch_put(client, "t", _keys(30), sleep=lambda _s: None)
    assert client.calls == [25, 24, 5]
