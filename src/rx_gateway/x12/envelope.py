"""The X12 envelope (ISA/GS .. GE/IEA) and element values.

Delimiters: ``*`` between elements, ``:`` inside a composite, ``^`` between repetitions, ``~``
after each segment (and a newline, for people). A value never carries a delimiter: text is
reduced to the basic character set's printable ASCII with the delimiters replaced by spaces.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
SEGMENT = "~"
DELIMITERS = frozenset((ELEMENT, COMPONENT, REPETITION, SEGMENT))
CONTROL_NUMBER_MAX = 999_999_999


CLEAN = re.compile(r"[ !-)+-9;-\]_-}]*")  # printable ASCII but the delimiters * : ^ ~
UNCLEAN = re.compile(r"[^ !-)+-9;-\]_-}]")


def text(value: str, length_max: int = 60) -> str:
    """An AN element: printable ASCII (accents taken off: José is Jose), no delimiter,
    trimmed, at most ``length_max``. A value with nothing left is empty: callers of a required
    element give a fallback."""
    if not CLEAN.fullmatch(value):
        ascii_only = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
        value = UNCLEAN.sub(" ", ascii_only)
    return value.strip()[:length_max].rstrip()


def required_text(value: str, fallback: str, length_max: int = 60) -> str:
    """A required AN element: ``value`` cleaned, else ``fallback`` cleaned, else UNKNOWN."""
    return text(value, length_max) or text(fallback, length_max) or "UNKNOWN"


def amount(cents: int) -> str:
    """An R (decimal) element from integer cents: ``11570`` → ``115.7``, ``-4200`` → ``-42``."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}" if part == 0 else f"{sign}{whole}.{part:02d}".rstrip("0")


def quantity(thousandths: int) -> str:
    """An R element from thousandths of a unit: ``30000`` → ``30``, ``2500`` → ``2.5``."""
    sign = "-" if thousandths < 0 else ""
    whole, part = divmod(abs(thousandths), 1000)
    return f"{sign}{whole}" if part == 0 else f"{sign}{whole}.{part:03d}".rstrip("0")


def date8(value: dt.date) -> str:
    return f"{value:%Y%m%d}"


def segment(segment_id: str, *elements: str) -> str:
    """One segment, trailing empty elements dropped (X12 does not send them)."""
    values = list(elements)
    while values and values[-1] == "":
        values.pop()
    return ELEMENT.join((segment_id, *values)) + SEGMENT


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who sends to whom, when, under which control numbers."""

    sender_id: str  # ISA06 (and GS02 unless group_sender_id)
    receiver_id: str  # ISA08 (and GS03 unless group_receiver_id)
    produced_at: dt.datetime
    interchange_control_number: int  # ISA13 / IEA02, 1-999999999
    group_control_number: int  # GS06 / GE02
    functional_code: str  # GS01: HP for an 835
    implementation: str  # GS08: 005010X221A1
    states_implementation: bool = False  # ST03 repeats GS08 (the 834 does, the 835 does not)
    sender_qualifier: str = "ZZ"  # ISA05
    receiver_qualifier: str = "ZZ"  # ISA07
    usage: str = "P"  # ISA15: P production, T test
    group_sender_id: str = ""  # GS02, when the application's ID is not the interchange's
    group_receiver_id: str = ""  # GS03


def interchange_header(envelope: Envelope) -> str:
    """The ISA segment (fixed width: 106 characters with its terminator)."""
    if not 0 < envelope.interchange_control_number <= CONTROL_NUMBER_MAX:
        msg = "interchange control numbers are 1-999999999"
        raise ValueError(msg)
    at = envelope.produced_at
    return segment(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        f"{text(envelope.sender_qualifier, 2) or 'ZZ':<2}",
        f"{text(envelope.sender_id, 15):<15}",
        f"{text(envelope.receiver_qualifier, 2) or 'ZZ':<2}",
        f"{text(envelope.receiver_id, 15):<15}",
        f"{at:%y%m%d}",
        f"{at:%H%M}",
        REPETITION,
        "00501",
        f"{envelope.interchange_control_number:09d}",
        "0",
        envelope.usage if envelope.usage in ("P", "T") else "P",
        COMPONENT,
    )


def group_header(envelope: Envelope) -> str:
    at = envelope.produced_at
    return segment(
        "GS",
        envelope.functional_code,
        text(envelope.group_sender_id or envelope.sender_id, 15),
        text(envelope.group_receiver_id or envelope.receiver_id, 15),
        f"{at:%Y%m%d}",
        f"{at:%H%M}",
        str(envelope.group_control_number),
        "X",
        envelope.implementation,
    )


def transaction_set(
    transaction_set_id: str, control: str, implementation: str, body: list[str]
) -> list[str]:
    """ST, the body, SE (its count: the segments ST..SE)."""
    segments = [segment("ST", transaction_set_id, control, implementation), *body]
    segments.append(segment("SE", str(len(segments) + 1), control))
    return segments


def wrap(envelope: Envelope, transaction_set_id: str, body: list[str]) -> str:
    """ISA, GS, ST, the body, SE (segments ST..SE), GE, IEA: one transaction set."""
    isa = interchange_header(envelope)
    group = str(envelope.group_control_number)
    implementation = envelope.implementation if envelope.states_implementation else ""
    segments = [
        isa,
        group_header(envelope),
        *transaction_set(transaction_set_id, "0001", implementation, body),
        segment("GE", "1", group),
        segment("IEA", "1", f"{envelope.interchange_control_number:09d}"),
    ]
    return "\n".join(segments) + "\n"
