"""Values every request field is made of: CCYYMMDD dates, ASCII digits, NCPDP text."""

from __future__ import annotations

import datetime as dt


def is_digits(value: str) -> bool:
    """Digits mean 0-9: ``str.isdigit()`` alone also accepts Arabic-Indic, full-width and
    superscript digits, which would give one fill a second claim key."""
    return value.isascii() and value.isdigit()


# 304-C4 and every file that carries a date of birth: nobody alive was born before this year
DATE_OF_BIRTH_YEAR_MIN = 1880
# Dates an administrator or an enrollment file may give (coverage, authorizations, funding):
# anything earlier or later is a typo no claim could meet
DATE_YEAR_MIN, DATE_YEAR_MAX = 1900, 2199
# EDI's "no end": an end date of 9999-12-31 means the span is open
OPEN_END = "99991231"


def plausible_birth_date(born: dt.date, today: dt.date) -> bool:
    """A date of birth an enrollment file may carry: from 1880 (the claim door's 304-C4 floor)
    to the end of next year (a clock behind the file's; a year like 2999 is a typo)."""
    return DATE_OF_BIRTH_YEAR_MIN <= born.year <= today.year + 1


def is_text(value: str) -> bool:
    """NCPDP alphanumeric: printable ASCII (space to tilde). No NUL, no control character, no
    framing byte, nothing outside ASCII."""
    return value.isascii() and value.isprintable()


def parse_ccyymmdd(value: str) -> dt.date | None:
    """A CCYYMMDD date, or None when the value is not one."""
    if len(value) != 8 or not is_digits(value):
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def format_ccyymmdd(value: dt.date) -> str:
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"
