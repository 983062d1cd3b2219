"""The 999 implementation acknowledgment (005010X231A1) of a received X12 interchange: for each
functional group, whether each transaction set conforms to its implementation guide and, where
it does not, which segment and element, coded as the 999 codes them.

One 999 transaction set per functional group received (AK1 names the group, AK2 each of its
transaction sets), all in one FA group of one interchange addressed back to the sender; a TA1
(interchange acknowledgment) follows the ISA when the sender asked for one (ISA14 1) or the
interchange envelope itself is in error.

AK9 is the guide's: A when every transaction set conforms, P when some do (AK904 counts the
sets whose IK5 is A), R when none does or the group's own envelope is in error. The gateway
applies an 834 file all or nothing, so a file whose 999 is P is still refused whole when it is
applied. An interchange whose envelope a TA1 rejects is not processed: the TA1 alone answers
it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rx_gateway.x12.envelope import (
    COMPONENT,
    Envelope,
    group_header,
    interchange_header,
    segment,
    text,
    transaction_set,
)

IMPLEMENTATION = "005010X231A1"
CODES_MAX = 5  # IK502-IK506, AK905-AK909
COPY_CHARS_MAX = 99  # IK404
SEGMENTS_IN_ERROR = "5"  # IK502: one or more segments in error
SEGMENT_HAS_ELEMENT_ERRORS = "8"  # IK304
NO_ERROR = "000"  # TA105


@dataclass(frozen=True, slots=True)
class ElementNote:
    """IK4: an element in error."""

    position: int  # IK401-1, in its segment
    code: str  # IK403
    reference: str = ""  # IK402: the data element's reference number
    component: int | None = None  # IK401-2, in its composite
    repeat: int | None = None  # IK401-3, of a repeating element
    copy: str = ""  # IK404: the bad value, where it may be quoted


@dataclass(frozen=True, slots=True)
class SegmentNote:
    """IK3: a segment in error (its position in the transaction set, ST being 1)."""

    segment_id: str
    position: int
    code: str  # IK304
    loop_id: str = ""  # IK303: an LS/LE loop's identifier
    elements: tuple[ElementNote, ...] = ()


@dataclass(frozen=True, slots=True)
class TransactionNote:
    """AK2 .. IK5: one transaction set of the group."""

    set_id: str  # ST01
    control: str  # ST02
    implementation: str  # ST03
    segments: tuple[SegmentNote, ...] = ()
    codes: tuple[str, ...] = ()  # IK502-IK506 of its header and trailer

    @property
    def accepted(self) -> bool:
        return not self.segments and not self.codes

    def reasons(self) -> tuple[str, ...]:
        codes = list(dict.fromkeys(self.codes))
        if self.segments and SEGMENTS_IN_ERROR not in codes:
            codes.append(SEGMENTS_IN_ERROR)
        return tuple(codes[:CODES_MAX])


@dataclass(frozen=True, slots=True)
class GroupNote:
    """AK1 .. AK9: one functional group received."""

    functional_id: str  # GS01
    control: str  # GS06
    implementation: str  # GS08
    included: int  # GE01: the transaction sets the group says it holds
    transactions: tuple[TransactionNote, ...]
    codes: tuple[str, ...] = ()  # AK905-AK909 of its header and trailer
    received: int | None = None  # AK903 when its sets were not examined (no AK2 for them)
    in_error: bool = False  # rejected for what no AK905 code names (or sets not examined)

    @property
    def accepted(self) -> bool:
        return (
            not self.codes
            and not self.in_error
            and bool(self.transactions)
            and self.conforming == len(self.transactions)
        )

    @property
    def conforming(self) -> int:
        return sum(1 for t in self.transactions if t.accepted)

    def verdict(self) -> str:
        """AK901: A all sets accepted, P some, R none (or the group's envelope in error)."""
        if self.accepted:
            return "A"
        return "P" if not self.codes and not self.in_error and self.conforming else "R"


@dataclass(frozen=True, slots=True)
class InterchangeNote:
    """TA1: the interchange envelope (ISA13, ISA09, ISA10 as received)."""

    control: str
    date: str
    time: str
    note_code: str = NO_ERROR  # TA105
    requested: bool = False  # ISA14 = 1

    @property
    def accepted(self) -> bool:
        return self.note_code == NO_ERROR


SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}")


def _segment_notes(note: SegmentNote) -> list[str]:
    """IK3 and its IK4s; none for a segment whose ID no IK301 can hold (its set is still
    rejected: IK502 5)."""
    if SEGMENT_ID.fullmatch(note.segment_id) is None:
        return []
    lines = [segment("IK3", note.segment_id, str(note.position), text(note.loop_id, 4), note.code)]
    for element in note.elements:
        where = str(element.position)
        if element.component is not None or element.repeat is not None:
            where += COMPONENT + (str(element.component) if element.component else "")
        if element.repeat is not None:
            where += COMPONENT + str(element.repeat)
        lines.append(
            segment(
                "IK4",
                where,
                element.reference,
                element.code,
                text(element.copy, COPY_CHARS_MAX),
            )
        )
    return lines


def _group_body(group: GroupNote) -> list[str]:
    body = [
        segment(
            "AK1",
            text(group.functional_id, 2),
            text(group.control, 9),
            text(group.implementation, 12),
        )
    ]
    for transaction in group.transactions:
        body.append(
            segment(
                "AK2",
                text(transaction.set_id, 3),
                text(transaction.control, 9),
                text(transaction.implementation, 35),
            )
        )
        for note in transaction.segments:
            body += _segment_notes(note)
        body.append(segment("IK5", "A" if transaction.accepted else "R", *transaction.reasons()))
    verdict = group.verdict()
    body.append(
        segment(
            "AK9",
            verdict,
            str(group.included),
            str(len(group.transactions) if group.received is None else group.received),
            str(group.conforming if verdict != "R" else 0),
            *list(dict.fromkeys(group.codes))[:CODES_MAX],
        )
    )
    return body


def acknowledgment(
    envelope: Envelope, groups: Sequence[GroupNote], interchange: InterchangeNote
) -> str:
    """The 999 interchange: ``envelope`` addressed back to the sender (its functional code FA
    and implementation 005010X231A1 are set here), one 999 per group received, and a TA1 when
    asked for or when the envelope is in error (then alone: a rejected interchange is not
    processed)."""
    envelope = replace(envelope, functional_code="FA", implementation=IMPLEMENTATION)
    isa = interchange_header(envelope)
    segments = [isa]
    if interchange.requested or not interchange.accepted:
        segments.append(
            segment(
                "TA1",
                text(interchange.control, 9),
                text(interchange.date, 6),
                text(interchange.time, 4),
                "A" if interchange.accepted else "R",
                interchange.note_code,
            )
        )
    if not interchange.accepted:
        groups = ()
    if groups:
        segments.append(group_header(envelope))
        for number, group in enumerate(groups, 1):
            control = f"{number:04d}"
            segments += transaction_set("999", control, IMPLEMENTATION, _group_body(group))
        segments.append(segment("GE", str(len(groups)), str(envelope.group_control_number)))
    segments.append(
        segment("IEA", str(1 if groups else 0), f"{envelope.interchange_control_number:09d}")
    )
    return "\n".join(segments) + "\n"
