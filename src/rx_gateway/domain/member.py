"""Member state: what changes in real time and is read once per claim."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from rx_gateway.domain.reference import CoverageLevel


class CoverageEndReason(StrEnum):
    EXPIRED = "expired"  # → 68
    TERMINATED = "terminated"  # → 69


@dataclass(frozen=True, slots=True)
class Member:
    """A person. Name and date of birth are PHI: never logged."""

    member_id: str
    cardholder_id: str
    person_code: str
    family_id: str
    employer_id: str
    class_code: str
    date_of_birth: dt.date
    gender_code: int


@dataclass(frozen=True, slots=True)
class Coverage:
    plan_id: str
    group_id: str
    start: dt.date
    end: dt.date | None
    end_reason: CoverageEndReason | None
    line_of_business: str
    level: CoverageLevel = CoverageLevel.FAMILY
    # 1 primary, 2 secondary ...: who pays first when the member has several coverages in
    # force (Medicaid pays last whatever its order: see domain/cob.py)
    payer_order: int = 1

    def covers(self, date_of_service: dt.date) -> bool:
        return self.start <= date_of_service and (self.end is None or date_of_service <= self.end)


@dataclass(frozen=True, slots=True)
class OtherCoverage:
    """A member's coverage by a payer this gateway does not process (a third-party-liability
    record): known so that a claim billed in the wrong order is sent there first."""

    payer_order: int
    payer_name: str
    bin: str
    processor_control_number: str
    group_id: str
    cardholder_id: str  # PHI: answered to the pharmacy on a 41, never logged
    person_code: str
    help_desk_phone: str
    start: dt.date
    end: dt.date | None

    def covers(self, date_of_service: dt.date) -> bool:
        return self.start <= date_of_service and (self.end is None or date_of_service <= self.end)


class AccumulatorKind(StrEnum):
    DEDUCTIBLE = "deductible"
    OUT_OF_POCKET = "out_of_pocket"


class AccumulatorLevel(StrEnum):
    INDIVIDUAL = "individual"
    FAMILY = "family"


@dataclass(frozen=True, slots=True)
class Accumulators:
    """Amounts met in one plan year, for the member and for the family."""

    deductible_individual_cents: int = 0
    deductible_family_cents: int = 0
    out_of_pocket_individual_cents: int = 0
    out_of_pocket_family_cents: int = 0


@dataclass(frozen=True, slots=True)
class PurseState:
    """A purse as a claim sees it. ``posted_cents`` is the ledger balance; ``available_cents``
    is what may be spent on the date of service: posted plus scheduled allotments already due
    (the claim's write posts those); ``pending_cents`` is scheduled for later dates."""

    purse_id: str
    kind: str
    available_cents: int
    posted_cents: int = 0
    pending_cents: int = 0


@dataclass(frozen=True, slots=True)
class PurseSpend:
    """What a purse paid for one paid, unreversed claim of the family (period caps)."""

    purse_id: str
    date_of_service: dt.date
    paid_cents: int


@dataclass(frozen=True, slots=True)
class RewardEarned:
    """A reward the member earned on a paid, unreversed claim (the per-year cap counts them)."""

    program_id: str
    plan_year_start: dt.date
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Fill:
    """A paid, unreversed prior fill: for refill-too-soon, period limits and DUR."""

    molecule: str
    date_of_service: dt.date
    days_supply: int
    quantity_thousandths: int = 0
    product_id: str = ""  # for DUR: its therapeutic class
    service_provider_id: str = ""  # 529-FT: this pharmacy or another
    prescriber_id: str = ""  # 533-FX: this prescriber or another
    refill_override: int = 0  # the 420-DK code that let it past a refill too soon (79), or 0
    prescription: str = ""  # 402-D2|403-D3: with the pharmacy and date, which dispensing it was


@dataclass(frozen=True, slots=True)
class PriorAuthorization:
    ndc: str | None
    drug_group: str | None
    start: dt.date
    end: dt.date
    number: str
    # An approved quantity per fill: the PA covers fills up to it, and lifts the formulary's
    # per-fill quantity limit (76) to it.
    quantity_thousandths: int | None = None

    def covers(
        self, ndc: str, drug_group: str, date_of_service: dt.date, quantity_thousandths: int = 0
    ) -> bool:
        matches = self.ndc == ndc or (self.drug_group is not None and self.drug_group == drug_group)
        within = (
            self.quantity_thousandths is None or quantity_thousandths <= self.quantity_thousandths
        )
        return matches and within and self.start <= date_of_service <= self.end


@dataclass(frozen=True, slots=True)
class CardMember:
    """One person under a cardholder ID, as patient matching sees them (no name: PHI stays
    where it is)."""

    person_code: str
    date_of_birth: dt.date
    gender_code: int


def match_person_code(
    people: tuple[CardMember, ...] | list[CardMember],
    date_of_birth: dt.date | None,
    gender_code: int,
) -> str | None:
    """The person code of the one person on the card with this date of birth (and gender,
    when the claim sends one: 1 or 2). With no date of birth: the card's only person. None
    when nobody, or more than one person, matches: the claim must then send 303-C3."""
    if date_of_birth is None:
        candidates = list(people)
    else:
        candidates = [
            p
            for p in people
            if p.date_of_birth == date_of_birth and gender_code in (0, p.gender_code)
        ]
    return candidates[0].person_code if len(candidates) == 1 else None


def same_person_code(one: str, other: str) -> bool:
    """Two 303-C3 values naming one person code: equal, or the same number (x(3): "1", "01"
    and "001" are one code)."""
    if one == other:
        return True
    numbers = one.isascii() and one.isdigit() and other.isascii() and other.isdigit()
    return numbers and int(one) == int(other)


def match_unknown_person_code(
    people: tuple[CardMember, ...] | list[CardMember],
    sent: str,
    date_of_birth: dt.date | None,
    gender_code: int,
) -> str | None:
    """The person a 303-C3 that nobody on the card has means: 303-C3 is a hint (person codes
    are plan-specific, and x(3): "1", "01" and "001" are one code), so the one person whose
    code is the same number, else (with a date of birth only) the one person the date of
    birth and gender tell apart, as when the code is left out. None when that is nobody or
    several (the claim answers 52)."""
    same = [p for p in people if same_person_code(p.person_code, sent)]
    if len(same) == 1:
        return same[0].person_code
    if date_of_birth is None:
        return None
    return match_person_code(people, date_of_birth, gender_code)


@dataclass(frozen=True, slots=True)
class MemberState:
    member: Member
    family_version: int
    coverages: tuple[Coverage, ...] = ()
    # keyed by (plan_id, plan year start)
    accumulators: dict[tuple[str, dt.date], Accumulators] = field(default_factory=dict)
    purses: tuple[PurseState, ...] = ()
    fills: tuple[Fill, ...] = ()
    prior_authorizations: tuple[PriorAuthorization, ...] = ()
    purse_spends: tuple[PurseSpend, ...] = ()
    other_coverages: tuple[OtherCoverage, ...] = ()  # payers this gateway does not process
    rewards: tuple[RewardEarned, ...] = ()  # the member's own, for reward programs' caps

    def accumulators_for(self, plan_id: str, plan_year_start: dt.date) -> Accumulators:
        return self.accumulators.get((plan_id, plan_year_start), Accumulators())
