"""Enrollment in (X12 834, issue 17): reading a file, its structure (pyx12), its meaning, and
what applying it plans over what is stored. No database: the plan is pure."""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.files.x12_834 import read_enrollment, structure_problems
from rx_gateway.domain.enrollment import (
    Enrolled,
    EnrolledMember,
    Enrollment,
    EnrollmentPlan,
    derived_family_id,
    plan_enrollment,
)
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.member import Coverage, CoverageEndReason
from rx_gateway.domain.reference import CoverageLevel
from rx_gateway.tools.synthetic.csv_writer import write_table
from rx_gateway.tools.synthetic.plans import plan_documents
from rx_gateway.tools.synthetic.population import population
from rx_gateway.tools.synthetic.rows import CoverageRow, MemberRow
from rx_gateway.tools.synthetic.x12_834 import enrollment_834, write_834_files
from rx_gateway.x12.enrollment_834 import read_834
from tests.support_834 import PUBLIC_STYLE_834, coverage, interchange, member

PLANS = {d["plan_id"]: plan_from_document(d, d["plan_id"]) for d in plan_documents()}
COMMERCIAL, MEDICAID = "COMM-HRA-2026", "MEDICAID-2026"
D = dt.date

SUBSCRIBER = EnrolledMember(
    "E834M1", "E834C1", "001", "F834-T", "EMP2", "FT", "ALEX", "RIVERA", D(1980, 1, 1), 2, 1
)
CHILD = EnrolledMember(
    "E834M2", "E834C1", "003", "F834-T", "EMP2", "FT", "SAM", "RIVERA", D(2012, 3, 4), 1, 3
)
SPAN = Coverage(COMMERCIAL, "EMP2-FT", D(2026, 1, 1), None, None, "COMMERCIAL")
ENDED = Coverage(
    COMMERCIAL, "EMP2-FT", D(2026, 1, 1), D(2026, 6, 30), CoverageEndReason.TERMINATED, "COMMERCIAL"
)
STORED = Enrolled((SUBSCRIBER, CHILD), {"E834M1": (SPAN,), "E834M2": (SPAN,)}, {"F834-T": "EMP2"})


def _read(text: str) -> Enrollment:
    return read_enrollment(text.encode(), "t.834", PLANS)


def _plan(text: str, enrolled: Enrolled = STORED) -> EnrollmentPlan:
    return plan_enrollment(_read(text), enrolled, PLANS)


def test_a_public_style_file_reads_and_plans_two_members() -> None:
    """The implementation guide's shape: a subscriber named by SSN (never kept as an ID), a
    provider loop and a dental line (skipped), a child who inherits the group."""
    enrollment = _read(PUBLIC_STYLE_834)
    (transaction,) = enrollment.transactions
    assert (transaction.sponsor_id, transaction.sponsor_name) == ("999888777", "ACME MANUFACTURING")
    assert (
        enrollment.interchange.sender_id,
        enrollment.interchange.interchange_control_number,
    ) == (
        "ABCCOM",
        "000000001",
    )
    bob, susan = transaction.members
    assert (bob.subscriber, bob.cardholder_id, bob.member_id, bob.group_id) == (
        True,
        "E834PUB0001",
        "",
        "ACME-01",
    )
    assert bob.person.date_of_birth == D(1970, 8, 16) and bob.person.gender_code == 1
    assert [line.insurance_line for line in bob.coverages] == ["PDG", "DEN"]
    assert susan.patient_relationship_code == 3

    plan = plan_enrollment(enrollment, Enrolled(), PLANS)
    assert plan.counts.members_added == 2 and plan.counts.lines_skipped == 1
    by_code = {m.person_code: m for m in plan.members}
    assert set(by_code) == {"001", "003"}
    assert {m.family_id for m in plan.members} == {derived_family_id("E834PUB0001")}
    assert "123456789" not in {m.member_id for m in plan.members}  # the SSN
    assert [(s.after.plan_id, s.after.group_id, s.after.start) for s in plan.spans] == [
        (COMMERCIAL, "ACME-01", D(2026, 2, 1)),
        (COMMERCIAL, "ACME-01", D(2026, 2, 1)),
    ]
    assert plan.families == ((derived_family_id("E834PUB0001"), "999888777"),)


def _span_of(plan: EnrollmentPlan, member_id: str) -> Coverage:
    (write,) = [s for s in plan.spans if s.member_id == member_id]
    return write.after


@pytest.mark.parametrize(
    ("body", "counts", "member_id", "span"),
    [
        pytest.param(
            member("E834C9", member_id="E834M9", group="EMP2-FT",
                   lines=coverage(COMMERCIAL, begin="20260301")),
            {"members_added": 1, "spans_added": 1},
            "E834M9",
            Coverage(COMMERCIAL, "EMP2-FT", D(2026, 3, 1), None, None, "COMMERCIAL",
                     CoverageLevel.SELF_ONLY),
            id="021 addition (self-only: alone in the family)",
        ),
        pytest.param(
            member("E834C1", maintenance="001", born="19800102",
                   lines=coverage(COMMERCIAL, maintenance="001", begin="20260201")),
            {"members_changed": 1, "spans_changed": 1},
            "E834M1",
            Coverage(COMMERCIAL, "EMP2-FT", D(2026, 2, 1), None, None, "COMMERCIAL"),
            id="001 change re-dates the start",
        ),
        pytest.param(
            member("E834C1", maintenance="024",
                   lines=coverage(COMMERCIAL, maintenance="024", end="20261031")),
            # the child on the card is left as it was, and said
            {"members_terminated": 1, "spans_changed": 1, "dependents_still_covered": 1},
            "E834M1",
            Coverage(COMMERCIAL, "EMP2-FT", D(2026, 1, 1), D(2026, 10, 31),
                     CoverageEndReason.TERMINATED, "COMMERCIAL"),
            id="024 termination",
        ),
        pytest.param(
            member("E834C1", maintenance="024", dates=["DTP*357*D8*20260930"]),
            {"members_terminated": 1, "spans_changed": 1, "dependents_still_covered": 1},
            "E834M1",
            Coverage(COMMERCIAL, "EMP2-FT", D(2026, 1, 1), D(2026, 9, 30),
                     CoverageEndReason.TERMINATED, "COMMERCIAL"),
            id="024 member-level termination (DTP*357, no HD)",
        ),
        pytest.param(
            member("E834C1", maintenance="001",
                   lines=coverage(COMMERCIAL, begin="20260101", end="20261231")),
            {"members_changed": 1, "spans_changed": 1},
            "E834M1",
            Coverage(COMMERCIAL, "EMP2-FT", D(2026, 1, 1), D(2026, 12, 31),
                     CoverageEndReason.EXPIRED, "COMMERCIAL"),
            id="an end that is not a termination expires (68)",
        ),
    ],
)  # fmt: skip
def test_each_maintenance_type_plans_its_writes(
    body: list[str], counts: dict[str, int], member_id: str, span: Coverage
) -> None:
    plan = _plan(interchange(body))
    assert {k: v for k, v in plan.counts.as_dict().items() if v} == counts
    assert _span_of(plan, member_id) == span


def test_a_subscribers_termination_says_which_dependents_it_left_covered() -> None:
    """Only the subscriber's 024: the child on the card is not ended (a file's members are
    what it changes; nothing is inferred), and the summary says one dependent is still
    covered after the subscriber's termination. The child's own 024 in the same file, or a
    dependent on another card of the family, is not counted."""
    subscriber_ends = member(
        "E834C1", maintenance="024", lines=coverage(COMMERCIAL, maintenance="024", end="20261031")
    )
    plan = _plan(interchange(subscriber_ends))
    assert [s.member_id for s in plan.spans] == ["E834M1"]
    assert plan.counts.dependents_still_covered == 1
    child_too = subscriber_ends + member(
        "E834C1", maintenance="024", subscriber=False, first="SAM", born="20120304", gender="M",
        lines=coverage(COMMERCIAL, maintenance="024", end="20261031"),
    )  # fmt: skip
    assert _plan(interchange(child_too)).counts.dependents_still_covered == 0
    # a dependent of the family on another card (person code and relationship a child's)
    other_card = replace(CHILD, cardholder_id="E834C2")
    stored = Enrolled((SUBSCRIBER, other_card), STORED.coverages, STORED.family_employers)
    assert _plan(interchange(subscriber_ends), stored).counts.dependents_still_covered == 0
    # the subscriber reinstated later in the file: nothing ended, nothing to say
    reinstated = subscriber_ends + member(
        "E834C1", maintenance="025", lines=coverage(COMMERCIAL, maintenance="025", begin="20260101")
    )
    assert _plan(interchange(reinstated)).counts.dependents_still_covered == 0
    # the child's own 024, a month later: sent, so not counted
    child_later = subscriber_ends + member(
        "E834C1", maintenance="024", subscriber=False, first="SAM", born="20120304", gender="M",
        lines=coverage(COMMERCIAL, maintenance="024", end="20261130"),
    )  # fmt: skip
    assert _plan(interchange(child_later)).counts.dependents_still_covered == 0


def test_reinstatement_reopens_the_ended_span() -> None:
    stored = Enrolled((SUBSCRIBER,), {"E834M1": (ENDED,)}, {"F834-T": "EMP2"})
    body = member(
        "E834C1", maintenance="025", lines=coverage(COMMERCIAL, maintenance="025", begin="20260101")
    )
    plan = _plan(interchange(body), stored)
    assert plan.counts.members_reinstated == 1
    (write,) = plan.spans
    assert (write.before, write.after) == (ENDED, SPAN)


def test_an_audit_file_compares_and_changes_nothing() -> None:
    """INS03 030 (and a BGN08 4 verify file): differences are counted, nothing is written."""
    same = member(
        "E834C1", maintenance="030", lines=coverage(COMMERCIAL, maintenance="030", begin="20260101")
    )
    other = member(
        "E834C1", maintenance="030", subscriber=False, first="SAM", born="20120304", gender="M",
        lines=coverage(COMMERCIAL, maintenance="030", begin="20260101", end="20261231"),
    )  # fmt: skip
    plan = _plan(interchange(same + other))
    assert (plan.members, plan.spans, plan.families) == ((), (), ())
    assert (plan.counts.members_compared, plan.counts.differences) == (2, 1)
    verify = _plan(interchange(member("E834C1", maintenance="001", born="19990101"), action="4"))
    assert verify.members == () and verify.counts.members_compared == 1
    assert verify.counts.differences == 1  # the subscriber's date of birth is not the stored one
    # another last name is a difference too (an audit compared coverage only: an outside
    # tester's AUDITNAME against the stored name counted 0)
    renamed = member("E834C1", maintenance="030", last="AUDITNAME")
    audit = _plan(interchange(renamed))
    assert (audit.members, audit.counts.differences) == ((), 1)


def test_a_dependent_added_to_a_stored_card_joins_its_family() -> None:
    """A spouse takes person code 002, the next child 004 (003 is taken); the group of the
    plan on the card; the card's family."""
    body = member(
        "E834C1", subscriber=False, relationship="01", first="JO", born="19820202",
        lines=coverage(COMMERCIAL, begin="20260401", level="FAM"),
    ) + member(
        "E834C1", subscriber=False, first="KIM", born="20200505",
        lines=coverage(COMMERCIAL, begin="20260401", level="FAM"),
    )  # fmt: skip
    plan = _plan(interchange(body))
    added = sorted((m.person_code, m.first_name, m.family_id) for m in plan.members)
    assert added == [("002", "JO", "F834-T"), ("004", "KIM", "F834-T")]
    assert {s.after.group_id for s in plan.spans} == {"EMP2-FT"}


def _problem(text: str, enrolled: Enrolled = STORED) -> str:
    with pytest.raises(InvalidRequest) as caught:
        plan_enrollment(read_834(text, "t.834", PLANS), enrolled, PLANS)
    return str(caught.value)


# ST 1, BGN 2, N1 3, N1 4, INS 5, REF*0F 6, then the rest of the loop
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            member("E834C9", group="G", lines=coverage("NO-SUCH-PLAN", begin="20260101")),
            r"segment 10 \(HD\): HD04 unknown plan 'NO-SUCH-PLAN'",
            id="unknown plan",
        ),
        pytest.param(
            member("E834C1", maintenance="024",
                   lines=coverage(COMMERCIAL, maintenance="024", end="20251231")),
            r"segment 10 \(DTP\): DTP03 the termination \(2025-12-31\) is before the coverage"
            r" begins \(2026-01-01\)",
            id="termination before start",
        ),
        pytest.param(
            member("E834C9", subscriber=False, lines=coverage(COMMERCIAL, begin="20260101")),
            r"segment 5 \(INS\): INS01 a dependent without a subscriber",
            id="dependent without subscriber",
        ),
        pytest.param(
            member("E834C9", maintenance="001"),
            r"segment 5 \(INS\): INS03 001 for a member who is not enrolled",
            id="change for no one",
        ),
        pytest.param(
            member("E834C9", group="G",
                   lines=coverage(COMMERCIAL, begin="20260301", end="20260201")),
            r"segment 12 \(DTP\): DTP03 the benefit end is before its begin 2026-03-01",
            id="end before begin",
        ),
        pytest.param(
            member("E834C9", lines=coverage(COMMERCIAL, begin="20260101")),
            r"segment 9 \(HD\): HD04 REF\*1L \(the group, 301-C1\) is required",
            id="no group",
        ),
        pytest.param(
            member("E834C1", lines=coverage(COMMERCIAL, maintenance="002", begin="20260101")),
            r"segment 9 \(HD\): HD01 002 is not applied: history is never erased",
            id="HD01 002 delete",
        ),
        pytest.param(
            member("E834C9", group="G", demographics=False,
                   lines=coverage(COMMERCIAL, begin="20260101")),
            r"segment 8 \(NM1\): a member added \(INS03 021\) needs DMG",
            id="an addition without DMG",
        ),
        pytest.param(
            member("E834C1", maintenance="024", lines=coverage(COMMERCIAL, begin="20260101")),
            r"segment 9 \(HD\): HD01 must be 024 under a member's termination",
            id="HD01 021 under INS03 024",
        ),
        pytest.param(
            member("E834C9", group="G", lines=["HD*021**PDG", "DTP*348*D8*20260101"]),
            r"segment 10 \(HD\): HD04 a PDG line must name its plan",
            id="PDG line naming no plan",
        ),
        pytest.param(
            member("E834C1", member_id="E834M7"),
            # identifiers are never quoted (E834M1, E834M7 are member IDs)
            r"segment 7 \(NM1\): NM109 the card's subscriber is another member than NM109 names",
            id="a second subscriber on a card",
        ),
        pytest.param(
            member("E834C2", member_id="E834M1"),
            r"segment 7 \(NM1\): NM109 the member is enrolled on another card",
            id="a member ID on another card",
        ),
        pytest.param(
            [line for line in member("E834C9") if not line.startswith("REF*0F")],
            r"segment 5 \(INS\): REF\*0F \(the subscriber identifier\) is required",
            id="no subscriber identifier",
        ),
        pytest.param(
            member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20261301")),
            r"segment 11 \(DTP\): DTP03 is not a date CCYYMMDD",
            id="a date that is not one",
        ),
        # the years the admin interface takes (it was stored as PostgreSQL's infinity, and
        # 1800 as given: found by the admin hunt)
        pytest.param(
            member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="99991231")),
            r"segment 11 \(DTP\): DTP03 must be a date in 1900-2199",
            id="a benefit begin of 9999",
        ),
        pytest.param(
            member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="18000101")),
            r"segment 11 \(DTP\): DTP03 must be a date in 1900-2199",
            id="a benefit begin of 1800",
        ),
    ],
)  # fmt: skip
def test_each_problem_of_meaning_names_its_segment_and_element(
    body: list[str], expected: str
) -> None:
    message = _problem(interchange(body))
    assert message.startswith("t.834: "), message
    assert re.search(expected, message), message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            interchange(member("E834C9", group="G", lines=coverage(COMMERCIAL, line="PDX"))),
            r"segment 10 \(HD\): HD03 \(Insurance Line Code\) \('PDX'\) is not a valid code",
            id="a code the guide does not list",
        ),
        pytest.param(
            interchange(member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20261301"))),
            # a date is not quoted, even a coverage date: a date about a person is PHI
            r"segment 11 \(DTP\): DTP03 \(Coverage Period\) is not a valid date$",
            id="an invalid date",
        ),
        pytest.param(
            interchange(member("E834C9")).replace("SE*9*0001", "SE*8*0001"),
            r"SE: SE01 SE count of 8 for SE02=0001 is wrong",
            id="a wrong SE count",
        ),
        pytest.param(
            interchange(["INS*Y*18*021*20*A***FT", "NM1*IL*1*ONLY"]),
            r"segment 6 \(REF\): Mandatory segment \"Subscriber Identifier\" \(REF\) missing",
            id="a structure the guide refuses",
        ),
        pytest.param("hello, world\n", r"ISA: not an X12 interchange", id="not X12"),
        pytest.param(
            interchange(member("E834C9")).replace("*X*005010X220A1~", "*X*005010X221A1~"),
            r"GS: GS08 must be 005010X220A1",
            id="not an 834",
        ),
        pytest.param(
            # pyx12 said the IEA was missing (a file-door hunt); the name is PHI: not shown
            interchange(member("E834C9")).replace("NM1*IL*1*", "NM1*IL*1*" + "Q" * 100_000, 1),
            r"segment \d+ \(NM1\): NM103 is 100\d{3} characters: no 834 element is longer"
            r" than 264 \(a segment terminator missing\?\)$",
            id="an element of 100,000 characters",
        ),
    ],
)
def test_a_malformed_file_is_refused_by_its_structure(text: str, expected: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _read(text)
    assert re.search(expected, str(caught.value)), str(caught.value)


@pytest.mark.parametrize(
    ("born", "refused"),
    [
        ("18791231", True),  # before the claim door's 304-C4 floor
        ("18800101", False),
        ("20271231", False),  # the end of the year after the file's BGN03 (2026-11-01)
        ("20280101", True),
        ("29990101", True),
    ],
)
def test_a_birth_date_no_claim_could_carry_is_refused(born: str, refused: bool) -> None:
    """A DMG02 a claim's 304-C4 would never match (1800, 2999) loaded, and the member's
    every claim with their real date of birth was then 09: the file is refused instead,
    naming the element, not the date (PHI)."""
    text = interchange(member("E834C9", born=born, group="G"))
    if not refused:
        assert _read(text).transactions
        return
    with pytest.raises(InvalidRequest) as caught:
        _read(text)
    message = str(caught.value)
    assert "segment 9 (DMG): DMG02 must be a date of birth from 1880" in message, message
    assert born not in message


def test_structure_errors_never_quote_phi() -> None:
    """A bad date of birth is named by its element, not shown."""
    text = interchange(member("E834C9", born="19801341", group="G"))
    (problem,) = structure_problems(text)
    assert "19801341" not in problem.text()
    assert problem.text() == "segment 9 (DMG): DMG02 (Member Birth Date) is not a valid date"


def test_the_content_digest_ignores_the_envelope() -> None:
    """The same business content from its sender under new control numbers is the same file;
    a change in content, or another sender, is another file."""
    body = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    first = _read(interchange(body, control=1, reference="R1"))
    again = _read(interchange(body, control=7, reference="R1"))
    elsewhere = _read(interchange(body, control=1, sender="OTHER", reference="R1"))
    later = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260201"))
    changed = _read(interchange(later, control=1, reference="R1"))
    assert first.interchange.content_sha256 == again.interchange.content_sha256
    assert first.interchange.content_sha256 != changed.interchange.content_sha256
    assert first.interchange.content_sha256 != elsewhere.interchange.content_sha256


def _csv_rows(rows: list[Any]) -> list[dict[str, str]]:
    """Named rows as members.csv/coverages.csv hold them (strings, "" for None)."""
    return [{k: "" if v is None else str(v) for k, v in r._asdict().items()} for r in rows]


def test_the_synthetic_writer_round_trips_its_population() -> None:
    """Each sponsor's 834 is valid for pyx12 and plans exactly the members and coverage spans
    of members.csv and coverages.csv (payer order aside: an 834 does not carry it)."""
    people = population(random.Random(7), 80)
    members, coverages = _csv_rows(people.members), _csv_rows(people.coverages)
    planned_members, planned_spans = [], []
    for number, sponsor in enumerate(sorted({m["employer_id"] for m in members}), start=1):
        ours = [m for m in members if m["employer_id"] == sponsor]
        ids = {m["member_id"] for m in ours}
        text = enrollment_834(
            sponsor, ours, [c for c in coverages if c["member_id"] in ids], control_number=number
        )
        assert structure_problems(text) == []
        plan = plan_enrollment(_read(text), Enrolled(), PLANS)
        planned_members += plan.members
        planned_spans += plan.spans
    assert sorted(
        (m.member_id, m.cardholder_id, m.person_code, m.family_id, m.employer_id, m.class_code,
         m.first_name, m.last_name, m.date_of_birth.isoformat(), str(m.gender_code))
        for m in planned_members
    ) == sorted(tuple(m.values()) for m in members)  # fmt: skip
    assert sorted(
        (s.member_id, s.after.plan_id, s.after.group_id, s.after.start.isoformat(),
         s.after.end.isoformat() if s.after.end else "",
         s.after.end_reason.value if s.after.end_reason else "", s.after.line_of_business,
         s.after.level.value)
        for s in planned_spans
    ) == sorted(
        (c["member_id"], c["plan_id"], c["group_id"], c["start_date"], c["end_date"],
         c["end_reason"], c["line_of_business"], c["coverage_level"])
        for c in coverages
    )  # fmt: skip


def test_a_span_that_would_overlap_another_of_its_plan_is_refused() -> None:
    july = Coverage(COMMERCIAL, "EMP2-FT", D(2026, 7, 1), None, None, "COMMERCIAL")
    stored = Enrolled((SUBSCRIBER,), {"E834M1": (july,)}, {"F834-T": "EMP2"})
    body = member("E834C1", lines=coverage(COMMERCIAL, begin="20260101"))
    assert re.search(
        r"segment 9 \(HD\): coverage of plan COMM-HRA-2026 from 2026-07-01 would overlap the"
        r" span from 2026-01-01",
        _problem(interchange(body), stored),
    )


def test_a_member_level_reinstatement_reopens_what_the_last_termination_ended() -> None:
    stored = Enrolled((SUBSCRIBER,), {"E834M1": (ENDED,)}, {"F834-T": "EMP2"})
    plan = _plan(interchange(member("E834C1", maintenance="025")), stored)
    (write,) = plan.spans
    assert (write.before, write.after, plan.counts.members_reinstated) == (ENDED, SPAN, 1)
    with pytest.raises(InvalidRequest, match=r"segment 5 \(INS\): INS03 the member has no ended"):
        _plan(interchange(member("E834C1", maintenance="025")))


def test_a_correction_names_the_member_by_their_previous_name_and_birth_date() -> None:
    """2100B (NM1*70 and its DMG) finds the dependent whose name and date of birth change;
    a change that sends no begin date changes the latest span (here: its planned end)."""
    body = [
        "INS*N*19*001*25*A", "REF*0F*E834C1", "NM1*IL*1*RIVERA*SAMUEL", "DMG*D8*20120305*M",
        "NM1*70*1*RIVERA*SAM", "DMG*D8*20120304*M",
        "HD*001**PDG*COMM-HRA-2026", "DTP*349*D8*20261231",
    ]  # fmt: skip
    plan = _plan(interchange(body))
    (changed,) = plan.members
    assert (changed.member_id, changed.first_name, changed.date_of_birth) == (
        "E834M2",
        "SAMUEL",
        D(2012, 3, 5),
    )
    assert _span_of(plan, "E834M2").end == D(2026, 12, 31)


def test_a_file_of_several_transaction_sets_names_the_set_of_a_problem() -> None:
    one = interchange(member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101")))
    two = interchange(member("E834C8", group="G", lines=coverage("NO-PLAN", begin="20260101")))
    start, end = "\nST*834*", "\nGE*"
    first_set = one[one.index(start) : one.index(end)]
    second_set = two[two.index(start) : two.index(end)].replace("*0001", "*0002")
    head = one[: one.index(start)]
    text = head + first_set + second_set + "\nGE*2*1~\nIEA*1*000000001~\n"
    assert structure_problems(text) == []
    with pytest.raises(InvalidRequest) as caught:
        _read(text)
    assert str(caught.value) == (
        "t.834: transaction set 0002, segment 10 (HD): HD04 unknown plan 'NO-PLAN'"
        " (no loaded plan has this ID)"
    )


def test_the_writer_writes_one_file_per_sponsor_of_a_dataset(tmp_path: Path) -> None:
    people = population(random.Random(3), 30)
    write_table(tmp_path, MemberRow, people.members)
    write_table(tmp_path, CoverageRow, people.coverages)
    paths = write_834_files(tmp_path)
    assert [p.name for p in paths] == [
        f"{s}.834" for s in sorted({m.employer_id for m in people.members})
    ]
    enrolled = [m for p in paths for t in _read(p.read_text()).transactions for m in t.members]
    assert {m.member_id for m in enrolled} == {m.member_id for m in people.members}


def test_medicare_at_65_leaves_the_family_with_its_employer() -> None:
    """Part D bills its own sponsor: the PDP's 834 adds the plan and leaves the family's
    employer (who still pays for the commercial claims before the move) as it was."""
    stored = Enrolled((SUBSCRIBER,), {"E834M1": (ENDED,)}, {"F834-T": "EMP2"})
    body = member("E834C1", group="PDP-1", lines=coverage("PARTD-STD-2026", begin="20260701"))
    plan = _plan(interchange(body, sponsor="PDP-SPONSOR"), stored)
    assert plan.families == ()
    assert all(m.employer_id == "EMP2" for m in plan.members)
    assert _span_of(plan, "E834M1").line_of_business == "MEDICARE_PART_D"


def test_a_change_dated_only_by_its_maintenance_date_keeps_the_coverage_dates() -> None:
    """DTP*303 is when the change takes effect (an address, say), not a coverage date: a 001
    sending only 303 (on the member and on its HD) leaves the span's start where it was (it
    re-dated the span to the 303 date, and claims before it were 65 and listed for review)."""
    body = member(
        "E834C1",
        maintenance="001",
        dates=["DTP*303*D8*20261101"],
        lines=[*coverage(COMMERCIAL, maintenance="001", level="FAM"), "DTP*303*D8*20261101"],
    )
    plan = _plan(interchange(body))
    assert all(s.after.start == SPAN.start for s in plan.spans if s.member_id == "E834M1")
    redated = member(
        "E834C1", maintenance="001", lines=coverage(COMMERCIAL, maintenance="001", begin="20260201")
    )
    assert _span_of(_plan(interchange(redated)), "E834M1").start == D(2026, 2, 1)


def test_coverage_dates_may_be_a_range() -> None:
    """2300 DTP*348 in RD8 form (the guide allows D8 or RD8): the range's first day begins the
    span and its last ends it; an RD8 that is not a range of dates in order names DTP03."""
    body = member(
        "E834C9",
        member_id="E834M9",
        group="EMP2-FT",
        lines=[f"HD*021**PDG*{COMMERCIAL}*FAM", "DTP*348*RD8*20260301-20261231"],
    )
    span = _span_of(_plan(interchange(body)), "E834M9")
    assert (span.start, span.end) == (D(2026, 3, 1), D(2026, 12, 31))
    for bad in (
        "20261231-20260301",
        "20260301",
        "20260301-2026123",
        "2026030120261231",
        "20260301-99991231",
        "18000101-20261231",
    ):
        wrong = interchange(body).replace("20260301-20261231", bad)
        with pytest.raises(InvalidRequest, match="DTP03"):
            _plan(wrong)


def test_a_file_holds_one_interchange() -> None:
    """A second ISA after the first IEA is refused, naming it (both were applied under the
    first's control number, and the second sent alone later was applied again)."""
    one = interchange(member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101")))
    two = interchange(
        member("E834C8", group="G", lines=coverage(COMMERCIAL, begin="20260101")), control=2
    )
    with pytest.raises(InvalidRequest, match=r"^t\.834: ISA: a file holds one interchange"):
        _read(one + two)


def test_the_content_digest_ignores_the_component_separator() -> None:
    """ISA16 ':' or '>' (and the composites written with it) is the same content."""
    body = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    body[body.index("DMG*D8*19800101*F")] = "DMG*D8*19800101*F**:RET:2106-3"
    colon = interchange(body)
    greater = colon.replace("*P*:~", "*P*>~").replace(":RET:2106-3", ">RET>2106-3")
    assert greater != colon
    assert _read(colon).interchange.content_sha256 == _read(greater).interchange.content_sha256


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("SE*9*0001", "SE*8*0001"), r"^t\.834: SE: SE01 "),
        (("SE*9*0001", "SE*9*0002"), r"^t\.834: SE: SE02 "),
        (("GE*1*1~", "GE*1*2~"), r"^t\.834: GE: GE02 "),
        (("IEA*1*000000001", "IEA*1*000000009"), r"^t\.834: IEA: IEA02 "),
    ],
    ids=["SE count", "SE control number", "GE control number", "IEA control number"],
)
def test_an_envelope_problem_names_its_segment_and_element(
    edit: tuple[str, str], expected: str
) -> None:
    text = interchange(member("E834C9"))
    assert edit[0] in text
    with pytest.raises(InvalidRequest) as caught:
        _read(text.replace(*edit))
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_the_content_digest_tells_a_separator_from_the_same_character_in_data() -> None:
    """With ISA16 '>' a ':' in the data is data, not a component: 'SUITE:5' and a composite
    'SUITE>5' are two contents; ISA16 '^' with ISA11 ':' (swapped) is the usual content. (The
    digest of split segments: pyx12 would refuse a composite in N301 before it.)"""
    from rx_gateway.x12.enrollment_834 import content_sha256, split

    def digest(text: str) -> str:
        found, segments = split(text, "t.834")
        return content_sha256("S", segments, found)

    body = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    body.insert(body.index("DMG*D8*19800101*F"), "N3*SUITE:5")
    colon = interchange(body)  # the usual delimiters: ':' is the component separator
    greater = colon.replace("*P*:~", "*P*>~")  # ':' is now a character of data
    assert digest(greater) != digest(colon)
    assert digest(greater.replace("N3*SUITE:5", "N3*SUITE>5")) == digest(colon)
    swapped = (
        colon.replace("*^*00501*", "*:*00501*")
        .replace("*P*:~", "*P*^~")
        .replace("N3*SUITE:5", "N3*SUITE^5")
    )
    assert digest(swapped) == digest(colon)
    found, segments = split(colon, "t.834")
    assert digest(colon) == content_sha256("S", segments, found, as_written=True)


def test_a_second_loop_that_says_another_person_is_refused_naming_both() -> None:
    """A member may have several loops in a file (a termination, then a reinstatement), but a
    later loop with another date of birth or gender for the same member was applied over the
    first, the last winning: a file that said the member was born on 1980-01-01 F and on
    1981-01-01 M kept the second (found by an outside tester). The same loop twice is one
    person: planned."""
    first = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    again = [s.replace("19800101*F", "19810101*M") for s in first]
    assert again != first
    with pytest.raises(InvalidRequest) as caught:
        _plan(interchange([*first, *again]))
    text = str(caught.value)
    ins = [i + 5 for i, s in enumerate([*first, *again]) if s.startswith("INS")]  # ST..N1*IN
    assert text.startswith(f"t.834: segment {ins[1]} (INS): INS a second loop"), text
    assert f"the loop at segment {ins[0]} gives another name, date of birth or gender" in text
    assert [m.member_id for m in _plan(interchange([*first, *first])).members] == [
        _plan(interchange(first)).members[0].member_id
    ]


def test_a_blank_interchange_sender_is_refused() -> None:
    """ISA06 keys the duplicate check with ISA13: a blank one was stored as ''."""
    text = interchange(member("E834C9")).replace("*ZZ*E834TEST       *", "*ZZ*               *")
    with pytest.raises(InvalidRequest, match=r"^t\.834: ISA: ISA06 is blank"):
        _read(text)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # the ISA declares ~, the segments after it end with a line break only
        (lambda t: t.replace("~\n", "\n").replace(":\n", ":~\n", 1), r"only 2 segment\(s\)"),
        # the segments after the ISA end with !
        (
            lambda t: t.replace("~\n", "!\n").replace(":!\n", ":~\n", 1),
            r"only 2 segment\(s\) end with the segment terminator the ISA declares \('~'",
        ),
    ],
    ids=["line breaks", "another terminator"],
)
def test_segments_ended_by_another_character_are_named_not_gs08(edit: Any, expected: str) -> None:
    """These files were refused as "GS08 must be 005010X220A1", their GS being glued to the
    segments around it."""
    text = edit(interchange(member("E834C9")))
    with pytest.raises(InvalidRequest) as caught:
        _read(text)
    assert re.search(expected, str(caught.value)), str(caught.value)
    assert "GS08" not in str(caught.value)


def test_a_name_with_the_usual_element_separator_digests_apart_from_a_split_name() -> None:
    """With | between elements a first name ANN*B is one element; with * it is two (ANN, and
    B as NM105). Both files were one content digest, so the second was "already applied"
    (found by an outside tester)."""
    from rx_gateway.x12.enrollment_834 import content_sha256, split

    def digest(text: str) -> str:
        found, segments = split(text, "t.834")
        return content_sha256("S", segments, found)

    body = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    name = next(s for s in body if s.startswith("NM1*IL"))
    first_name = name.split("*")[4]
    two_elements = interchange([name + "*B" if s == name else s for s in body])
    piped = two_elements.replace("*", "|")  # ISA04 now declares |
    one_element = piped.replace(f"|{first_name}|B", f"|{first_name}*B")
    assert one_element != piped
    assert digest(one_element) != digest(two_elements)
    # without a * or ~ in the data, the same content with | between elements is one content,
    # as it always was
    assert digest(piped) == digest(two_elements)


def test_later_loops_that_send_less_or_follow_a_correction_are_the_same_person() -> None:
    """A termination without DMG after the add (a loop without DMG keeps what is known), and
    a termination by the name a correction in the same file gave: both plan (a reviewer
    found both refused by the first version of the same-person rule)."""
    add = member("E834C9", group="G", lines=coverage(COMMERCIAL, begin="20260101"))
    term = member(
        "E834C9", maintenance="024", group="G", demographics=False,
        lines=coverage(COMMERCIAL, maintenance="024", begin="20260101", end="20260331"),
    )  # fmt: skip
    assert _plan(interchange([*add, *term])).counts.members_terminated == 1
    dependent = {"subscriber": False, "relationship": "19", "born": "20100101", "group": "G"}
    first = member("E834C9", first="ANN", **dependent, lines=coverage(COMMERCIAL, begin="20260101"))
    corrected = member("E834C9", maintenance="001", first="ANNE", **dependent)
    at = next(k for k, s in enumerate(corrected) if s.startswith("DMG"))
    corrected[at + 1 : at + 1] = ["NM1*70*1*RIVERA*ANN", "DMG*D8*20100101*F"]
    ended = member(
        "E834C9", maintenance="024", first="ANNE", **dependent,
        lines=coverage(COMMERCIAL, maintenance="024", begin="20260101", end="20260331"),
    )  # fmt: skip
    plan = _plan(interchange([*add, *first, *corrected, *ended]))
    assert (plan.counts.members_changed, plan.counts.members_terminated) == (1, 1)
    # the subscriber (matched by the card, not by name) with another gender after all that
    again = [s.replace("DMG*D8*19800101*F", "DMG*D8*19800101*M") for s in add]
    with pytest.raises(InvalidRequest, match="gives another name, date of birth or gender"):
        _plan(interchange([*add, *first, *corrected, *ended, *again]))


def test_a_benefit_end_of_99991231_is_no_end() -> None:
    """EDI's "no end": DTP*349 99991231 leaves the span open (it was stored as PostgreSQL's
    infinity, a date no claim compares sensibly with)."""
    body = member(
        "E834C9",
        member_id="E834M9",
        group="EMP2-FT",
        lines=[f"HD*021**PDG*{COMMERCIAL}*FAM", "DTP*348*D8*20260301", "DTP*349*D8*99991231"],
    )
    span = _span_of(_plan(interchange(body)), "E834M9")
    assert (span.start, span.end) == (D(2026, 3, 1), None)
