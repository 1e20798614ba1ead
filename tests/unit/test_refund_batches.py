"""Refund files: one physical line is one row, every data line a row or a row error with its line
number, nothing merged into another row, nothing dropped, nothing invalid queued."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.domain.errors import InvalidRequest
from payments.domain.refund_batches import (
    MAX_ROWS,
    OTHER_MERCHANT,
    UNTERMINATED_QUOTE,
    RefundRow,
    RowError,
    decode_refund_file,
    job_id,
    kept_copy,
    kept_rows,
    parse_refund_file,
    split_lines,
)

PI = "pi_01JD8K6Q4Z3W1V0T9S8R7Q6P5N"
HEADER = "merchantId,paymentIntentId,amount,reason\n"


def lines_of(errors: list[RowError]) -> list[int]:
    return [error.line for error in errors]


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
    assert lines_of(parsed.errors) == [4, 5, 6, 7, 8, 9, 10]
    assert parsed.errors[0] == RowError(
        4, "paymentIntentId is not a payment intent id (pi_ and 26 characters)"
    )
    assert "card number" in parsed.errors[-1].message
    assert "4242" not in parsed.errors[-1].message  # the card number is never echoed
    assert parsed.total == 10  # every line after the header, the blank one too


def test_an_unterminated_quote_is_an_error_of_its_own_line_and_every_later_row_is_parsed() -> None:
    # Given a quote that never closes on line 3, and six rows after it
    later = [f"mer_1,{PI},{amount},after the quote" for amount in range(1, 7)]
    text = HEADER + f"mer_1,{PI},10,\n" + f'mer_1,{PI},20,"never closed\n' + "\n".join(later) + "\n"
    parsed = parse_refund_file(text)
    # Then line 3 alone is refused, and the six rows after it are rows on their own lines
    assert parsed.errors == [RowError(3, UNTERMINATED_QUOTE)]
    assert parsed.rows == [
        RefundRow(2, "mer_1", PI, 10, None),
        *(RefundRow(line, "mer_1", PI, line - 3, "after the quote") for line in range(4, 10)),
    ]
    assert parsed.total == 8


def test_a_field_with_a_line_break_inside_quotes_is_two_refused_lines_never_one_row() -> None:
    parsed = parse_refund_file(HEADER + f'mer_1,{PI},5,"two\nlines",\n' + f"mer_1,{PI},6,\n")
    assert lines_of(parsed.errors) == [2, 3]
    assert parsed.errors[0].message == UNTERMINATED_QUOTE
    assert parsed.rows == [RefundRow(4, "mer_1", PI, 6, None)]
    assert parsed.total == 3


@pytest.mark.parametrize(
    ("line", "found"),
    [(f"mer_1,{PI},5", 3), (f"mer_1,{PI},5,why,extra", 5), ("mer_1", 1), (f'mer_1,{PI},5,"a,b",c', 5)],
)
def test_a_wrong_number_of_fields_is_a_row_error(line: str, found: int) -> None:
    parsed = parse_refund_file(HEADER + line + "\n" + f"mer_1,{PI},1,\n")
    assert parsed.errors == [
        RowError(2, f"expected 4 fields (merchantId,paymentIntentId,amount,reason), found {found}")
    ]
    assert parsed.rows == [RefundRow(3, "mer_1", PI, 1, None)]


def test_a_quote_followed_by_more_text_is_a_row_error() -> None:
    parsed = parse_refund_file(HEADER + f'mer_1,{PI},5,"quoted"then text\n')
    assert [error.message.startswith("not valid CSV") for error in parsed.errors] == [True]


def test_a_byte_order_mark_is_taken_only_as_the_very_first_character() -> None:
    first = parse_refund_file("\ufeff" + HEADER + f"mer_1,{PI},5,\n")
    assert first.rows == [RefundRow(2, "mer_1", PI, 5, None)]
    # One inside a row is a row error of that line (never part of a field)
    inside = parse_refund_file(HEADER + f"mer_1,{PI},5,\n\ufeffmer_1,{PI},6,\nmer_1,{PI},7,\ufeff\n")
    assert lines_of(inside.errors) == [3, 4]
    assert all("byte-order mark" in error.message for error in inside.errors)
    assert inside.total == 3
    # A second one at the start, or one inside the header, refuses the file naming line 1
    for text in ("\ufeff\ufeff" + HEADER, "merchantId,\ufeffpaymentIntentId,amount,reason\n"):
        with pytest.raises(InvalidRequest, match=r"^line 1 holds a byte-order mark"):
            parse_refund_file(text + f"mer_1,{PI},5,\n")


@pytest.mark.parametrize("blank", ["", "   ", "\t", ",,,"])
def test_a_blank_line_in_the_middle_is_a_counted_row_error(blank: str) -> None:
    parsed = parse_refund_file(HEADER + f"mer_1,{PI},5,\n{blank}\nmer_1,{PI},6,\n")
    assert lines_of(parsed.errors) == [3]
    assert parsed.rows == [RefundRow(2, "mer_1", PI, 5, None), RefundRow(4, "mer_1", PI, 6, None)]
    assert parsed.total == 3


def test_crlf_and_lf_line_ends_are_the_same_rows() -> None:
    lf = HEADER + f"mer_1,{PI},5,\nmer_1,{PI},6,x\n"
    crlf = lf.replace("\n", "\r\n")
    mixed = HEADER + f"mer_1,{PI},5,\r\nmer_1,{PI},6,x\n"
    assert parse_refund_file(lf) == parse_refund_file(crlf) == parse_refund_file(mixed)
    assert parse_refund_file(crlf).rows[1] == RefundRow(3, "mer_1", PI, 6, "x")


def test_a_carriage_return_inside_a_line_is_a_row_error() -> None:
    for line in (f"mer_1,{PI},5,a\rb", f'mer_1,{PI},5,"a\rb"'):
        parsed = parse_refund_file(HEADER + line + "\n")
        assert [error.message for error in parsed.errors] == [
            "a carriage return is allowed only at the end of a line"
        ]


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_the_last_line_is_a_row_with_or_without_a_line_end(ending: str) -> None:
    parsed = parse_refund_file(HEADER + f"mer_1,{PI},5,\nmer_1,{PI},6,last{ending}")
    assert parsed.rows[-1] == RefundRow(3, "mer_1", PI, 6, "last")
    assert parsed.total == 2


def test_a_second_line_end_at_the_end_is_a_blank_line() -> None:
    parsed = parse_refund_file(HEADER + f"mer_1,{PI},5,\n\n")
    assert lines_of(parsed.errors) == [3]
    assert parsed.total == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER, "nothing follows the header (line 1)"),
        (HEADER.rstrip("\n"), "nothing follows the header (line 1)"),
        (HEADER + "\n", "line 2 is blank"),
        (HEADER + "\n  \r\n\n", "lines 2 to 4 are blank"),
    ],
)
def test_a_file_with_no_data_rows_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=f"^the file has no data rows: {re.escape(message)}"):
        parse_refund_file(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "paymentIntentId,amount\n",
        "merchantId;paymentIntentId;amount;reason\n",
        '"merchantId,paymentIntentId,amount,reason\n',
        f"mer_1,{PI},5,\n",
    ],
)
def test_a_file_without_the_header_is_refused_whole_naming_line_1(text: str) -> None:
    with pytest.raises(
        InvalidRequest, match=r"^line 1 must be the header merchantId,paymentIntentId,amount,reason$"
    ):
        parse_refund_file(text + f"mer_1,{PI},5,\n")


def test_a_file_too_large_is_refused_naming_the_first_line_over() -> None:
    with pytest.raises(InvalidRequest, match=f"^line {MAX_ROWS + 2}: a file holds at most {MAX_ROWS} rows$"):
        parse_refund_file(HEADER + "\n" * (MAX_ROWS + 1))
    assert parse_refund_file(HEADER + f"mer_1,{PI},1,\n" * MAX_ROWS).total == MAX_ROWS


def test_bytes_that_are_not_utf8_refuse_the_file_naming_their_line() -> None:
    with pytest.raises(InvalidRequest, match=r"^line 3 is not UTF-8 text"):
        decode_refund_file(HEADER.encode() + f"mer_1,{PI},1,\n".encode() + b"mer_1,pi_\xff,1,\n")
    assert decode_refund_file("\ufeff".encode() + HEADER.encode()) == "\ufeff" + HEADER


def test_lines_split_at_line_feeds_only() -> None:
    # A form feed or a Unicode line separator inside a field is text, not a line end.
    assert split_lines("a\x0cb\u2028c\r\nd\n") == ["a\x0cb\u2028c", "d"]
    assert split_lines("") == []
    assert split_lines("\n") == [""]


def test_a_merchant_keys_file_may_refund_its_own_merchants_payments_only() -> None:
    text = HEADER + f"mer_1,{PI},5,\nmer_2,{PI},6,\nmer 3,{PI},7,\n"
    mine = parse_refund_file(text, merchant_id="mer_1")
    assert mine.rows == [RefundRow(2, "mer_1", PI, 5, None)]
    assert mine.errors[0] == RowError(3, OTHER_MERCHANT)
    assert OTHER_MERCHANT == "merchantId must be the API key's own merchant"
    assert "merchantId must be 1 to 128" in mine.errors[1].message  # invalid first, then whose
    # A platform key's file names any merchant
    assert [row.merchant_id for row in parse_refund_file(text).rows] == ["mer_1", "mer_2"]


def test_jobs_are_named_by_batch_and_line() -> None:
    assert job_id("rb_1", 7) == "rb_1:7"


def test_a_line_holding_a_card_number_is_never_kept_and_the_good_rows_are_the_same() -> None:
    good = "pi_01M86Z2WFPT4VV1JRHWRS425HZ"
    text = (
        "merchantId,paymentIntentId,amount,reason\n"
        f'mer_1,{good},100,"late, and damaged"\n'
        f"mer_1,{good},100,paid with 4242 4242 4242 4242\n"
        f"4242424242424242,{good},100,\n"  # a card number where the merchant goes
        f"mer_1,{good},,\n"
        "mer_1,not-an-id,1,\n"
        f'mer_1,{good},5,"open quote 4242 4242 4242 4242\n'
        f'mer_1,{good},7,"say ""hi"""\n'
    )
    original = parse_refund_file(text)
    kept = kept_copy(original)
    assert "4242" not in kept
    assert "open quote" not in kept
    assert lines_of(original.errors) == [3, 4, 6, 7]
    assert "card number" in original.errors[0].message
    # The same rows, on the same lines: the same job ids; what import refused is not in the file at all
    assert kept_rows(kept) == original.rows
    assert original.rows[-1] == RefundRow(8, "mer_1", good, 7, 'say "hi"')
    assert len(kept.split("\n")) == original.total + 2  # the header, each line, the final line end


def test_a_kept_copy_that_does_not_parse_is_a_fault_not_a_row_error() -> None:
    with pytest.raises(ValueError, match="stored refund file is broken at line 3"):
        kept_rows(HEADER + f"mer_1,{PI},1,\nmer_1,pi_x,1,\n")


# -- every data line is a row or an error on its own line number, whatever the file holds ----------

GOOD = st.builds(
    lambda merchant, amount, reason: (f"{merchant},{PI},{amount},{reason}", True),
    st.sampled_from(["mer_1", "mer_2", "a.b:c-d_e"]),
    st.one_of(st.just(""), st.integers(1, MAX_ROWS).map(str)),
    st.sampled_from(["", "damaged", '"with, a comma"', '"a ""quoted"" word"', "  spaced  "]),
)
BAD = st.sampled_from(
    [
        f'mer_1,{PI},5,"never closed',
        f'mer_1,{PI},5,"a ""quoted"" and open',
        f'"mer_1,{PI},5,',
        f"mer_1,{PI},5",
        f"mer_1,{PI},5,x,y",
        "",
        "   ",
        f"\ufeffmer_1,{PI},5,",
        f"mer_1,{PI},5,a\rb",
        f"mer_1,{PI},1.50,",
        "mer_1,pi_nope,5,",
        f'mer_1,{PI},5,"closed"then more',
    ]
).map(lambda line: (line, False))


@given(
    st.lists(st.one_of(GOOD, BAD), min_size=1, max_size=40).filter(
        lambda lines: any(good for _, good in lines)
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_total_is_always_the_data_lines_and_every_good_line_is_its_own_row(
    lines: list[tuple[str, bool]], ending: str, final_line_end: bool
) -> None:
    # An empty last line is only there if a line end follows it (one final line end is no row).
    final_line_end = final_line_end or lines[-1][0] == ""
    text = (
        HEADER.replace("\n", ending)
        + ending.join(line for line, _ in lines)
        + (ending if final_line_end else "")
    )
    parsed = parse_refund_file(text)
    assert parsed.total == len(lines)
    assert [row.line for row in parsed.rows] == [n for n, (_, good) in enumerate(lines, start=2) if good]
    assert lines_of(parsed.errors) == [n for n, (_, good) in enumerate(lines, start=2) if not good]
    for row in parsed.rows:
        merchant_id, _, amount, _ = lines[row.line - 2][0].split(",", 3)
        assert (row.merchant_id, row.amount) == (merchant_id, int(amount) if amount else None)
    # The stored copy holds exactly the accepted rows, on the same lines
    assert kept_rows(kept_copy(parsed)) == parsed.rows
