"""Citizen ID number check (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.

Central has its own copy of this rule; peripherals may not import central, and the kiosk has to say
at the reader, before anything is sent, that a card's number does not add up.
"""

from __future__ import annotations

import re
from datetime import date

_FORMAT = re.compile(r"[0-9]{17}[0-9X]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(id_number: str) -> str | None:
    """Why an ID number is not valid under GB 11643-1999 (format, birth date, check character), or None."""
    if not _FORMAT.fullmatch(id_number):
        return f"ID number {id_number!r}: expected 17 digits and a check character (digit or X)"
    digits = id_number[6:14]
    try:
        date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return f"ID number: birth date part {digits} is not a date, expected YYYYMMDD"
    expected = check_character(id_number[:17])
    if id_number[17] != expected:
        return f"ID number: check character is {id_number[17]}, the first 17 digits give {expected}"
    return None
