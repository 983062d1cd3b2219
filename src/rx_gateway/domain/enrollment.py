"""Enrollment (X12 834): what a file says, and what applying it changes. Pure and deterministic.

An 834 names people on a card (REF*0F, the cardholder ID 302-C2) and, for each, coverage lines
(HD) with their dates (DTP*348 begin, DTP*349 end). ``x12/enrollment_834.py`` reads a file into
an ``Enrollment``: every part keeps the segment it came from (``Where``), so that a problem names
the segment and the element. ``plan_enrollment`` takes the file and what is stored for the
families it names (``Enrolled``) and returns the writes that apply it (``EnrollmentPlan``), or
raises ``InvalidRequest`` naming the segment and element of the first problem; it runs before
anything is written, so a bad file changes nothing.

How a file names things (the gateway's reading of 005010X220A1):

- the member: NM1*IL NM109 when NM108 is ZZ (the member ID agreed with the processor); else
  the card's subscriber (INS01 Y), or the card's dependent with the same first name and date of
  birth (2100B NM1*70 and its DMG, the member's previous name and demographics, when sent);
- the family: the card's, for a card already enrolled; else REF*3H (the case number) on the
  subscriber; else one derived from the card;
- the plan: HD04 (plan coverage description) is the plan ID of a loaded plan document. A PDG
  (prescription drug) line must name one; an HLT line is applied when it names one and is
  skipped otherwise (a medical plan this gateway does not process); other lines are skipped;
- the group (301-C1): REF*1L in the 2300 loop, else REF*1L in the 2000 loop, else (a
  dependent) the group of the same plan on the card;
- the person code (303-C3): kept for a member already enrolled; else 001 for the subscriber,
  002 for a spouse (INS02 01), the next free code from 003 for everyone else;
- 306-C6 from INS02: 18 self → 1, 01 spouse → 2, a child (19, 09, 10, 17) → 3, others → 4;
- the class (purse stacks by class): REF*17 in the 2000 loop, else INS08 (PT part-time, RT
  retired → RET, any other status → FT), else the subscriber's.

Maintenance (INS03 for the member, HD01 for a coverage line): 021 adds (a line re-sent for a
span already stored updates it), 001 and 026 change (re-date the span, or add one with a
begin date), 024 terminates as of DTP*349 (or the member's DTP*357 / 303), 025 reinstates the
latest ended span, 030 (audit) compares only. HD01 002 (delete) and 032 are refused: history is
never erased, a span is ended instead. A line with an end date that is not a termination ends
as planned ("expired", 68); a termination ends it "terminated" (69).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NoReturn

from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.member import Coverage, CoverageEndReason
from rx_gateway.domain.reference import EMPLOYER_SPONSOR, CoverageLevel, Plan

PHARMACY_LINES = frozenset({"PDG", "HLT"})  # HD03 lines that may carry a pharmacy benefit
SELF_ONLY_LEVELS = frozenset({"EMP", "IND"})  # HD05: the member alone
CHILD_RELATIONSHIPS = frozenset({"19", "09", "10", "17"})
CARDHOLDER_ID_LENGTH_MAX = 20  # 302-C2
IDENTIFIER_LENGTH_MAX = 64  # a member, family or plan ID (as the admin interface)
SUBSCRIBER_PERSON_CODE = "001"
SPOUSE_PERSON_CODE = "002"
FIRST_DEPENDENT_PERSON_CODE = 3
PERSON_CODE_MAX = 999


class Maintenance(StrEnum):
    """INS03 / HD01 (X12 element 875)."""

    CHANGE = "001"
    DELETE = "002"  # HD01 only: refused
    ADDITION = "021"
    TERMINATION = "024"
    REINSTATEMENT = "025"
    CORRECTION = "026"  # HD01 only: as a change
    AUDIT = "030"
    NOT_APPLICABLE = "032"  # HD01 only: refused


@dataclass(frozen=True, slots=True)
class Where:
    """A segment of the file: its position in its transaction set (ST is 1, as a 999's IK3
    counts), its ID, and the transaction set's control number when the file has several."""

    segment: int
    segment_id: str
    transaction: str = ""

    def problem(self, element: str, message: str) -> str:
        place = f"transaction set {self.transaction}, " if self.transaction else ""
        place += f"segment {self.segment} ({self.segment_id})" if self.segment else self.segment_id
        return f"{place}: {element + ' ' if element else ''}{message}"


def refuse(source: str, where: Where, element: str, message: str) -> NoReturn:
    """A file that cannot be applied: one line naming the file, segment and element."""
    raise InvalidRequest(source, where.problem(element, message))


@dataclass(frozen=True, slots=True)
class Dated:
    """A DTP: its date and where it is (a problem with the date names its DTP03)."""

    date: dt.date
    where: Where


@dataclass(frozen=True, slots=True)
class CoverageLine:
    """One 2300 loop: a coverage line (HD) and its dates, group and level."""

    where: Where  # the HD
    maintenance: Maintenance  # HD01
    insurance_line: str  # HD03
    plan_id: str  # HD04
    level: CoverageLevel | None  # HD05, None when not sent
    group_id: str  # REF*1L of the 2300 loop ("" when not sent)
    begin: Dated | None = None  # DTP*348
    end: Dated | None = None  # DTP*349


@dataclass(frozen=True, slots=True)
class Person:
    """A name and demographics as a file sends them (PHI: never logged)."""

    first_name: str
    last_name: str
    date_of_birth: dt.date | None
    gender_code: int | None  # DMG03: M 1, F 2, U 0

    def contradicts(
        self,
        first_name: str,
        last_name: str,
        date_of_birth: dt.date | None,
        gender_code: int | None,
    ) -> bool:
        """Whether another account of the person says otherwise: another name (letter case
        aside), or another date of birth or gender where both say one (a loop without DMG
        says none)."""
        return (
            self.first_name.casefold() != first_name.casefold()
            or self.last_name.casefold() != last_name.casefold()
            or (
                None not in (self.date_of_birth, date_of_birth)
                and self.date_of_birth != date_of_birth
            )
            or (None not in (self.gender_code, gender_code) and self.gender_code != gender_code)
        )

    def matches(self, first_name: str, date_of_birth: dt.date) -> bool:
        return (
            self.date_of_birth == date_of_birth
            and self.first_name.casefold() == first_name.casefold()
        )


@dataclass(frozen=True, slots=True)
class MemberChange:
    """One 2000 loop: a person on a card, what happens to them, and their coverage lines."""

    where: Where  # the INS
    subscriber: bool  # INS01
    relationship: str  # INS02
    maintenance: Maintenance  # INS03
    cardholder_id: str  # REF*0F (PHI)
    person: Person  # 2100A NM1*IL and DMG
    name_at: Where | None = None  # the NM1*IL
    member_id: str = ""  # NM109 when NM108 is ZZ
    family_id: str = ""  # REF*3H
    group_id: str = ""  # REF*1L of the 2000 loop
    class_code: str = ""  # REF*17, else INS08 (see the module's docstring)
    previous: Person | None = None  # 2100B: the name and demographics being corrected
    effective: Dated | None = None  # DTP*303 maintenance effective
    eligibility_begin: Dated | None = None  # DTP*356
    eligibility_end: Dated | None = None  # DTP*357
    coverages: tuple[CoverageLine, ...] = ()

    @property
    def patient_relationship_code(self) -> int:
        """306-C6 from INS02."""
        if self.relationship == "18":
            return 1
        if self.relationship == "01":
            return 2
        return 3 if self.relationship in CHILD_RELATIONSHIPS else 4


@dataclass(frozen=True, slots=True)
class EnrollmentTransaction:
    """One ST..SE transaction set: its control numbers, its sponsor, its members in order."""

    control_number: str  # ST02
    group_control_number: str  # GS06
    purpose: str  # BGN01: 00 original, 15 re-submission, 22 information copy
    reference: str  # BGN02
    action: str  # BGN08: 2 changes, 4 verify, RX replace
    sponsor_id: str  # N1*P5 N104: the employer (or program) that sponsors the coverage
    sponsor_name: str
    payer_id: str  # N1*IN N104
    members: tuple[MemberChange, ...]

    @property
    def compare_only(self) -> bool:
        """An information copy (BGN01 22) or a verify file (BGN08 4) changes nothing."""
        return self.purpose == "22" or self.action == "4"


@dataclass(frozen=True, slots=True)
class Enrollment:
    """A whole 834 file, read and checked on its own (not yet against what is stored)."""

    source: str  # the file's name, for messages
    interchange: InterchangeIdentity  # its sender, ISA13 and content digests
    transactions: tuple[EnrollmentTransaction, ...]


# ---------------------------------------------------------------- what is stored


@dataclass(frozen=True, slots=True)
class EnrolledMember:
    """A member as stored (and as a plan writes it back)."""

    member_id: str
    cardholder_id: str  # PHI
    person_code: str
    family_id: str
    employer_id: str
    class_code: str
    first_name: str  # PHI
    last_name: str  # PHI
    date_of_birth: dt.date  # PHI
    gender_code: int
    patient_relationship_code: int | None = None


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What is stored for the families a file names: their members, their coverage spans by
    member, and each family's employer."""

    members: tuple[EnrolledMember, ...] = ()
    coverages: Mapping[str, tuple[Coverage, ...]] = field(default_factory=dict)
    family_employers: Mapping[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- what applying it writes


@dataclass(frozen=True, slots=True)
class SpanWrite:
    """A coverage span to insert (``before`` None) or to re-date (``before`` as stored)."""

    family_id: str
    member_id: str
    before: Coverage | None
    after: Coverage


@dataclass(frozen=True, slots=True)
class EnrollmentCounts:
    members_added: int = 0
    members_changed: int = 0
    members_terminated: int = 0
    members_reinstated: int = 0
    members_compared: int = 0
    spans_added: int = 0
    spans_changed: int = 0
    lines_skipped: int = 0  # coverage lines of no pharmacy plan here (DEN, VIS, medical HLT)
    differences: int = 0  # compare-only members or lines that do not match what is stored
    # dependents on a card whose subscriber's coverage of a plan this file ended, still
    # covered by it after that day: the file did not end theirs (nothing is inferred; said)
    dependents_still_covered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class EnrollmentPlan:
    """The writes that apply a file: families to create or re-sponsor, members to insert or
    update (as they will be), coverage spans to insert or re-date, and the families touched
    (whose version is bumped so that a claim read before the change is adjudicated again)."""

    families: tuple[tuple[str, str], ...]  # (family_id, employer_id)
    members: tuple[EnrolledMember, ...]
    new_member_ids: frozenset[str]
    spans: tuple[SpanWrite, ...]
    touched_families: tuple[str, ...]
    counts: EnrollmentCounts


@dataclass(frozen=True, slots=True)
class InterchangeIdentity:
    """What tells a received interchange from another: its sender (ISA06) and ISA13, and its
    content's digest in each form a stored file may carry (as `Enrollment` has them)."""

    sender_id: str
    interchange_control_number: str
    content_sha256: str
    earlier_content_sha256: str = ""
    legacy_content_sha256s: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PendingAcknowledgment:
    """A file's 999, examined but not yet written: ``write(control_number, reused)`` writes
    it under the gateway's next interchange control number; ``reused``: the sender's ISA13
    already names another file (a rejecting TA1, 025, answers it alone)."""

    interchange: InterchangeIdentity
    write: Callable[[int, bool], Acknowledgment]


@dataclass(frozen=True, slots=True)
class Acknowledgment:
    """A received file's 999 implementation acknowledgment (X12 text), and whether it accepts
    the whole file (every functional group and the interchange envelope)."""

    text: str
    accepted: bool


@dataclass(frozen=True, slots=True)
class EnrollmentOutcome:
    """What applying a file did (``applied`` False: the same file was applied before, and
    nothing changed this time)."""

    file_id: int
    applied: bool
    applied_at: dt.datetime
    source: str
    interchange_control_number: str
    counts: EnrollmentCounts
    claims_for_review: int

    def summary(self) -> str:
        c = self.counts
        return (
            f"members: {c.members_added} added, {c.members_changed} changed,"
            f" {c.members_terminated} terminated, {c.members_reinstated} reinstated"
            + (f", {c.members_compared} compared" if c.members_compared else "")
            + f"; coverage spans: {c.spans_added} added, {c.spans_changed} re-dated"
            + (f"; {c.lines_skipped} non-pharmacy lines skipped" if c.lines_skipped else "")
            + (f"; {c.differences} differences (compare only)" if c.differences else "")
            + (
                f"; {c.dependents_still_covered} dependent(s) still covered after their"
                " subscriber's termination (send their 024 if they are not)"
                if c.dependents_still_covered
                else ""
            )
            + f"; claims for review: {self.claims_for_review}"
        )


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """A claim paid under coverage that a later 834 re-dated so that it no longer covers the
    date of service: listed for review (recovery, or a corrected file), never changed."""

    file_id: int
    file_name: str
    flagged_at: dt.datetime
    internal_control_number: str
    member_id: str
    plan_id: str
    date_of_service: dt.date
    plan_paid_cents: int
    coverage_start: dt.date
    coverage_end_before: dt.date | None
    coverage_end_after: dt.date | None


# ---------------------------------------------------------------- planning


def derived_member_id(cardholder_id: str, person_code: str) -> str:
    """A member ID for a file that sends none: stable for (card, person code), and no PHI
    (the cardholder ID is not readable from it)."""
    digest = hashlib.sha256(f"{cardholder_id}|{person_code}".encode()).hexdigest()
    return f"M834-{digest[:12].upper()}"


def derived_family_id(cardholder_id: str) -> str:
    digest = hashlib.sha256(f"family|{cardholder_id}".encode()).hexdigest()
    return f"F834-{digest[:12].upper()}"


class _Span:
    """A coverage span being planned: as stored (None when new) and as it will be."""

    __slots__ = ("before", "now", "where")

    def __init__(self, before: Coverage | None, now: Coverage, where: Where | None) -> None:
        self.before = before
        self.now = now
        self.where = where


class _Planner:
    """The stored state, changed member by member in file order (a later loop sees what an
    earlier one did), then read back as writes."""

    def __init__(self, enrollment: Enrollment, enrolled: Enrolled, plans: Mapping[str, Plan]):
        self.source = enrollment.source
        self.plans = plans
        self.members: dict[str, EnrolledMember] = {m.member_id: m for m in enrolled.members}
        self.stored_members = dict(self.members)
        self.cards: dict[str, list[str]] = {}
        for m in enrolled.members:
            self.cards.setdefault(m.cardholder_id, []).append(m.member_id)
        self.spans: dict[str, list[_Span]] = {
            member_id: [_Span(c, c, None) for c in spans]
            for member_id, spans in enrolled.coverages.items()
        }
        self.families: dict[str, str] = dict(enrolled.family_employers)
        self.stored_families = dict(enrolled.family_employers)
        self.pending_levels: set[tuple[str, int]] = set()  # (member, span index) sent no HD05
        self.touched: set[str] = set()
        # member → the first loop of this file that named them (its INS, and who it said)
        self.loops: dict[str, MemberChange] = {}
        self.counts: dict[str, int] = dict.fromkeys(EnrollmentCounts.__dataclass_fields__, 0)
        self.sponsor_id = ""  # the transaction set's sponsor (N1*P5)
        # (subscriber, plans, day): subscribers' coverage this file ended
        self.subscribers_ended: list[tuple[EnrolledMember, set[str], dt.date]] = []

    def fail(self, where: Where, element: str, message: str) -> NoReturn:
        refuse(self.source, where, element, message)

    # ------------------------------------------------------------ members

    def card_member(self, change: MemberChange) -> EnrolledMember | None:
        """The enrolled member a loop names (see the module's docstring), or None."""
        if change.member_id:
            found = self.members.get(change.member_id)
            if found is not None and found.cardholder_id != change.cardholder_id:
                self.fail(
                    change.name_at or change.where,
                    "NM109",
                    "the member is enrolled on another card (REF*0F): moving a member to"
                    " another card is not applied from an 834",
                )
            return found
        on_card = [self.members[i] for i in self.cards.get(change.cardholder_id, ())]
        if change.subscriber:
            for m in on_card:
                if m.patient_relationship_code == 1:
                    return m
            return next((m for m in on_card if m.person_code == SUBSCRIBER_PERSON_CODE), None)
        for who in (change.previous, change.person):
            if who is None:
                continue
            for m in on_card:
                if who.matches(m.first_name, m.date_of_birth):
                    return m
        return None

    def person_code(self, change: MemberChange) -> str:
        used = {self.members[i].person_code for i in self.cards.get(change.cardholder_id, ())}
        if change.subscriber and SUBSCRIBER_PERSON_CODE not in used:
            return SUBSCRIBER_PERSON_CODE
        if change.relationship == "01" and SPOUSE_PERSON_CODE not in used:
            return SPOUSE_PERSON_CODE
        free = (
            f"{n:03d}"
            for n in range(FIRST_DEPENDENT_PERSON_CODE, PERSON_CODE_MAX + 1)
            if f"{n:03d}" not in used
        )
        code = next(free, None)
        if code is None:
            self.fail(change.where, "INS02", f"the card has {PERSON_CODE_MAX} people already")
        return code

    def family_of_card(self, change: MemberChange) -> str | None:
        on_card = self.cards.get(change.cardholder_id, ())
        return self.members[on_card[0]].family_id if on_card else None

    def add_member(self, change: MemberChange, sponsor_id: str) -> EnrolledMember:
        person = change.person
        if person.date_of_birth is None or person.gender_code is None:
            self.fail(
                change.name_at or change.where,
                "",
                "a member added (INS03 021) needs DMG with the date of birth and gender",
            )
        family_id = self.family_of_card(change)
        if family_id is None:
            if not change.subscriber:
                self.fail(
                    change.where,
                    "INS01",
                    "a dependent without a subscriber: no subscriber (INS01 Y) with this"
                    " REF*0F is enrolled or comes before it in the file",
                )
            family_id = change.family_id or derived_family_id(change.cardholder_id)
        elif change.family_id and change.family_id != family_id:
            self.fail(
                change.where,
                "REF02",
                "REF*3H names another family than the card's (identifiers are not quoted)",
            )
        subscriber = self.card_member(replace(change, subscriber=True, member_id=""))
        if change.subscriber and subscriber is not None:
            self.fail(
                change.name_at or change.where,
                "NM109",
                "the card's subscriber is another member than NM109 names (a card has one"
                " subscriber; identifiers are not quoted)",
            )
        person_code = self.person_code(change)
        member_id = change.member_id or derived_member_id(change.cardholder_id, person_code)
        if member_id in self.members:
            self.fail(
                change.name_at or change.where,
                "NM109",
                "the member is already enrolled on another card (identifiers are not quoted)",
            )
        if family_id not in self.families:
            self.families[family_id] = sponsor_id
        member = EnrolledMember(
            member_id=member_id,
            cardholder_id=change.cardholder_id,
            person_code=person_code,
            family_id=family_id,
            employer_id=sponsor_id,
            class_code=change.class_code
            or (subscriber.class_code if subscriber is not None else "")
            or "FT",
            first_name=person.first_name,
            last_name=person.last_name,
            date_of_birth=person.date_of_birth,
            gender_code=person.gender_code,
            patient_relationship_code=change.patient_relationship_code,
        )
        self.members[member_id] = member
        self.cards.setdefault(change.cardholder_id, []).append(member_id)
        return member

    def update_member(self, member: EnrolledMember, change: MemberChange) -> EnrolledMember:
        """The name, demographics, class and relationship a change sends, over what is stored."""
        person = change.person
        updated = replace(
            member,
            first_name=person.first_name or member.first_name,
            last_name=person.last_name or member.last_name,
            date_of_birth=person.date_of_birth or member.date_of_birth,
            gender_code=member.gender_code if person.gender_code is None else person.gender_code,
            class_code=change.class_code or member.class_code,
            patient_relationship_code=change.patient_relationship_code,
        )
        self.members[member.member_id] = updated
        return updated

    def sponsor(self, member: EnrolledMember, plan: Plan) -> None:
        """A plan billed to the employer bills this file's sponsor from now on: the family
        (and the member) take the sponsor. Plans billed to a sponsor of their own (Part D,
        Medicaid) leave the family's employer as it was."""
        sponsor_id = self.sponsor_id
        if plan.sponsor_id != EMPLOYER_SPONSOR:
            return
        current = self.members[member.member_id]
        if self.families.get(current.family_id) != sponsor_id:
            self.families[current.family_id] = sponsor_id
        if current.employer_id != sponsor_id:
            self.members[current.member_id] = replace(current, employer_id=sponsor_id)

    # ------------------------------------------------------------ coverage

    def plan_of(self, line: CoverageLine) -> Plan | None:
        """The loaded plan a line names, None for a line that is not this gateway's."""
        plan = self.plans.get(line.plan_id)
        if line.insurance_line == "PDG":
            if not line.plan_id:
                self.fail(line.where, "HD04", "a PDG line must name its plan (the plan ID)")
            if plan is None:
                self.fail(line.where, "HD04", f"unknown plan {line.plan_id!r}")
        if line.insurance_line not in PHARMACY_LINES or plan is None:
            self.counts["lines_skipped"] += 1
            return None
        return plan

    def card_group(self, member: EnrolledMember, plan_id: str) -> str:
        """A dependent's line that sends no REF*1L: the group of the plan on the card (the
        subscriber's first), "" when no one on the card has it."""
        on_card = sorted(
            (self.members[i] for i in self.cards.get(member.cardholder_id, ())),
            key=lambda m: m.person_code,
        )
        for other in on_card:
            spans = self.spans_of(other.member_id, plan_id)
            if spans:
                return spans[-1].now.group_id
        return ""

    def spans_of(self, member_id: str, plan_id: str) -> list[_Span]:
        return sorted(
            (s for s in self.spans.get(member_id, ()) if s.now.plan_id == plan_id),
            key=lambda s: s.now.start,
        )

    def add_or_change(
        self, member: EnrolledMember, change: MemberChange, line: CoverageLine, plan: Plan
    ) -> None:
        """021, 001, 026: the span of the line's plan that its begin date falls in is updated
        (a change re-dates its start to a coverage or eligibility begin date, 2300 DTP*348 or
        2000 DTP*356; an add keeps it); with none, a span is added. DTP*303, when the change
        takes effect, finds the span but never re-dates it (an address change sent with 303
        moved the coverage's start to that day)."""
        dated = line.begin or change.eligibility_begin  # a coverage or eligibility begin
        begin = dated or change.effective
        group_id = line.group_id or change.group_id or self.card_group(member, plan.plan_id)
        if not group_id:
            self.fail(
                line.where, "HD04", "REF*1L (the group, 301-C1) is required in loop 2300 or 2000"
            )
        if line.end is not None and begin is not None and line.end.date < begin.date:
            self.fail(line.end.where, "DTP03", f"the benefit end is before its begin {begin.date}")
        spans = self.spans_of(member.member_id, plan.plan_id)
        found: _Span | None = None
        if begin is not None:
            found = next(
                (s for s in spans if s.now.start == begin.date or s.now.covers(begin.date)), None
            )
        if found is None and dated is None and line.maintenance is not Maintenance.ADDITION:
            # a change that sends no begin date (or only when it takes effect, outside every
            # span) changes the latest span: it does not open coverage on that day
            found = spans[-1] if spans else None
        end = line.end.date if line.end else None
        reason = CoverageEndReason.EXPIRED if end is not None else None
        if found is not None:
            start = found.now.start
            if dated is not None and line.maintenance is not Maintenance.ADDITION:
                start = dated.date
            if line.end is None:  # no end sent: the span's end stays as it is
                end, reason = found.now.end, found.now.end_reason
            if end is not None and end < start:
                self.fail(
                    line.end.where if line.end else line.where,
                    "DTP03",
                    f"the coverage would end ({end}) before it begins ({start})",
                )
            found.now = replace(
                found.now,
                group_id=group_id,
                start=start,
                end=end,
                end_reason=reason,
                level=line.level or found.now.level,
            )
            found.where = line.where
        elif begin is None:
            self.fail(
                line.where,
                "HD01",
                f"{line.maintenance.value} needs a begin date: DTP*348 in loop 2300 (or DTP*356"
                " or DTP*303 on the member)",
            )
        else:
            span = Coverage(
                plan_id=plan.plan_id,
                group_id=group_id,
                start=begin.date,
                end=end,
                end_reason=reason,
                line_of_business=plan.line_of_business,
                level=line.level or CoverageLevel.FAMILY,
            )
            spans_of_member = self.spans.setdefault(member.member_id, [])
            spans_of_member.append(_Span(None, span, line.where))
            if line.level is None:
                self.pending_levels.add((member.member_id, len(spans_of_member) - 1))
        self.sponsor(member, plan)

    def terminate(
        self, member: EnrolledMember, change: MemberChange, line: CoverageLine | None
    ) -> None:
        """End the member's spans (of the line's plan, or all of them) as of the termination
        date: the line's DTP*349, else the member's DTP*357 or DTP*303."""
        at = (line.end if line else None) or change.eligibility_end or change.effective
        if at is None:
            self.fail(
                line.where if line else change.where,
                "HD01" if line else "INS03",
                "024 needs a termination date: DTP*349 in loop 2300 (or DTP*357 or DTP*303 on"
                " the member)",
            )
        if line is not None:
            spans = self.spans_of(member.member_id, line.plan_id)
            if not spans:
                self.fail(
                    line.where, "HD04", f"the member has no coverage of plan {line.plan_id} to end"
                )
            candidates = [s for s in spans if s.now.start <= at.date]
            if not candidates:
                self.fail(
                    at.where,
                    "DTP03",
                    f"the termination ({at.date}) is before the coverage begins"
                    f" ({spans[0].now.start})",
                )
            last = candidates[-1]
            # a termination never extends: a span already ended by then stays as it is
            targets = [last] if last.now.end is None or last.now.end > at.date else []
        else:
            targets = [
                s
                for s in self.spans.get(member.member_id, ())
                if s.now.end is None or s.now.end > at.date
            ]
            for s in targets:
                if s.now.start > at.date:
                    self.fail(
                        at.where,
                        "DTP03",
                        f"the termination ({at.date}) is before the coverage"
                        f" of plan {s.now.plan_id} begins ({s.now.start})",
                    )
        for s in targets:
            s.now = replace(s.now, end=at.date, end_reason=CoverageEndReason.TERMINATED)
            s.where = at.where
        if change.subscriber and targets:
            self.subscribers_ended.append((member, {s.now.plan_id for s in targets}, at.date))

    def dependents_still_covered(self) -> int:
        """Dependents on the card of a subscriber whose coverage this file ended (and did not
        reopen) who are still covered by that plan after the day, their span as the file
        left it untouched (a dependent the file changed itself, its own 024 on another day
        say, was sent)."""
        found: set[str] = set()
        for subscriber, plan_ids, day in self.subscribers_ended:
            ended = {
                s.now.plan_id
                for s in self.spans.get(subscriber.member_id, ())
                if s.now.plan_id in plan_ids and s.now.end == day
            }
            for member_id in self.cards.get(subscriber.cardholder_id, ()):
                other = self.members[member_id]
                if (
                    member_id == subscriber.member_id
                    or other.person_code == "001"
                    or (other.patient_relationship_code == 1)
                ):
                    continue
                if any(
                    s.now.plan_id in ended
                    and s.before == s.now  # not changed by this file
                    and s.now.start <= day
                    and (s.now.end is None or s.now.end > day)
                    for s in self.spans.get(member_id, ())
                ):
                    found.add(member_id)
        return len(found)

    def reinstate(
        self, member: EnrolledMember, change: MemberChange, line: CoverageLine | None
    ) -> None:
        """Reopen the latest ended span (of the line's plan, or every span ended on the
        member's latest end date): open-ended, or to the line's DTP*349."""
        if line is not None:
            ended = [s for s in self.spans_of(member.member_id, line.plan_id) if s.now.end]
            targets = ended[-1:]
        else:
            ended = [s for s in self.spans.get(member.member_id, ()) if s.now.end]
            last = max((s.now.end for s in ended if s.now.end), default=None)
            targets = [s for s in ended if s.now.end == last]
        if not targets:
            plan = f"of plan {line.plan_id} " if line else ""
            self.fail(
                line.where if line else change.where,
                "HD04" if line else "INS03",
                f"the member has no ended coverage {plan}to reinstate",
            )
        end = line.end if line else None
        for s in targets:
            if end is not None and end.date < s.now.start:
                self.fail(end.where, "DTP03", f"the benefit end is before its begin {s.now.start}")
            s.now = replace(
                s.now,
                end=end.date if end else None,
                end_reason=CoverageEndReason.EXPIRED if end else None,
            )
            s.where = line.where if line else change.where

    def compare(self, member: EnrolledMember | None, change: MemberChange) -> None:
        """An audit (030) or a compare-only file: count what does not match (the member's
        name, date of birth and gender as sent, and each pharmacy coverage line), change
        nothing."""
        self.counts["members_compared"] += 1
        if member is None:
            self.counts["differences"] += 1
            return
        if change.person.contradicts(
            member.first_name, member.last_name, member.date_of_birth, member.gender_code
        ):
            self.counts["differences"] += 1
        for line in change.coverages:
            plan = self.plans.get(line.plan_id)
            if line.insurance_line not in PHARMACY_LINES or plan is None:
                continue
            begin = line.begin.date if line.begin else None
            end = line.end.date if line.end else None
            if not any(
                (begin is None or s.now.start == begin) and s.now.end == end
                for s in self.spans_of(member.member_id, plan.plan_id)
            ):
                self.counts["differences"] += 1

    # ------------------------------------------------------------ one loop

    def apply(self, change: MemberChange, transaction: EnrollmentTransaction) -> None:
        self.sponsor_id = transaction.sponsor_id
        member = self.card_member(change)
        maintenance = change.maintenance
        if transaction.compare_only or maintenance is Maintenance.AUDIT:
            self.compare(member, change)
            return
        if member is None and maintenance is not Maintenance.ADDITION:
            self.fail(
                change.where,
                "INS03",
                f"{maintenance.value} for a member who is not enrolled (no member on this REF*0F"
                " matches NM1 and DMG)",
            )
        if member is not None:
            self.same_person(member.member_id, change)
        if member is None:
            member = self.add_member(change, transaction.sponsor_id)
            self.loops[member.member_id] = change
            self.counts["members_added"] += 1
        else:
            member = self.update_member(member, change)
            key = {
                Maintenance.TERMINATION: "members_terminated",
                Maintenance.REINSTATEMENT: "members_reinstated",
            }.get(maintenance, "members_changed")
            self.counts[key] += 1
        self.touched.add(member.family_id)
        lines = change.coverages
        for line in lines:
            self.check_line(change, line)
        applied = [(line, plan) for line in lines if (plan := self.plan_of(line)) is not None]
        if maintenance is Maintenance.TERMINATION and not lines:
            self.terminate(member, change, None)
        if maintenance is Maintenance.REINSTATEMENT and not lines:
            self.reinstate(member, change, None)
        for line, plan in applied:
            current = self.members[member.member_id]
            if line.maintenance is Maintenance.TERMINATION:
                self.terminate(current, change, line)
            elif line.maintenance is Maintenance.REINSTATEMENT:
                self.reinstate(current, change, line)
            elif line.maintenance is Maintenance.AUDIT:
                continue
            else:
                self.add_or_change(current, change, line, plan)

    def same_person(self, member_id: str, change: MemberChange) -> None:
        """A member may have several loops in one file (a termination, then a reinstatement,
        in order), but they all say the same person: a later loop with another name, date of
        birth or gender (not a correction, which names the person it corrects in 2100B)
        contradicts the first, and was applied over it, the last one winning whatever the
        sender meant (an outside tester's file: born 1990-01-01 M, then 1991-01-01 F)."""
        first = self.loops.get(member_id)
        if first is None or change.previous is not None:  # the first, or a correction
            self.loops[member_id] = change
            return
        said, says = first.person, change.person
        # a loop without DMG keeps what is known (update_member): only what is sent counts
        if not said.contradicts(
            says.first_name, says.last_name, says.date_of_birth, says.gender_code
        ):
            if (said.date_of_birth, said.gender_code).count(None) > (
                says.date_of_birth,
                says.gender_code,
            ).count(None):
                self.loops[member_id] = change  # it says more: compare the next with it
            return
        where = first.where
        at = f"segment {where.segment}" + (
            f" of transaction set {where.transaction}" if where.transaction else ""
        )
        self.fail(
            change.where,
            "INS",
            f"a second loop for the member of the loop at {at} gives another name, date of"
            " birth or gender (a correction names the old ones in NM1*70 and DMG): send one",
        )

    def check_line(self, change: MemberChange, line: CoverageLine) -> None:
        if line.maintenance in (Maintenance.DELETE, Maintenance.NOT_APPLICABLE):
            self.fail(
                line.where,
                "HD01",
                f"{line.maintenance.value} is not applied: history is never erased (end the"
                " span with 024 and DTP*349)",
            )
        if change.maintenance is Maintenance.TERMINATION and (
            line.maintenance is not Maintenance.TERMINATION
        ):
            self.fail(line.where, "HD01", "must be 024 under a member's termination (INS03 024)")

    # ------------------------------------------------------------ the writes

    def plan(self) -> EnrollmentPlan:
        sizes: dict[str, int] = {}
        for m in self.members.values():
            sizes[m.family_id] = sizes.get(m.family_id, 0) + 1
        for member_id, index in sorted(self.pending_levels):
            span = self.spans[member_id][index]
            family = self.members[member_id].family_id
            level = CoverageLevel.SELF_ONLY if sizes[family] == 1 else CoverageLevel.FAMILY
            span.now = replace(span.now, level=level)
        writes: list[SpanWrite] = []
        for member_id in sorted(self.spans):
            member = self.members[member_id]
            self.check_overlaps(member_id)
            for s in self.spans[member_id]:
                if s.before != s.now:
                    writes.append(SpanWrite(member.family_id, member_id, s.before, s.now))
                    self.counts["spans_added" if s.before is None else "spans_changed"] += 1
        self.counts["dependents_still_covered"] = self.dependents_still_covered()
        members = tuple(
            m for i, m in sorted(self.members.items()) if self.stored_members.get(i) != m
        )
        families = tuple(
            (f, e) for f, e in sorted(self.families.items()) if self.stored_families.get(f) != e
        )
        return EnrollmentPlan(
            families=families,
            members=members,
            new_member_ids=frozenset(self.members) - frozenset(self.stored_members),
            spans=tuple(writes),
            touched_families=tuple(sorted(self.touched | {f for f, _ in families})),
            counts=EnrollmentCounts(**self.counts),
        )

    def check_overlaps(self, member_id: str) -> None:
        """Two spans of one plan never overlap (the claim path takes the first in force)."""
        by_plan: dict[str, list[_Span]] = {}
        for s in self.spans[member_id]:
            by_plan.setdefault(s.now.plan_id, []).append(s)
        for spans in by_plan.values():
            spans.sort(key=lambda s: s.now.start)
            for earlier, later in itertools.pairwise(spans):
                if earlier.now.end is None or earlier.now.end >= later.now.start:
                    where = later.where or earlier.where
                    if where is None:
                        continue  # both as stored: not this file's doing
                    self.fail(
                        where,
                        "",
                        f"coverage of plan {later.now.plan_id} from {later.now.start} would overlap"
                        f" the span from {earlier.now.start}",
                    )


def plan_enrollment(
    enrollment: Enrollment, enrolled: Enrolled, plans: Mapping[str, Plan]
) -> EnrollmentPlan:
    """The writes that apply ``enrollment`` over what is stored for its families, or
    InvalidRequest naming the file, segment and element of the first problem."""
    planner = _Planner(enrollment, enrolled, plans)
    for transaction in enrollment.transactions:
        for change in transaction.members:
            planner.apply(change, transaction)
    return planner.plan()
