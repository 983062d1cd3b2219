"""The insured population: employers, families of members, their coverages, and the purses
(HRA, wellness) the employers fund."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field

from rx_gateway.tools.synthetic.catalogue import FIRST_NAMES, LAST_NAMES
from rx_gateway.tools.synthetic.plans import (
    COMMERCIAL,
    HDHP,
    MEDICAID,
    MEDICAID_GROUP,
    MEDICAID_SPONSOR,
    PART_D,
    PLAN_LOB,
)
from rx_gateway.tools.synthetic.rows import (
    CoverageRow,
    FundingRow,
    MemberRow,
    OtherCoverageRow,
    PurseRow,
)


@dataclass(frozen=True)
class Employer:
    employer_id: str
    plan_by_class: dict[str, str]  # FT, PT, RET
    share: float  # of the families


EMPLOYERS = (
    # EMP1 is large: the benchmark's hot-employer case draws most of its claims from it.
    Employer("EMP1", {"FT": COMMERCIAL, "PT": HDHP, "RET": PART_D}, 0.6),
    Employer("EMP2", {"FT": COMMERCIAL, "PT": COMMERCIAL, "RET": PART_D}, 0.25),
    Employer("EMP3", {"FT": HDHP, "PT": HDHP, "RET": PART_D}, 0.15),
)
CLASS_WEIGHTS = {"FT": 0.7, "PT": 0.15, "RET": 0.15}
FAMILY_SIZE_WEIGHTS = {1: 35, 2: 25, 3: 18, 4: 15, 5: 7}
COVERAGE_START = dt.date(2025, 1, 1)
TERMINATED_ON = "2026-06-30"  # about 2% of coverages
HRA_CENTS = {"self": 50_000, "family": 100_000}
HRA_MEMO = "2026 HRA allotment"
# Two families beyond the random ones, built without the random stream (so the rest of the
# data does not shift): a full-time family with a wellness purse funded by quarterly
# allotments, and a part-time employee whose HRA has a quarterly cap.
# Coordination of benefits, also without the random stream: an employee with the commercial
# plan first and Medicaid second, and a Medicaid member whose employer plan (a payer this
# gateway does not process) pays first.
SHOWCASE = {
    "wellness": "M900001",
    "part_time": "M900002",
    "dual": "M900003",
    "medicaid_other_primary": "M900004",
}
OTHER_PAYER = {
    "payer_name": "Acme Health Plan",
    "bin": "004336",
    "pcn": "ACMERX",
    "group_id": "ACME100",
    "cardholder_id": "ACM000900004",
    "person_code": "01",
    "help_desk_phone": "8005550199",
}
WELLNESS_QUARTER_CENTS = 3_000


@dataclass
class Population:
    members: list[MemberRow] = field(default_factory=list)
    coverages: list[CoverageRow] = field(default_factory=list)
    purses: list[PurseRow] = field(default_factory=list)
    funding: list[FundingRow] = field(default_factory=list)
    other_coverages: list[OtherCoverageRow] = field(default_factory=list)


def population(rng: random.Random, count: int) -> Population:
    """``count`` members in families, then the two showcase families; each coverage's level
    from its family's size."""
    people = Population()
    family_number = 0
    while len(people.members) < count:
        family_number += 1
        employer = rng.choices(EMPLOYERS, weights=[e.share for e in EMPLOYERS])[0]
        class_code = rng.choices(tuple(CLASS_WEIGHTS), weights=tuple(CLASS_WEIGHTS.values()))[0]
        plan_id = employer.plan_by_class[class_code]
        family_id = f"F{family_number:06d}"
        cardholder = f"RXG{rng.randrange(10**8, 10**9):09d}"
        retiree = class_code == "RET"
        size = (
            1
            if retiree
            else rng.choices(
                tuple(FAMILY_SIZE_WEIGHTS), weights=tuple(FAMILY_SIZE_WEIGHTS.values())
            )[0]
        )
        size = min(size, count - len(people.members))
        last = rng.choice(LAST_NAMES)
        for person in range(1, size + 1):
            member_id = f"M{len(people.members) + 1:06d}"
            if person == 1:
                age = rng.randrange(65, 88) if retiree else rng.randrange(25, 64)
            elif person == 2:
                age = rng.randrange(25, 64)
            else:
                age = rng.randrange(0, 26)
            born = dt.date(2026 - age, rng.randrange(1, 13), rng.randrange(1, 29))
            first = rng.choice(FIRST_NAMES)
            people.members.append(
                MemberRow(
                    member_id=member_id,
                    cardholder_id=cardholder,
                    person_code=f"{person:03d}",
                    family_id=family_id,
                    employer_id=employer.employer_id,
                    class_code=class_code,
                    first_name=first,
                    last_name=last,
                    date_of_birth=born.isoformat(),
                    gender_code=rng.choice((1, 2)),
                )
            )
            terminated = rng.random() < 0.02
            people.coverages.append(
                CoverageRow(
                    member_id=member_id,
                    plan_id=plan_id,
                    group_id=f"{employer.employer_id}-{class_code}",
                    start_date=COVERAGE_START.isoformat(),
                    end_date=TERMINATED_ON if terminated else None,
                    end_reason="terminated" if terminated else None,
                    line_of_business=PLAN_LOB[plan_id],
                )
            )
        if plan_id == COMMERCIAL:
            hra = f"HRA-{family_id}"
            people.purses.append(PurseRow(hra, family_id, "HRA", employer.employer_id))
            amount = HRA_CENTS["self" if size == 1 else "family"]
            people.funding.append(FundingRow(f"FUND-{hra}-2026", hra, amount, HRA_MEMO))
    _showcase(people)
    _coordinated(people)
    _coverage_levels(people)
    return people


def _showcase(people: Population) -> None:
    for member_id, class_code, family_id, born in (
        (SHOWCASE["wellness"], "FT", "F900001", "1979-04-12"),
        (SHOWCASE["part_time"], "PT", "F900002", "1991-09-03"),
    ):
        people.members.append(
            MemberRow(
                member_id=member_id,
                cardholder_id=f"RXG9{member_id[1:]}00",
                person_code="001",
                family_id=family_id,
                employer_id="EMP2",
                class_code=class_code,
                first_name="Wren",
                last_name="Showcase",
                date_of_birth=born,
                gender_code=2,
            )
        )
        people.coverages.append(
            CoverageRow(
                member_id=member_id,
                plan_id=COMMERCIAL,
                group_id=f"EMP2-{class_code}",
                start_date=COVERAGE_START.isoformat(),
                end_date=None,
                end_reason=None,
                line_of_business=PLAN_LOB[COMMERCIAL],
            )
        )
        hra = f"HRA-{family_id}"
        people.purses.append(PurseRow(hra, family_id, "HRA", "EMP2"))
        people.funding.append(FundingRow(f"FUND-{hra}-2026", hra, HRA_CENTS["self"], HRA_MEMO))
    wellness = "WELL-F900001"
    people.purses.append(PurseRow(wellness, "F900001", "WELLNESS", "EMP2"))
    # $30 each quarter; the 2027 Q1 allotment is still pending in November 2026
    for start in ("2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01", "2027-01-01"):
        quarter = f"{start[:4]}Q{(int(start[5:7]) - 1) // 3 + 1}"
        people.funding.append(
            FundingRow(
                f"ALLOT-{wellness}-{quarter}",
                wellness,
                WELLNESS_QUARTER_CENTS,
                f"wellness {quarter}",
                available_on=start,
            )
        )


def _coordinated(people: Population) -> None:
    """The two members of coordination of benefits (each alone in a family)."""
    for member_id, employer, born, gender in (
        (SHOWCASE["dual"], "EMP2", "1988-02-14", 1),
        (SHOWCASE["medicaid_other_primary"], MEDICAID_SPONSOR, "1995-07-30", 2),
    ):
        people.members.append(
            MemberRow(
                member_id=member_id,
                cardholder_id=f"RXG9{member_id[1:]}00",
                person_code="001",
                family_id=f"F{member_id[1:]}",
                employer_id=employer,
                class_code="FT",
                first_name="Rowan",
                last_name="Showcase",
                date_of_birth=born,
                gender_code=gender,
            )
        )
    dual, medicaid_only = SHOWCASE["dual"], SHOWCASE["medicaid_other_primary"]
    start = COVERAGE_START.isoformat()
    people.coverages += [
        CoverageRow(dual, COMMERCIAL, "EMP2-FT", start, None, None, PLAN_LOB[COMMERCIAL]),
        CoverageRow(
            dual, MEDICAID, MEDICAID_GROUP, start, None, None, PLAN_LOB[MEDICAID], payer_order=2
        ),
        CoverageRow(
            medicaid_only,
            MEDICAID,
            MEDICAID_GROUP,
            start,
            None,
            None,
            PLAN_LOB[MEDICAID],
            payer_order=2,
        ),
    ]
    people.other_coverages.append(
        OtherCoverageRow(
            member_id=medicaid_only,
            payer_order=1,
            start_date="2026-01-01",
            end_date=None,
            **OTHER_PAYER,
        )
    )


def _coverage_levels(people: Population) -> None:
    """834 HD05 coverage level: a one-person family has self-only coverage."""
    family_size = Counter(m.family_id for m in people.members)
    family_of = {m.member_id: m.family_id for m in people.members}
    people.coverages[:] = [
        c._replace(
            coverage_level="self_only" if family_size[family_of[c.member_id]] == 1 else "family"
        )
        for c in people.coverages
    ]
