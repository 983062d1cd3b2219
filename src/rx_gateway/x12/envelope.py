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

    sender_id: str  # ISA06 / GS02
    receiver_id: str  # ISA08 / GS03
    produced_at: dt.datetime
    interchange_control_number: int  # ISA13 / IEA02, 1-999999999
    group_control_number: int  # GS06 / GE02
    functional_code: str  # GS01: HP for an 835
    implementation: str  # GS08: 005010X221A1
    states_implementation: bool = False  # ST03 repeats GS08 (the 834 does, the 835 does not)


def wrap(envelope: Envelope, transaction_set_id: str, body: list[str]) -> str:
    """ISA, GS, ST, the body, SE (segments ST..SE), GE, IEA: one transaction set."""
    if not 0 < envelope.interchange_control_number <= CONTROL_NUMBER_MAX:
        msg = "interchange control numbers are 1-999999999"
        raise ValueError(msg)
    at = envelope.produced_at
    sender = text(envelope.sender_id, 15)
    receiver = text(envelope.receiver_id, 15)
    control = f"{envelope.interchange_control_number:09d}"
    isa = segment(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        "ZZ",
        f"{sender:<15}",
        "ZZ",
        f"{receiver:<15}",
        f"{at:%y%m%d}",
        f"{at:%H%M}",
        REPETITION,
        "00501",
        control,
        "0",
        "P",
        COMPONENT,
    )
    group = str(envelope.group_control_number)
    transaction = [
        segment(
            "ST",
            transaction_set_id,
            "0001",
            envelope.implementation if envelope.states_implementation else "",
        ),
        *body,
    ]
    transaction.append(segment("SE", str(len(transaction) + 1), "0001"))
    segments = [
        isa,
        segment(
            "GS",
            envelope.functional_code,
            sender,
            receiver,
            f"{at:%Y%m%d}",
            f"{at:%H%M}",
            group,
            "X",
            envelope.implementation,
        ),
        *transaction,
        segment("GE", "1", group),
        segment("IEA", "1", control),
    ]
    return "\n".join(segments) + "\n"
