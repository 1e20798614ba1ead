"""Card-number detection: what the API refuses in free text and the hygiene scan looks for."""

from __future__ import annotations

import random
import uuid

import pytest

from payments.domain.cards import contains_card_number


@pytest.mark.parametrize(
    "text",
    ["4242424242424242", "paid with 4242 4242 4242 4242", "5555-5555-5555-4444", "amex 3782 822463 10005"],
)
def test_card_numbers_are_found_however_they_are_written(text: str) -> None:
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails Luhn
        "order 123456789012",  # 12 digits
        "stack/payments-local/00000000-0000-0000-0000-000000000000",  # zeros pass Luhn; no card starts with 0
        "0424242424242424",  # a leading 0: no issuer
        "pi_01M86Z2WFPT4VV1JRHWRS425HZ",
    ],
)
def test_what_is_not_a_card_number_is_not_refused(text: str) -> None:
    assert not contains_card_number(text)


def test_a_uuid_is_an_identifier_even_when_its_digits_across_dashes_pass_luhn() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/60910f86-4070-4540-991d-93ba12341a02"
    # Joined across its dashes, "86-4070-4540-991" is 13 digits that pass Luhn and start with 8:
    assert contains_card_number("86-4070-4540-991")
    assert not contains_card_number(key)
    # ...and a card next to a UUID is still found.
    assert contains_card_number(f"{key} 4242 4242 4242 4242")


def test_no_random_uuid_reads_as_a_card_number() -> None:
    uuids = [str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)) for seed in range(20_000)]
    assert not [value for value in uuids if contains_card_number(f"key/{value}")]
