"""Running refund jobs: each row refunded once, refusals settled for good, transient failures left
to the queue and counted dead-lettered on their last attempt; the batch's counts add up."""

from __future__ import annotations

import pytest

from payments.domain.errors import UpstreamUnavailable
from payments.domain.refund_batches import RefundRow, RowState
from payments.service.movements import CaptureIntent, capture_intent
from payments.service.ports import RefundBatch, RefundBatchRepository
from payments.service.refund_batches import batch_id_of, count_last_delivery, file_key, run_refund_job
from tests.unit.fakes import FakeClock, FakeGateway, FakeIntentRepository, unavailable
from tests.unit.test_movements import _authorized


class Batches(RefundBatchRepository):
    """Rows settle once; a dead-lettered row may settle again (a redrive), moving out of its count."""

    def __init__(self) -> None:
        self.rows: dict[int, RowState] = {}

    def create(self, batch: RefundBatch) -> None:
        raise NotImplementedError

    def get(self, batch_id: str) -> RefundBatch:
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
            self.rows[line] = state
            return True
        return False


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
