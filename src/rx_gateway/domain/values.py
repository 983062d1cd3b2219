"""Values every request field is made of: CCYYMMDD dates, ASCII digits, NCPDP text."""

from __future__ import annotations

import datetime as dt


def is_digits(value: str) -> bool:
    """Digits mean 0-9: ``str.isdigit()`` alone also accepts Arabic-Indic, full-width and
    superscript digits, which would give one fill a second claim key."""
    return value.isascii() and value.isdigit()


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
