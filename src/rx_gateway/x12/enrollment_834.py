"""The 834 (005010X220A1) read into ``domain.enrollment``: segment by segment, pure.

``read_834`` splits an interchange by the delimiters its ISA declares, walks each transaction
set's loops (header, 1000A/B sponsor and payer, 2000 member, 2100A/B names, 2300 coverage, and
the loops it does not use: 2100C-H, 2200, 2310, 2320/2330, 2700/2750), and checks what a file
must say before anything is looked up in the database: a subscriber identifier on every member,
dates that are dates, known maintenance codes, a plan that is loaded for a PDG line. A problem
is an ``InvalidRequest`` naming the file, the segment (its position in the transaction set, ST
being 1) and the element. Structure (segment order, usage, code lists) is checked first by a
real X12 validator in ``adapters/files/x12_834.py``; this module still never fails on input
it does not expect: it names it.

The content digest (what makes "the same file" for idempotency) is the SHA-256 of the sender
(ISA06) and every transaction set's segments from BGN to the one before SE, delimiters
normalized: the same business content re-sent by its sender in a new envelope (new ISA13,
GS06, ST02) is the same file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import NoReturn

from rx_gateway.domain.enrollment import (
    CARDHOLDER_ID_LENGTH_MAX,
    IDENTIFIER_LENGTH_MAX,
    SELF_ONLY_LEVELS,
    CoverageLine,
    Dated,
    Enrollment,
    EnrollmentTransaction,
    InterchangeIdentity,
    Maintenance,
    MemberChange,
    Person,
    Where,
    refuse,
)
from rx_gateway.domain.reference import CoverageLevel, Plan
from rx_gateway.domain.values import (
    DATE_OF_BIRTH_YEAR_MIN,
    DATE_YEAR_MAX,
    DATE_YEAR_MIN,
    OPEN_END,
    parse_ccyymmdd,
    plausible_birth_date,
)

IMPLEMENTATION = "005010X220A1"
ISA_LENGTH = 106  # the ISA is fixed length: its 4th character and its last three are delimiters
SEGMENTS_MAX = 5_000_000  # a limit on everything: about 300,000 members
ELEMENT_CHARS_MAX = 264  # X12's longest text element (MSG01); the 834's are 80 at most
MEMBER_MAINTENANCE = frozenset(
    {
        Maintenance.CHANGE,
        Maintenance.ADDITION,
        Maintenance.TERMINATION,
        Maintenance.REINSTATEMENT,
        Maintenance.AUDIT,
    }
)
GENDER_CODES = {"M": 1, "F": 2, "U": 0}  # DMG03 → 305-C5
EMPLOYMENT_CLASSES = {"PT": "PT", "RT": "RET"}  # INS08 → class; any other status is FT
# 2100 loops this reader passes over (NM101): mailing address, employer, school, custodial
# parent, responsible person, drop-off location
OTHER_NAME_LOOPS = frozenset({"31", "36", "M8", "S3", "QD", "45", "E1", "EI", "EXS", "GD", "J6"})


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: where it is and its elements (``elements[0]`` is the segment ID)."""

    where: Where
    elements: tuple[str, ...]

    @property
    def segment_id(self) -> str:
        return self.elements[0]

    def get(self, position: int) -> str:
        """The element at ``position`` (1-based, as X12 numbers them), "" when not sent."""
        return self.elements[position].strip() if position < len(self.elements) else ""

    def element(self, position: int) -> str:
        """The element's name, e.g. DTP03."""
        return f"{self.segment_id}{position:02d}"


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str
    component: str
    repetition: str
    segment: str


def delimiters(text: str, source: str) -> Delimiters:
    """The delimiters the ISA declares, or a problem naming the ISA."""
    isa = Where(0, "ISA")
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        refuse(source, isa, "", "not an X12 interchange: a file starts with a 106-character ISA")
    found = Delimiters(element=text[3], component=text[104], repetition=text[82], segment=text[105])
    if found.element.isalnum() or found.segment.isalnum() or found.element == found.segment:
        refuse(source, isa, "", "the ISA does not declare usable delimiters")
    return found


def split(
    text: str, source: str, *, element_chars_max: int | None = ELEMENT_CHARS_MAX
) -> tuple[Delimiters, list[Segment]]:
    """The interchange's segments, each numbered within its transaction set (ISA, GS, GE and
    IEA are outside one: 0). An element longer than ``element_chars_max`` (None: any length)
    is refused."""
    text = text.lstrip("\ufeff\r\n\t ")
    found = delimiters(text, source)
    segments: list[Segment] = []
    position = 0
    control = ""
    for raw in text.split(found.segment):
        body = raw.strip("\r\n")
        if not body.strip():
            continue
        elements = tuple(body.split(found.element))
        segment_id = elements[0].strip()
        if segment_id == "ST":
            position = 1
            control = elements[2].strip() if len(elements) > 2 else ""
        elif segment_id in ("GS", "GE", "IEA", "ISA"):
            position = 0
        elif position:
            position += 1
        where = Where(position, segment_id, control)
        for index, element in enumerate(elements[1:], 1):
            if element_chars_max is not None and len(element) > element_chars_max:
                # pyx12 then blamed a missing IEA
                refuse(
                    source,
                    where,
                    f"{segment_id}{index:02d}",
                    f"is {len(element)} characters: no 834 element is longer than"
                    f" {ELEMENT_CHARS_MAX} (a segment terminator missing?)",
                )
        segments.append(Segment(where, (segment_id, *elements[1:])))
        if len(segments) > SEGMENTS_MAX:
            refuse(source, Where(0, "ISA"), "", f"more than {SEGMENTS_MAX} segments")
        if segment_id == "SE":
            position = 0
    return found, segments


def _usual_delimiters(found: Delimiters) -> dict[int, str]:
    """How a file that declares an unusual component or repetition separator (ISA16, ISA11) is
    written with the usual ones (: and ^): its separators become them and a usual one in its
    data is escaped, in one pass, so that no two contents digest alike. Empty for a file that
    declares the usual ones (its text digests as it is, as it always did)."""
    wanted = {
        mine: usual
        for mine, usual in ((found.component, ":"), (found.repetition, "^"))
        if mine != usual and len(mine) == 1 and not mine.isalnum()
    }
    if not wanted:
        return {}
    table = {"\\": "\\\\"}
    if found.component != ":":
        table[":"] = "\\:"
    if found.repetition != "^":
        table["^"] = "\\^"
    table.update(wanted)  # this file's own separators: mapped, not escaped
    return str.maketrans(table)


def content_sha256(
    sender_id: str,
    segments: list[Segment],
    found: Delimiters,
    *,
    as_written: bool = False,
    escaped: bool = True,
) -> str:
    """SHA-256 of the sender and each transaction set's BGN..(SE exclusive), written with the
    usual delimiters * : ^ ~ whatever the file's ISA declared (the same content in another
    envelope is the same file). ``as_written``: the component and repetition separators as the
    file has them, as files were digested before (a file applied then is still recognized).
    ``escaped`` False: ambiguous data (``_ambiguous``) as digests were made before it was
    escaped (they may collide: legacy_digests says when such a digest is to be believed)."""
    digest = hashlib.sha256(f"{sender_id}\n".encode())
    inside = False
    table = {} if as_written else _usual_delimiters(found)
    for s in segments:
        if s.segment_id == "BGN":
            inside = True
        elif s.segment_id == "SE":
            inside = False
            digest.update(b"\n")
        if inside:
            elements = [e.strip() for e in s.elements]
            if escaped and any(_ambiguous(e) for e in elements):
                elements = [_escaped(e) for e in elements]
            digest.update(("*".join(elements).translate(table) + "~").encode())
    return digest.hexdigest()


def legacy_digests(sender_id: str, segments: list[Segment], found: Delimiters) -> tuple[str, ...]:
    """The digests a file with ambiguous data had before that data was escaped (normalized,
    and as written): empty for any other file, whose digests did not change. Such a digest
    may be another file's, so a stored file is taken for this one by it only when the sender
    and ISA13 are its too (the same file re-sent in its own envelope)."""
    inside = False
    ambiguous = False
    for s in segments:
        inside = (inside or s.segment_id == "BGN") and s.segment_id != "SE"
        if inside and any(_ambiguous(e.strip()) for e in s.elements):
            ambiguous = True
            break
    if not ambiguous:
        return ()
    return tuple(
        dict.fromkeys(
            content_sha256(sender_id, segments, found, as_written=written, escaped=False)
            for written in (False, True)
        )
    )


def _ambiguous(element: str) -> bool:
    """Data that, written with the usual delimiters, would read as one: a * or ~ in a file
    whose own separators are others, or a backslash that ends an element."""
    return "*" in element or "~" in element or element.endswith("\\")


def _escaped(element: str) -> str:
    """A segment with ambiguous data digests with its *, ~ and backslashes escaped by a
    backslash, so that no two contents digest alike (a file with | between elements and a
    name A*B is not the file with * between them and the name split in two); segments
    without (every file written with the usual delimiters) digest as they always did."""
    return element.replace("\\", "\\\\").replace("*", "\\*").replace("~", "\\~")


def _date(source: str, s: Segment, position: int) -> dt.date:
    parsed = parse_ccyymmdd(s.get(position))
    if parsed is None:
        refuse(source, s.where, s.element(position), "is not a date CCYYMMDD")
    return parsed


def _open_end(s: Segment) -> bool:
    """A benefit end (349) or eligibility end (357) of 99991231, EDI's "no end"."""
    return s.get(1) in ("349", "357") and s.get(2) == "D8" and s.get(3) == OPEN_END


def _dated(source: str, s: Segment) -> Dated:
    """A member DTP's date (loop 2000): D8 only (one date)."""
    if s.get(2) != "D8":
        refuse(source, s.where, "DTP02", "must be D8 (one date CCYYMMDD)")
    date = _date(source, s, 3)
    if not DATE_YEAR_MIN <= date.year <= DATE_YEAR_MAX:  # as the admin interface's dates
        refuse(
            source,
            s.where,
            "DTP03",
            f"must be a date in {DATE_YEAR_MIN}-{DATE_YEAR_MAX}"
            f" ({OPEN_END} only as a benefit or eligibility end: no end)",
        )
    return Dated(date, s.where)


def _dated_range(source: str, s: Segment) -> tuple[Dated, Dated]:
    """A coverage DTP's dates (loop 2300, 348/349): D8, one date (first and last the same), or
    RD8, a range CCYYMMDD-CCYYMMDD whose first day is not after its last."""
    if s.get(2) == "D8":
        one = _dated(source, s)
        return one, one
    if s.get(2) != "RD8":
        refuse(source, s.where, "DTP02", "must be D8 (one date) or RD8 (a range of dates)")
    first, dash, last = s.get(3).partition("-")
    begin, end = parse_ccyymmdd(first), parse_ccyymmdd(last)
    if (
        not dash
        or begin is None
        or end is None
        or end < begin
        or not (begin.year >= DATE_YEAR_MIN and end.year <= DATE_YEAR_MAX)
    ):
        refuse(
            source,
            s.where,
            "DTP03",
            "is not a range of dates CCYYMMDD-CCYYMMDD, the first not after the last,"
            f" in {DATE_YEAR_MIN}-{DATE_YEAR_MAX}",
        )
    return Dated(begin, s.where), Dated(end, s.where)


def _identifier(source: str, s: Segment, position: int, length_max: int) -> str:
    value = s.get(position)
    if not value or len(value) > length_max or not value.isprintable():
        refuse(
            source,
            s.where,
            s.element(position),
            f"must be 1-{length_max} printable characters",
        )
    return value


def _maintenance(source: str, s: Segment, position: int, allowed: frozenset[str]) -> Maintenance:
    value = s.get(position)
    if value not in allowed:
        refuse(
            source,
            s.where,
            s.element(position),
            f"maintenance type {value!r} is not one of {', '.join(sorted(allowed))}",
        )
    return Maintenance(value)


@dataclass
class _Loop:
    """The member loop being read: its INS, then what its segments add."""

    change: MemberChange
    lines: list[CoverageLine] = field(default_factory=list)


@dataclass
class _Transaction:
    control_number: str
    group_control_number: str
    bgn: Segment | None = None
    sponsor: Segment | None = None
    payer: Segment | None = None
    members: list[MemberChange] = field(default_factory=list)


class _Reader:
    """The state machine over one interchange's segments."""

    def __init__(self, source: str, plans: Mapping[str, Plan]) -> None:
        self.source = source
        self.plans = plans
        self.transactions: list[_Transaction] = []
        self.transaction: _Transaction | None = None
        self.group_control_number = ""
        self.loop = "header"
        self.member: _Loop | None = None
        # the file's date (BGN03, else today): no one in it was born after the next year
        self.created = dt.datetime.now(dt.UTC).date()

    def fail(self, s: Segment, element: str, message: str) -> NoReturn:
        refuse(self.source, s.where, element, message)

    def read(self, segments: list[Segment]) -> None:
        for s in segments:
            handler = getattr(self, f"_{s.segment_id.lower()}", None)
            if handler is not None:
                handler(s)

    # ------------------------------------------------------------ envelope

    def _gs(self, s: Segment) -> None:
        if s.get(1) != "BE" or s.get(8) != IMPLEMENTATION:
            self.fail(s, "GS08", f"must be {IMPLEMENTATION} with GS01 BE (an 834)")
        self.group_control_number = s.get(6)

    def _st(self, s: Segment) -> None:
        if s.get(1) != "834":
            self.fail(s, "ST01", "must be 834")
        self.transaction = _Transaction(s.get(2), self.group_control_number)
        self.transactions.append(self.transaction)
        self.loop = "header"
        self.member = None

    def _se(self, s: Segment) -> None:
        self._close_member()
        transaction = self._current(s)
        if transaction.bgn is None:
            self.fail(s, "", "the transaction set has no BGN")
        if transaction.sponsor is None:
            self.fail(s, "", "the transaction set has no sponsor (N1*P5)")
        self.transaction = None

    def _current(self, s: Segment) -> _Transaction:
        if self.transaction is None:
            refuse(self.source, s.where, "", "outside a transaction set (ST..SE)")
        return self.transaction

    # ------------------------------------------------------------ header and 1000 loops

    def _bgn(self, s: Segment) -> None:
        self._current(s).bgn = s
        self.created = parse_ccyymmdd(s.get(3)) or self.created

    def _n1(self, s: Segment) -> None:
        transaction = self._current(s)
        if self.loop != "header":
            return  # 2750 reporting categories
        if s.get(1) == "P5":
            _identifier(self.source, s, 4, IDENTIFIER_LENGTH_MAX)
            transaction.sponsor = s
        elif s.get(1) == "IN":
            transaction.payer = s

    # ------------------------------------------------------------ 2000: the member

    def _ins(self, s: Segment) -> None:
        self._current(s)
        self._close_member()
        subscriber = s.get(1)
        if subscriber not in ("Y", "N"):
            self.fail(s, "INS01", "must be Y (subscriber) or N (dependent)")
        maintenance = _maintenance(self.source, s, 3, frozenset(MEMBER_MAINTENANCE))
        employment = s.get(8)
        change = MemberChange(
            where=s.where,
            subscriber=subscriber == "Y",
            relationship=s.get(2),
            maintenance=maintenance,
            cardholder_id="",
            person=Person("", "", None, None),
            class_code=(EMPLOYMENT_CLASSES.get(employment, "FT") if employment else ""),
        )
        if change.subscriber and change.relationship != "18":
            self.fail(s, "INS02", "a subscriber (INS01 Y) must be 18 (self)")
        self.member = _Loop(change)
        self.loop = "2000"

    def _close_member(self) -> None:
        if self.member is None or self.transaction is None:
            return
        loop, self.member = self.member, None
        change = replace(loop.change, coverages=tuple(loop.lines))
        if not change.cardholder_id:
            refuse(self.source, change.where, "", "REF*0F (the subscriber identifier) is required")
        if change.name_at is None:
            refuse(self.source, change.where, "", "NM1*IL (the member's name) is required")
        self.transaction.members.append(change)

    def _ref(self, s: Segment) -> None:
        if self.member is None:
            return
        qualifier = s.get(1)
        if self.loop == "2000":
            change = self.member.change
            if qualifier == "0F":
                value = _identifier(self.source, s, 2, CARDHOLDER_ID_LENGTH_MAX)
                change = replace(change, cardholder_id=value)
            elif qualifier == "1L":
                change = replace(change, group_id=_identifier(self.source, s, 2, 15))
            elif qualifier == "3H":
                family = _identifier(self.source, s, 2, IDENTIFIER_LENGTH_MAX)
                change = replace(change, family_id=family)
            elif qualifier == "17":
                change = replace(change, class_code=_identifier(self.source, s, 2, 10))
            self.member.change = change
        elif self.loop == "2300" and qualifier == "1L":
            line = self.member.lines[-1]
            group_id = _identifier(self.source, s, 2, 15)
            self.member.lines[-1] = replace(line, group_id=group_id)

    def _dtp(self, s: Segment) -> None:
        if self.member is None:
            return
        qualifier = s.get(1)
        if self.loop == "2000" and qualifier in ("303", "356", "357"):
            if _open_end(s):  # 357 99991231: eligibility with no end
                self.member.change = replace(self.member.change, eligibility_end=None)
                return
            dated = _dated(self.source, s)
            change = self.member.change
            if qualifier == "303":
                change = replace(change, effective=dated)
            elif qualifier == "356":
                change = replace(change, eligibility_begin=dated)
            else:
                change = replace(change, eligibility_end=dated)
            self.member.change = change
        elif self.loop == "2300" and qualifier in ("348", "349"):
            line = self.member.lines[-1]
            if _open_end(s):  # 349 99991231: the coverage has no end
                self.member.lines[-1] = replace(line, end=None)
                return
            first, last = _dated_range(self.source, s)
            if qualifier == "349":  # benefit end: a range's last day
                self.member.lines[-1] = replace(line, end=last)
            elif last is first:  # benefit begin, one date
                self.member.lines[-1] = replace(line, begin=first)
            else:  # benefit begin as a range: the coverage's first and last days
                self.member.lines[-1] = replace(line, begin=first, end=line.end or last)

    # ------------------------------------------------------------ 2100: names

    def _nm1(self, s: Segment) -> None:
        if self.member is None or self.loop in ("2310", "2320", "2700"):
            return
        entity = s.get(1)
        change = self.member.change
        if entity in ("IL", "74"):
            self.loop = "2100A"
            member_id = ""
            if s.get(8) == "ZZ":
                member_id = _identifier(self.source, s, 9, IDENTIFIER_LENGTH_MAX)
            person = replace(change.person, first_name=s.get(4), last_name=s.get(3))
            self.member.change = replace(
                change, person=person, name_at=s.where, member_id=member_id
            )
        elif entity == "70":
            self.loop = "2100B"
            self.member.change = replace(change, previous=Person(s.get(4), s.get(3), None, None))
        else:
            self.loop = "2100other"

    def _dmg(self, s: Segment) -> None:
        if self.member is None or self.loop not in ("2100A", "2100B"):
            return
        if s.get(1) != "D8":
            self.fail(s, "DMG01", "must be D8")
        born = _date(self.source, s, 2)
        if not plausible_birth_date(born, self.created):
            self.fail(
                s,
                "DMG02",
                f"must be a date of birth from {DATE_OF_BIRTH_YEAR_MIN}"
                " to the end of the year after the file's (BGN03)",
            )
        gender = s.get(3)
        if gender not in GENDER_CODES:
            self.fail(s, "DMG03", "must be F, M or U")
        change = self.member.change
        if self.loop == "2100A":
            person = replace(change.person, date_of_birth=born, gender_code=GENDER_CODES[gender])
            self.member.change = replace(change, person=person)
        elif change.previous is not None:
            previous = replace(change.previous, date_of_birth=born)
            self.member.change = replace(change, previous=previous)

    # ------------------------------------------------------------ 2300: coverage

    def _hd(self, s: Segment) -> None:
        if self.member is None:
            self.fail(s, "", "a coverage line (HD) outside a member loop (INS)")
        maintenance = _maintenance(self.source, s, 1, frozenset(Maintenance))
        insurance_line = s.get(3)
        plan_id = s.get(4)
        if insurance_line == "PDG":
            if not plan_id:
                self.fail(s, "HD04", "a PDG line must name its plan (the plan ID)")
            elif plan_id not in self.plans:
                self.fail(s, "HD04", f"unknown plan {plan_id!r} (no loaded plan has this ID)")
        level_code = s.get(5)
        level: CoverageLevel | None = None
        if level_code:
            level = (
                CoverageLevel.SELF_ONLY if level_code in SELF_ONLY_LEVELS else CoverageLevel.FAMILY
            )
        self.member.lines.append(
            CoverageLine(s.where, maintenance, insurance_line, plan_id, level, group_id="")
        )
        self.loop = "2300"

    def _dsb(self, _: Segment) -> None:
        self.loop = "2200"

    def _lx(self, _: Segment) -> None:
        self.loop = "2700" if self.loop == "2700" else "2310"

    def _cob(self, _: Segment) -> None:
        self.loop = "2320"

    def _ls(self, _: Segment) -> None:
        self.loop = "2700"

    def _le(self, _: Segment) -> None:
        self.loop = "2300-after"

    # ------------------------------------------------------------ the result

    def transactions_read(self) -> Iterator[EnrollmentTransaction]:
        for t in self.transactions:
            if t.bgn is None or t.sponsor is None:
                continue  # _se refused it
            yield EnrollmentTransaction(
                control_number=t.control_number,
                group_control_number=t.group_control_number,
                purpose=t.bgn.get(1),
                reference=t.bgn.get(2),
                action=t.bgn.get(8),
                sponsor_id=t.sponsor.get(4),
                sponsor_name=t.sponsor.get(2),
                payer_id=t.payer.get(4) if t.payer else "",
                members=tuple(t.members),
            )


def read_834(text: str, source: str, plans: Mapping[str, Plan]) -> Enrollment:
    """An 834 interchange read into an Enrollment, or InvalidRequest naming the file, the
    segment and the element of the first problem."""
    found, segments = split(text, source)
    isa = segments[0]
    if sum(1 for s in segments if s.segment_id == "ISA") > 1:
        refuse(
            source,
            Where(0, "ISA"),
            "",
            "a file holds one interchange: a second ISA follows the first's IEA (send each"
            " interchange as a file of its own)",
        )
    if isa.get(12) != "00501":
        refuse(source, isa.where, "ISA12", "must be 00501 (version 5010)")
    if not isa.get(6).strip():
        refuse(
            source,
            isa.where,
            "ISA06",
            "is blank: the interchange sender's ID is required (with ISA13 it names the file)",
        )
    several = sum(1 for s in segments if s.segment_id == "ST") > 1
    if not several:
        segments = [replace(s, where=replace(s.where, transaction="")) for s in segments]
    reader = _Reader(source, plans)
    reader.read(segments)
    if reader.transaction is not None:
        refuse(source, Where(0, "SE"), "", "the last transaction set has no SE")
    transactions = tuple(reader.transactions_read())
    if not transactions:
        refuse(source, isa.where, "", "the interchange holds no 834 transaction set (ST*834)")
    return Enrollment(
        source=source, interchange=identity(isa, segments, found), transactions=transactions
    )


def identity(isa: Segment, segments: list[Segment], found: Delimiters) -> InterchangeIdentity:
    """The interchange's sender, ISA13 and content digests (the forms a stored file has)."""
    return InterchangeIdentity(
        sender_id=isa.get(6),
        interchange_control_number=isa.get(13),
        content_sha256=content_sha256(isa.get(6), segments, found),
        earlier_content_sha256=(
            content_sha256(isa.get(6), segments, found, as_written=True)
            if _usual_delimiters(found)
            else ""
        ),
        legacy_content_sha256s=legacy_digests(isa.get(6), segments, found),
    )
