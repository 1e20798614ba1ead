"""Card-number detection: what the API refuses in free text and the hygiene scan looks for."""

from __future__ import annotations

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
