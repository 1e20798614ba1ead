"""Card-number detection, so free text can never smuggle a PAN into logs, tables or events."""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_PAN_LENGTHS = range(13, 20)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """True when `text` holds a run of 13 to 19 digits (spaces or dashes allowed between) that passes
    Luhn. A longer run is searched window by window, since a PAN may sit inside it."""
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if len(digits) in _PAN_LENGTHS:
            if luhn_valid(digits):
                return True
        elif len(digits) > _PAN_LENGTHS[-1] and any(
            luhn_valid(digits[start : start + length])
            for length in _PAN_LENGTHS
            for start in range(len(digits) - length + 1)
        ):
            return True
    return False
