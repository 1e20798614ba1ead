"""Refund files: every row checked with its line number, nothing invalid queued."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.errors import InvalidRequest
from payments.domain.refund_batches import MAX_ROWS, RefundRow, RowError, job_id, parse_refund_file

PI = "pi_01JD8K6Q4Z3W1V0T9S8R7Q6P5N"
HEADER = "merchantId,paymentIntentId,amount,reason\n"


def test_good_rows_become_jobs_and_bad_ones_are_reported_by_line() -> None:
    parsed = parse_refund_file(
        HEADER
        + f"mer_1,{PI},250,one coffee missing\n"
        + f"mer_1,{PI},,\n"
        + "mer_1,pi_nope,100,\n"
        + f"mer 2,{PI},100,\n"
        + f"mer_1,{PI},-5,\n"
        + f"mer_1,{PI},1.50,\n"
        + f"mer_1,{PI},100\n"
        + "\n"
        + f'mer_1,{PI},100,"card 4242 4242 4242 4242"\n'
        + f'mer_2,{PI},7,"quoted, with a comma"\n'
    )
    assert parsed.rows == [
        RefundRow(2, "mer_1", PI, 250, "one coffee missing"),
        RefundRow(3, "mer_1", PI, None, None),
        RefundRow(11, "mer_2", PI, 7, "quoted, with a comma"),
    ]
    assert [error.line for error in parsed.errors] == [4, 5, 6, 7, 8, 10]
    assert parsed.errors[0] == RowError(
        4, "paymentIntentId is not a payment intent id (pi_ and 26 characters)"
    )
    assert "card number" in parsed.errors[-1].message
    assert "4242" not in parsed.errors[-1].message  # the card number is never echoed
    assert parsed.total == 9  # the blank line is not a row


@pytest.mark.parametrize(
    "text", ["", "paymentIntentId,amount\n", "merchantId;paymentIntentId;amount;reason\n"]
)
def test_a_file_without_the_header_is_refused_whole(text: str) -> None:
    with pytest.raises(InvalidRequest, match="header"):
        parse_refund_file(text)


def test_a_byte_order_mark_and_crlf_are_accepted() -> None:
    parsed = parse_refund_file("\ufeff" + HEADER.replace("\n", "\r\n") + f"mer_1,{PI},5,\r\n")
    assert parsed.rows == [RefundRow(2, "mer_1", PI, 5, None)]


def test_a_file_too_large_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="at most"):
        parse_refund_file(HEADER + f"mer_1,{PI},1,\n" * (MAX_ROWS + 1))


def test_jobs_are_named_by_batch_and_line() -> None:
    assert job_id("rb_1", 7) == "rb_1:7"


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 10_000)), max_size=30))
def test_every_data_row_is_either_a_job_or_an_error(rows: list[tuple[bool, int]]) -> None:
    text = HEADER + "".join(f"mer_1,{PI if good else 'pi_bad'},{amount},\n" for good, amount in rows)
    parsed = parse_refund_file(text)
    assert parsed.total == len(rows)
    assert sorted([r.line for r in parsed.rows] + [e.line for e in parsed.errors]) == list(
        range(2, len(rows) + 2)
    )
    assert len(parsed.rows) == sum(good for good, _ in rows)


def test_a_line_holding_a_card_number_is_never_kept_and_the_good_rows_are_the_same() -> None:
    from payments.domain.refund_batches import parse_refund_file  # noqa: PLC0415
    from payments.service.refund_batches import _kept_copy  # noqa: PLC0415

    good = "pi_01M86Z2WFPT4VV1JRHWRS425HZ"
    text = (
        "merchantId,paymentIntentId,amount,reason\n"
        f'mer_1,{good},100,"late, and damaged"\n'
        f"mer_1,{good},100,paid with 4242 4242 4242 4242\n"
        f"4242424242424242,{good},100,\n"  # a card number where the merchant goes
        f"mer_1,{good},,\n"
        "mer_1,not-an-id,1,\n"
    )
    original = parse_refund_file(text)
    kept = _kept_copy(original)
    assert "4242" not in kept
    assert [error.line for error in original.errors] == [3, 4, 6]
    assert "card number" in original.errors[0].message
    stored = parse_refund_file(kept)
    assert stored.rows == original.rows  # the same rows, on the same lines: the same job ids
    assert stored.errors == []  # what import refused is not in the file at all
