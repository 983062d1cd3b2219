"""Reference data, member state, money and errors: the small rules, pinned (issue 11)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from rx_gateway.domain.errors import InvalidRequest, ReferenceDataError
from rx_gateway.domain.member import (
    Accumulators,
    Coverage,
    CoverageEndReason,
    MemberState,
    PriorAuthorization,
)
from rx_gateway.domain.money import Rounding, divide, round_half_up
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    Program,
    PursePeriod,
    PurseRule,
    ReferenceSnapshot,
)
from tests.unit.domain_fixtures import MEMBER, PLAN

D = dt.date


# ------------------------------------------------------------------ months, periods, plan years


@pytest.mark.parametrize(
    ("days", "months"),
    [
        (60, 2),
        (61, 3),
        (120, 3),
        # past the last band (120 days, 3 months): one more month per 30 days or part of one
        (121, 4),  # 3 + ⌈1/30⌉
        (150, 4),  # 3 + ⌈30/30⌉
        (151, 5),  # 3 + ⌈31/30⌉
    ],
)
def test_months_supplied_past_the_last_band_counts_from_the_last_band(
    days: int, months: int
) -> None:
    """Bands (34, 1), (60, 2), (120, 3): counting from any band but the last would differ
    (from (60, 2): 121 days → 2 + ⌈61/30⌉ = 5, not 4)."""
    plan = replace(PLAN, month_bands=((34, 1), (60, 2), (120, 3)))
    assert plan.months_supplied(days) == months


@pytest.mark.parametrize(
    ("period", "day", "start"),
    [
        (PursePeriod.MONTH, D(2026, 11, 23), D(2026, 11, 1)),
        (PursePeriod.MONTH, D(2026, 11, 1), D(2026, 11, 1)),
        (PursePeriod.MONTH, D(2026, 2, 28), D(2026, 2, 1)),
        (PursePeriod.QUARTER, D(2026, 1, 1), D(2026, 1, 1)),
        (PursePeriod.QUARTER, D(2026, 3, 31), D(2026, 1, 1)),
        (PursePeriod.QUARTER, D(2026, 4, 1), D(2026, 4, 1)),
        (PursePeriod.QUARTER, D(2026, 6, 30), D(2026, 4, 1)),
        (PursePeriod.QUARTER, D(2026, 8, 15), D(2026, 7, 1)),
        (PursePeriod.QUARTER, D(2026, 11, 23), D(2026, 10, 1)),
        (PursePeriod.QUARTER, D(2026, 12, 31), D(2026, 10, 1)),
        # the plan year of a July plan
        (PursePeriod.PLAN_YEAR, D(2026, 11, 23), D(2026, 7, 1)),
        (PursePeriod.PLAN_YEAR, D(2026, 6, 30), D(2025, 7, 1)),
    ],
)
def test_period_start(period: PursePeriod, day: dt.date, start: dt.date) -> None:
    assert replace(PLAN, plan_year_start_month=7).period_start(period, day) == start


@pytest.mark.parametrize(
    ("month", "day", "start"),
    [
        (1, D(2026, 1, 1), D(2026, 1, 1)),
        (1, D(2026, 12, 31), D(2026, 1, 1)),
        (7, D(2026, 7, 1), D(2026, 7, 1)),  # the first day belongs to the new plan year
        (7, D(2026, 6, 30), D(2025, 7, 1)),  # the day before: the year that started last July
        (7, D(2026, 1, 15), D(2025, 7, 1)),
        (10, D(2027, 3, 2), D(2026, 10, 1)),
    ],
)
def test_plan_year_start(month: int, day: dt.date, start: dt.date) -> None:
    assert replace(PLAN, plan_year_start_month=month).plan_year_start(day) == start


# ------------------------------------------------------------------ programs and purse rules

STATIN = Program("STATIN0", "statin", 0, preferred_pharmacies_only=True, generics_only=True)
INSULIN = Program("INS", "insulin", 2_500)


@pytest.mark.parametrize(
    ("group", "network", "is_brand", "expected"),
    [
        ("statin", PharmacyNetwork.PREFERRED, False, STATIN),
        ("statin", PharmacyNetwork.STANDARD, False, None),  # preferred pharmacies only
        ("statin", PharmacyNetwork.PREFERRED, True, None),  # generics only
        ("insulin", PharmacyNetwork.STANDARD, True, INSULIN),
        ("insulin", PharmacyNetwork.PREFERRED, False, INSULIN),
        ("cardio", PharmacyNetwork.PREFERRED, False, None),
    ],
)
def test_program_for(
    group: str, network: PharmacyNetwork, is_brand: bool, expected: Program | None
) -> None:
    plan = replace(PLAN, programs=(STATIN, INSULIN))
    assert plan.program_for(group, network, is_brand=is_brand) == expected


def test_program_for_a_product_not_said_to_be_a_brand_is_a_generic() -> None:
    plan = replace(PLAN, programs=(STATIN,))
    assert plan.program_for("statin", PharmacyNetwork.PREFERRED) == STATIN


@pytest.mark.parametrize(
    ("rule", "tier", "group", "network", "why"),
    [
        (PurseRule("HRA"), 4, "any", PharmacyNetwork.STANDARD, None),
        (
            PurseRule("HRA", allowed_tiers=frozenset({1, 2})),
            2,
            "g",
            PharmacyNetwork.PREFERRED,
            None,
        ),
        (
            PurseRule("HRA", allowed_tiers=frozenset({1, 2})),
            3,
            "g",
            PharmacyNetwork.PREFERRED,
            "not allowed for tier 3",
        ),
        (
            PurseRule("HRA", allowed_drug_groups=frozenset({"insulin"})),
            1,
            "insulin",
            PharmacyNetwork.PREFERRED,
            None,
        ),
        (
            PurseRule("HRA", allowed_drug_groups=frozenset({"insulin"})),
            1,
            "statin",
            PharmacyNetwork.PREFERRED,
            "not allowed for statin",
        ),
        (
            PurseRule("HRA", allowed_networks=frozenset({PharmacyNetwork.PREFERRED})),
            1,
            "g",
            PharmacyNetwork.STANDARD,
            "not allowed at standard pharmacies",
        ),
        (
            PurseRule("HRA", allowed_networks=frozenset({PharmacyNetwork.PREFERRED})),
            1,
            "g",
            PharmacyNetwork.PREFERRED,
            None,
        ),
    ],
)
def test_purse_rule_allows(
    rule: PurseRule, tier: int, group: str, network: PharmacyNetwork, why: str | None
) -> None:
    assert rule.allows(tier, group, network) == why


@pytest.mark.parametrize(
    ("rule", "has"),
    [
        (PurseRule("HRA"), False),
        (PurseRule("HRA", per_period_max_cents=0), True),
        (PurseRule("HRA", fills_per_period_max=0), True),
        (PurseRule("HRA", per_fill_max_cents=100), False),
    ],
)
def test_purse_rule_has_period_rules(rule: PurseRule, has: bool) -> None:
    assert rule.has_period_rules is has


# ------------------------------------------------------------------ snapshot indexes


def _drug(ndc: str, group: str, molecule: str, *, brand: bool = False) -> Drug:
    return Drug(ndc, f"name {ndc}", molecule, group, brand, None, False, 100_000)


def test_snapshot_indexes_alternatives_and_first_line() -> None:
    """The lowest tier, generics before brands, then the lowest NDC; excluded, non-formulary,
    PA-only and unknown products never count, wherever they come in the file."""
    drugs = [
        _drug("00000000005", "g", "m1"),  # tier 1 but excluded
        _drug("00000000006", "g", "m1"),  # tier 1 but non-formulary
        _drug("00000000007", "g", "m1"),  # tier 1 but needs a PA
        _drug("00000000004", "g", "m1", brand=True),  # tier 2 brand
        _drug("00000000003", "g", "m1"),  # tier 2 generic: the alternative
        _drug("00000000002", "g", "m1"),  # tier 3
        _drug("00000000009", "h", "m2"),  # another group and molecule
    ]
    entries = [
        FormularyEntry("P1", "00000000005", FormularyStatus.EXCLUDED, 1),
        FormularyEntry("P1", "00000000006", FormularyStatus.NON_FORMULARY, 1),
        FormularyEntry("P1", "00000000007", FormularyStatus.COVERED, 1, True),
        FormularyEntry("P1", "00000000099", FormularyStatus.COVERED, 1),  # no such drug
        FormularyEntry("P1", "00000000002", FormularyStatus.COVERED, 3),
        FormularyEntry("P1", "00000000004", FormularyStatus.COVERED, 2),
        FormularyEntry("P1", "00000000003", FormularyStatus.COVERED, 2),
        FormularyEntry("P1", "00000000009", FormularyStatus.COVERED, 5),
    ]
    pharmacy = Pharmacy("1", "p", PharmacyNetwork.PREFERRED, "retail")
    snapshot = ReferenceSnapshot.build("v42", [PLAN], drugs, entries, [pharmacy])
    assert snapshot.version == "v42"
    assert {k: v.ndc for k, v in snapshot.preferred_alternatives.items()} == {
        ("P1", "g"): "00000000003",
        ("P1", "h"): "00000000009",
    }
    assert {k: v.ndc for k, v in snapshot.first_line.items()} == {
        ("P1", "m1"): "00000000003",
        ("P1", "m2"): "00000000009",
    }
    assert snapshot.plans_by_bin_pcn == {("610999", "TEST"): (PLAN,)}
    assert snapshot.known_bin("610999")
    assert not snapshot.known_bin("610998")
    assert set(snapshot.drugs) == {d.ndc for d in drugs}
    assert len(snapshot.formulary) == len(entries)
    assert snapshot.pharmacies == {"1": pharmacy}


# ------------------------------------------------------------------ member state


@pytest.mark.parametrize(
    ("day", "covered"),
    [
        (D(2025, 12, 31), False),
        (D(2026, 1, 1), True),  # the first day
        (D(2026, 6, 30), True),  # the last day
        (D(2026, 7, 1), False),
    ],
)
def test_coverage_covers_its_first_and_last_day(day: dt.date, covered: bool) -> None:
    span = Coverage("P1", "G1", D(2026, 1, 1), D(2026, 6, 30), CoverageEndReason.EXPIRED, "C")
    assert span.covers(day) is covered
    open_ended = replace(span, end=None, end_reason=None)
    assert open_ended.covers(day) is (day >= D(2026, 1, 1))


PA = PriorAuthorization("00000000001", None, D(2026, 3, 1), D(2026, 3, 31), "PA1", 30_000)


@pytest.mark.parametrize(
    ("pa", "ndc", "group", "day", "quantity", "covered"),
    [
        (PA, "00000000001", "g", D(2026, 3, 1), 30_000, True),  # first day, at the quantity
        (PA, "00000000001", "g", D(2026, 3, 31), 1, True),  # last day
        (PA, "00000000001", "g", D(2026, 2, 28), 1, False),
        (PA, "00000000001", "g", D(2026, 4, 1), 1, False),
        (PA, "00000000001", "g", D(2026, 3, 15), 30_001, False),  # over the approved quantity
        (PA, "00000000002", "g", D(2026, 3, 15), 1, False),  # another NDC, no group on the PA
        # a drug-group PA covers any NDC of the group, and no other group
        (replace(PA, ndc=None, drug_group="g"), "00000000002", "g", D(2026, 3, 15), 1, True),
        (replace(PA, ndc=None, drug_group="g"), "00000000002", "h", D(2026, 3, 15), 1, False),
        # no approved quantity: any quantity
        (replace(PA, quantity_thousandths=None), "00000000001", "g", D(2026, 3, 15), 10**9, True),
    ],
)
def test_prior_authorization_covers(
    pa: PriorAuthorization, ndc: str, group: str, day: dt.date, quantity: int, covered: bool
) -> None:
    assert pa.covers(ndc, group, day, quantity) is covered


def test_prior_authorization_quantity_defaults_to_none_asked() -> None:
    """Without a quantity the check is for 0: covered even by an approved quantity of 0."""
    assert replace(PA, quantity_thousandths=0).covers("00000000001", "g", D(2026, 3, 15))


def test_accumulators_for_a_year_without_any_are_zero() -> None:
    state = MemberState(MEMBER, 1, accumulators={("P1", D(2026, 1, 1)): Accumulators(1, 2, 3, 4)})
    assert state.accumulators_for("P1", D(2026, 1, 1)) == Accumulators(1, 2, 3, 4)
    assert state.accumulators_for("P1", D(2025, 1, 1)) == Accumulators(0, 0, 0, 0)
    assert state.accumulators_for("P2", D(2026, 1, 1)) == Accumulators(0, 0, 0, 0)


# ------------------------------------------------------------------ money and errors


def test_round_half_up_refuses_non_integers_by_name() -> None:
    with pytest.raises(TypeError, match=r"^round_half_up takes ints only$"):
        round_half_up(1.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^denominator must be positive, got 0$"):
        round_half_up(1, 0)


def test_errors_name_what_is_wrong() -> None:
    invalid = InvalidRequest("days_supply", "must be a number")
    assert (str(invalid), invalid.field, invalid.problem) == (
        "days_supply: must be a number",
        "days_supply",
        "must be a number",
    )
    bad = ReferenceDataError("drugs.csv", 7, "ndc", "not 11 digits")
    assert (str(bad), bad.file, bad.line, bad.field, bad.problem) == (
        "drugs.csv:7: field 'ndc': not 11 digits",
        "drugs.csv",
        7,
        "ndc",
        "not 11 digits",
    )


@pytest.mark.parametrize(
    ("numerator", "denominator", "rounding", "quotient"),
    [
        (7, 2, Rounding.UP, 4),  # 3.5 → 4
        (6, 2, Rounding.UP, 3),  # exact: no rounding
        (31, 30, Rounding.UP, 2),  # 1.03 → 2: any remainder rounds up
        (30, 30, Rounding.UP, 1),
        (1, 30, Rounding.UP, 1),
        (0, 30, Rounding.UP, 0),
        (-7, 2, Rounding.UP, -4),  # away from zero
        (-31, 30, Rounding.UP, -2),
        (5, 2, Rounding.HALF_UP, 3),  # 2.5 → 3
        (4, 3, Rounding.HALF_UP, 1),  # 1.33 → 1
        (5, 3, Rounding.HALF_UP, 2),  # 1.67 → 2
        (-5, 2, Rounding.HALF_UP, -3),
        (0, 3, Rounding.HALF_UP, 0),
    ],
)
def test_divide(numerator: int, denominator: int, rounding: Rounding, quotient: int) -> None:
    assert divide(numerator, denominator, rounding) == quotient
    if rounding is Rounding.HALF_UP:
        assert divide(numerator, denominator) == quotient  # the default
        assert round_half_up(numerator, denominator) == quotient
