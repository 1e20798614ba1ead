"""Card-number detection, so free text can never smuggle a PAN into logs, tables or events."""

from __future__ import annotations

import re

_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")
_SEPARATOR = re.compile(r"[ -]")
_PAN_LENGTHS = range(13, 20)
# An identifier shaped as a UUID (8-4-4-4-12 hex digits) is read as one opaque token: its digits across
# the dashes would otherwise join into 13 to 19 digits passing Luhn for about one random UUID in 370,
# and no card is written in those groups (cards are grouped 4-4-4-4, 4-6-5 or 4-6-4).
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![0-9A-Za-z])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _candidates(run: str) -> list[str]:
    """The digit strings in a run that could be a PAN as written: every span of whole groups (split at
    spaces or dashes) of 13 to 19 digits, and every 13-19 digit window of a group longer than that."""
    groups = _SEPARATOR.split(run)
    found = []
    for first in range(len(groups)):
        joined = ""
        for group in groups[first:]:
            joined += group
            if len(joined) > _PAN_LENGTHS[-1]:
                break
            if len(joined) in _PAN_LENGTHS:
                found.append(joined)
        if len(groups[first]) > _PAN_LENGTHS[-1]:
            long_group = groups[first]
            found += [
                long_group[start : start + length]
                for length in _PAN_LENGTHS
                for start in range(len(long_group) - length + 1)
            ]
    return found


def contains_card_number(text: str) -> bool:
    """True when `text` holds 13 to 19 digits, written together or in groups, that pass Luhn and do
    not start with 0 (no card number does: ISO/IEC 7812 keeps the leading 0 for no issuer, and a run
    of zeros passes Luhn trivially). A UUID-shaped token is an identifier, not digits to join."""
    return any(
        candidate[0] != "0" and luhn_valid(candidate)
        for match in _DIGIT_RUN.finditer(_UUID.sub("uuid", text))
        for candidate in _candidates(match.group())
    )
