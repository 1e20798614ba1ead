"""Running refund jobs: each row refunded once, refusals settled for good, transient failures left
to the queue and counted dead-lettered on their last attempt; the batch's counts add up. A batch is
its uploader's merchant's: another merchant's key reads it as an unknown one, and a row learns
nothing of another merchant's payment."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from payments.domain.errors import NotFound, UpstreamUnavailable
from payments.domain.merchants import Caller
from payments.domain.refund_batches import (
    OTHER_MERCHANT,
    RefundRow,
    RowError,
    RowFailure,
    RowState,
    kept_rows,
    no_batch,
)
from payments.service.movements import CaptureIntent, capture_intent
from payments.service.ports import FileStore, Page, RefundBatch, RefundBatchRepository
from payments.service.refund_batches import (
    batch_id_of,
    count_last_delivery,
    file_key,
    get_refund_batch,
    import_refund_file,
    list_failures,
    run_refund_job,
)
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository, unavailable
from tests.unit.test_movements import _authorized


class Batches(RefundBatchRepository):
    """Rows settle once; a dead-lettered row may settle again (a redrive), moving out of its count."""

    def __init__(self) -> None:
        self.rows: dict[int, RowState] = {}
        self.details: dict[int, str] = {}
        self.created: dict[str, RefundBatch] = {}
        self.refused: dict[str, list[RowError]] = {}

    def create(self, batch: RefundBatch, *, refused: Sequence[RowError] = ()) -> None:
        self.created[batch.batch_id] = batch
        self.refused[batch.batch_id] = list(refused)

    def get(self, batch_id: str) -> RefundBatch:
        if batch_id in self.created:
            return self.created[batch_id]
        if batch_id != "rb_1":
            raise no_batch(batch_id)
        counts = {state: sum(1 for s in self.rows.values() if s is state) for state in RowState}
        return RefundBatch(
            batch_id,
            total=len(self.rows),
            succeeded=counts[RowState.SUCCEEDED],
            failed=counts[RowState.FAILED],
            dead_lettered=counts[RowState.DEAD_LETTERED],
        )

    def mark_queued(self, batch_id: str, count: int) -> None:
        raise NotImplementedError

    def settle_row(self, batch_id: str, line: int, state: RowState, detail: str | None) -> bool:
        current = self.rows.get(line)
        if current is None or (current is RowState.DEAD_LETTERED and state is not RowState.DEAD_LETTERED):
            self.rows[line], self.details[line] = state, detail or ""
            return True
        return False

    def failures(self, batch_id: str, *, limit: int, next_token: str | None) -> Page[RowFailure]:
        refused = [RowFailure(e.line, RowState.FAILED, e.message) for e in self.refused.get(batch_id, [])]
        settled = [
            RowFailure(line, state, self.details[line])
            for line, state in self.rows.items()
            if state is not RowState.SUCCEEDED
        ]
        return Page(sorted(refused + settled, key=lambda failure: failure.line)[:limit], None)


class Files(FileStore):
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, *, content_type: str) -> None:
        self.kept[key] = body

    def get(self, key: str) -> bytes:
        return self.kept[key]

    def put_once(self, key: str, body: bytes, *, content_type: str, metadata: dict[str, str]) -> bool:
        raise NotImplementedError

    def get_with_metadata(self, key: str) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    def metadata(self, key: str) -> dict[str, str]:
        raise NotImplementedError


@pytest.fixture
def world() -> tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches]:
    return FakeIntentRepository(), FakeGateway(), FakeClock(), Batches()


def captured(repo: FakeIntentRepository, gateway: FakeGateway, clock: FakeClock) -> str:
    intent = _authorized(repo, clock, 10_000)
    capture_intent(CaptureIntent(intent.payment_intent_id), intents=repo, gateway=gateway, clock=clock)
    return intent.payment_intent_id


def run(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches], row: RefundRow, *, last: bool = False
) -> RowState:
    repo, gateway, clock, batches = world
    return run_refund_job(
        "rb_1", row, last_attempt=last, intents=repo, gateway=gateway, batches=batches, clock=clock
    )


def test_a_row_delivered_three_times_refunds_once(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches],
) -> None:
    repo, gateway, clock, batches = world
    intent_id = captured(repo, gateway, clock)
    row = RefundRow(2, "mer_1", intent_id, 2_500, "damaged")
    assert [run(world, row) for _ in range(3)] == [RowState.SUCCEEDED] * 3
    assert repo.get(intent_id).amount_refunded == 2_500
    assert [call for call, _ in gateway.calls].count("refund") == 1
    assert batches.get("rb_1").succeeded == 1


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (RefundRow(3, "mer_1", "pi_00000000000000000000000000", 100, None), "no payment"),
        (RefundRow(4, "mer_2", "", 100, None), "another merchant's"),
        (RefundRow(5, "mer_1", "", 10_001, None), "more than captured"),
    ],
)
def test_rows_that_cannot_succeed_settle_failed_without_a_refund(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches], row: RefundRow, why: str
) -> None:
    repo, gateway, clock, batches = world
    intent_id = captured(repo, gateway, clock)
    row = RefundRow(row.line, row.merchant_id, row.payment_intent_id or intent_id, row.amount, row.reason)
    assert run(world, row) is RowState.FAILED, why
    assert repo.get(intent_id).amount_refunded == 0
    assert "refund" not in [call for call, _ in gateway.calls]
    assert batches.get("rb_1").failed == 1


def test_a_gateway_outage_is_retried_by_the_queue_then_dead_lettered_then_redriven(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches],
) -> None:
    repo, gateway, clock, batches = world
    intent_id = captured(repo, gateway, clock)
    row = RefundRow(2, "mer_1", intent_id, None, None)
    gateway.refund_result = unavailable()
    with pytest.raises(UpstreamUnavailable):
        run(world, row)  # an early attempt: nothing settled, the queue delivers it again
    assert batches.rows == {}
    with pytest.raises(UpstreamUnavailable):
        run(world, row, last=True)
    assert batches.get("rb_1").dead_lettered == 1
    # The gateway is back and the job is redriven from the dead-letter queue
    gateway.refund_result = type(gateway)().refund_result
    assert run(world, row) is RowState.SUCCEEDED
    assert (batches.get("rb_1").dead_lettered, batches.get("rb_1").succeeded) == (0, 1)
    assert repo.get(intent_id).amount_refunded == 10_000


def test_files_are_named_by_their_batch() -> None:
    assert batch_id_of(file_key("rb_123")) == "rb_123"
    with pytest.raises(Exception, match="not a refund batch file"):
        batch_id_of("audit/x.json")


def test_a_job_whose_last_delivery_never_finishes_is_already_counted_dead_lettered(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches],
) -> None:
    repo, gateway, clock, batches = world
    intent_id = captured(repo, gateway, clock)
    skipped = RefundRow(3, "mer_1", intent_id, 1_000, None)
    finished = RefundRow(4, "mer_1", intent_id, 2_000, None)
    # Given both jobs are on their last delivery: counted before either runs
    assert count_last_delivery("rb_1", skipped, batches=batches) is True
    assert count_last_delivery("rb_1", finished, batches=batches) is True
    # When only one runs (the worker died, or the FIFO group skipped the other)
    assert run(world, finished, last=True) is RowState.SUCCEEDED
    # Then nothing is left pending: one succeeded, one waits in the dead-letter queue, counted
    assert (batches.get("rb_1").succeeded, batches.get("rb_1").dead_lettered) == (1, 1)
    assert repo.get(intent_id).amount_refunded == 2_000
    # A job already settled is not counted again
    assert count_last_delivery("rb_1", finished, batches=batches) is False


def test_a_payment_of_another_merchant_fails_as_an_unknown_one_would(
    world: tuple[FakeIntentRepository, FakeGateway, FakeClock, Batches],
) -> None:
    repo, gateway, clock, batches = world
    intent_id = captured(repo, gateway, clock)  # mer_1's payment
    unknown = "pi_00000000000000000000000000"
    # When a row names it under another merchant, and another row names a payment that does not exist
    assert run(world, RefundRow(2, "mer_2", intent_id, 100, None)) is RowState.FAILED
    assert run(world, RefundRow(3, "mer_2", unknown, 100, None)) is RowState.FAILED
    # Then both say the same thing: the row learns nothing about whether the payment exists
    assert batches.details[2] == batches.details[3].replace(unknown, intent_id)
    assert batches.details[2] == f"no payment intent {intent_id}"
    assert repo.get(intent_id).amount_refunded == 0


def test_a_merchant_keys_file_is_its_merchants_batch_and_refuses_other_merchants_rows() -> None:
    batches, files = Batches(), Files()
    pi = "pi_01JD8K6Q4Z3W1V0T9S8R7Q6P5N"
    body = f"merchantId,paymentIntentId,amount,reason\nmer_1,{pi},5,\nmer_2,{pi},6,\nmer_1,pi_x,1,\n".encode()
    batch, refused = import_refund_file(body, caller=Caller("mer_1"), batches=batches, files=files)
    assert (batch.merchant_id, batch.total, batch.failed, batch.pending) == ("mer_1", 3, 2, 1)
    assert refused[0] == RowError(3, OTHER_MERCHANT)
    # Every refused row is recorded with the batch, not only the first ones kept on its record
    assert batches.refused[batch.batch_id] == refused
    # Only the accepted row is stored, on its own line
    assert kept_rows(files.get(file_key(batch.batch_id)).decode()) == [RefundRow(2, "mer_1", pi, 5, None)]
    # A platform key's batch belongs to no merchant, and may name any
    platform, none_refused = import_refund_file(body, caller=Caller.platform(), batches=batches, files=files)
    assert platform.merchant_id is None
    assert [error.line for error in none_refused] == [4]


def test_another_merchants_batch_is_answered_as_an_unknown_one() -> None:
    batches = Batches()
    batches.create(RefundBatch("rb_mine", total=1, merchant_id="mer_1"), refused=[RowError(2, "bad")])
    batches.create(RefundBatch("rb_platform", total=1), refused=[])
    with pytest.raises(NotFound) as unknown:
        get_refund_batch("rb_nope", caller=Caller("mer_2"), batches=batches)
    for batch_id, caller in (("rb_mine", Caller("mer_2")), ("rb_platform", Caller("mer_1"))):
        with pytest.raises(NotFound) as hidden:
            get_refund_batch(batch_id, caller=caller, batches=batches)
        assert hidden.value.message == unknown.value.message.replace("rb_nope", batch_id)
        with pytest.raises(NotFound):
            list_failures(batch_id, caller=caller, batches=batches, limit=20, next_token=None)
    # Its own merchant's key and a platform key see it, and its failures
    assert get_refund_batch("rb_mine", caller=Caller("mer_1"), batches=batches).total == 1
    assert get_refund_batch("rb_mine", caller=Caller.platform(), batches=batches).total == 1
    page = list_failures("rb_mine", caller=Caller("mer_1"), batches=batches, limit=20, next_token=None)
    assert page.items == [RowFailure(2, RowState.FAILED, "bad")]
