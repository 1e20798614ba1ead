"""Card-number detection, so free text can never smuggle a PAN into logs, tables or events."""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"(?:\d[ -]?){12,18}\d")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def contains_card_number(text: str) -> bool:
    """True when `text` holds 13 to 19 digits (spaces or dashes allowed between) passing Luhn."""
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        for length in range(len(digits), 12, -1):
            for start in range(len(digits) - length + 1):
                if luhn_valid(digits[start : start + length]):
                    return True
    return False
