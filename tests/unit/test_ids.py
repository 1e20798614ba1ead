"""Time-ordered identifiers: `<prefix>_` then a 26-character Crockford base32 ULID body."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.domain.ids import new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
MAX_MILLIS = 2**48 - 1
millis = st.integers(min_value=0, max_value=MAX_MILLIS)


def decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + CROCKFORD.index(char)
    return value


def body_of(identifier: str) -> str:
    return identifier.split("_", 1)[1]


def test_crockford_alphabet_leaves_out_the_ambiguous_letters() -> None:
    assert len(CROCKFORD) == len(set(CROCKFORD)) == 32
    assert not set("ILOU") & set(CROCKFORD)


@pytest.mark.parametrize("prefix", ["pi", "txn", "re", "ck", "batch"])
def test_prefix_and_length(prefix: str) -> None:
    # When
    identifier = new_id(prefix)

    # Then
    assert identifier.startswith(f"{prefix}_")
    assert len(identifier) == len(prefix) + 1 + 26
    assert BODY.fullmatch(body_of(identifier))


@given(prefix=st.sampled_from(["pi", "txn", "evt"]), now_ms=millis)
@settings(max_examples=200)
def test_body_is_crockford_and_starts_with_the_time(prefix: str, now_ms: int) -> None:
    # When
    identifier = new_id(prefix, now_ms=now_ms)

    # Then
    body = body_of(identifier)
    assert identifier == f"{prefix}_{body}"
    assert len(body) == 26
    assert set(body) <= set(CROCKFORD)
    assert decode(body[:10]) == now_ms
    assert decode(body[10:]) < 2**80


@pytest.mark.parametrize(
    ("now_ms", "time_part"),
    [(0, "0000000000"), (1, "0000000001"), (32, "0000000010"), (MAX_MILLIS, "7ZZZZZZZZZ")],
)
def test_known_time_encodings(now_ms: int, time_part: str) -> None:
    assert body_of(new_id("pi", now_ms=now_ms))[:10] == time_part


def test_without_a_time_it_uses_the_clock() -> None:
    # Given the clock around the call
    before = time.time_ns() // 1_000_000
    identifier = new_id("pi")
    after = time.time_ns() // 1_000_000

    # Then the encoded time lies between the two readings
    assert before <= decode(body_of(identifier)[:10]) <= after


@given(first=millis, gap=st.integers(min_value=1, max_value=10**9))
@settings(max_examples=300)
def test_ids_made_later_sort_later(first: int, gap: int) -> None:
    second = min(first + gap, MAX_MILLIS)
    if second == first:
        first -= 1
    assert new_id("pi", now_ms=first) < new_id("pi", now_ms=second)


def test_ids_made_at_increasing_milliseconds_sort_in_time_order() -> None:
    # Given ids made at increasing milliseconds
    start = 1_700_000_000_000
    made = [new_id("pi", now_ms=start + step * 7) for step in range(500)]

    # When shuffled and sorted as plain strings
    shuffled = sorted(made, key=lambda identifier: body_of(identifier)[10:])

    # Then the sort gives back the creation order
    assert sorted(shuffled) == made


def test_ten_thousand_ids_are_unique() -> None:
    made = [new_id("pi") for _ in range(10_000)]
    assert len(set(made)) == 10_000


def test_ids_in_the_same_millisecond_still_differ() -> None:
    made = {new_id("pi", now_ms=1_700_000_000_000) for _ in range(10_000)}
    assert len(made) == 10_000
