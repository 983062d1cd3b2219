"""Member cost share, table by table, pinned against mutants of cost_share.py (issue 11).

Every expected amount is worked out by hand in the row's comment; none is computed with the code
under test. A row's result is (deductible 517-FH, copay 518-FI, coinsurance 572-4U, network
133-UJ, non-preferred 135-UM/136-UN, brand penalty 134-UK, program reduction).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from rx_gateway.domain.adjudication import Paid, adjudicate
from rx_gateway.domain.cost_share import ShareBreakdown, member_share, remaining
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.member import Accumulators
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    DaysSupplyBand,
    Limits,
    Program,
    ReferenceSnapshot,
)
from tests.unit.domain_fixtures import INSULIN, PLAN, SNAPSHOT, claim, state

Result = tuple[int, int, int, int, int, int, int]

COINSURANCE = CostShareRule(
    CostShareKind.COINSURANCE,
    coinsurance_bp=2_500,
    coinsurance_min_cents=1_000,
    coinsurance_max_cents=5_000,
    deductible_applies=False,
)
BANDS = (DaysSupplyBand(34, 10_000), DaysSupplyBand(60, 20_000), DaysSupplyBand(90, 25_000))
COPAY = CostShareRule(
    CostShareKind.COPAY,
    copay_cents=5_000,
    deductible_applies=False,
    standard_network_extra_cents=333,
    days_supply_bands=BANDS,
)
NO_LIMITS = Limits()


def share(
    rule: CostShareRule,
    cost: int,
    *,
    days: int = 30,
    months: int = 1,
    standard: bool = False,
    limits: Limits = NO_LIMITS,
    met: Accumulators | None = None,
    program: Program | None = None,
    penalty: int = 0,
) -> Result:
    s = member_share(
        limits,
        rule,
        months_supplied=months,
        cost_cents=cost,
        brand_penalty_cents=penalty,
        days_supply=days,
        standard_network=standard,
        accumulators=met or Accumulators(),
        program=program,
    )
    return (
        s.deductible_cents,
        s.copay_cents,
        s.coinsurance_cents,
        s.network_cents,
        s.non_preferred_cents,
        s.brand_penalty_cents,
        s.program_reduction_cents,
    )


# ------------------------------------------------------------------ coinsurance minimum/maximum


@pytest.mark.parametrize(
    ("rule", "cost", "coinsurance"),
    [
        (COINSURANCE, 10_000, 2_500),  # 25% of $100.00 = $25.00, between min $10 and max $50
        (COINSURANCE, 2_000, 1_000),  # 25% = $5.00 → the $10.00 minimum
        (COINSURANCE, 3_996, 1_000),  # 25% = 999 → 1000
        (COINSURANCE, 4_000, 1_000),  # 25% = 1000 exactly the minimum
        (COINSURANCE, 4_004, 1_001),  # 25% = 1001, one cent over the minimum
        (COINSURANCE, 19_996, 4_999),  # 25% = 4999, one cent under the maximum
        (COINSURANCE, 20_000, 5_000),  # 25% = 5000 exactly the maximum
        (COINSURANCE, 20_004, 5_000),  # 25% = 5001 → the $50.00 maximum
        (COINSURANCE, 40_000, 5_000),  # 25% = 10000 → 5000
        (COINSURANCE, 600, 600),  # the $10 minimum, but never more than the $6.00 cost
        (COINSURANCE, 1, 1),  # 25% of 1¢ = 0 → minimum 1000 → the 1¢ cost
        # no maximum: 25% of $400.00 = $100.00
        (replace(COINSURANCE, coinsurance_max_cents=None), 40_000, 10_000),
        # no minimum: 25% of $20.00 = $5.00; 25% of 1002 = 250.5 → 251 (half up)
        (replace(COINSURANCE, coinsurance_min_cents=0), 2_000, 500),
        (replace(COINSURANCE, coinsurance_min_cents=0), 1_002, 251),
        # a maximum below the minimum: the maximum is applied last, 25% of 10000 = 2500 → 800
        (replace(COINSURANCE, coinsurance_max_cents=800), 10_000, 800),
        # 0%: the minimum still applies
        (replace(COINSURANCE, coinsurance_bp=0), 10_000, 1_000),
    ],
)
def test_coinsurance_is_clamped_to_min_and_max_and_the_cost(
    rule: CostShareRule, cost: int, coinsurance: int
) -> None:
    assert share(rule, cost) == (0, 0, coinsurance, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("cost", "met_individual", "expected"),
    [
        # $50.00 deductible left of $250: cost $300.00 → deductible $50.00, rest $250.00,
        # 25% = $62.50 → max $50.00
        (30_000, 20_000, (5_000, 0, 5_000, 0, 0, 0, 0)),
        # cost $55.00: deductible $50.00, rest $5.00: 25% = 125 → min 1000 → rest 500
        (5_500, 20_000, (5_000, 0, 500, 0, 0, 0, 0)),
        # cost $50.00 all deductible: nothing left for coinsurance
        (5_000, 20_000, (5_000, 0, 0, 0, 0, 0, 0)),
        # deductible met: 25% of $100.00 = $25.00
        (10_000, 25_000, (0, 0, 2_500, 0, 0, 0, 0)),
    ],
)
def test_coinsurance_after_the_deductible(cost: int, met_individual: int, expected: Result) -> None:
    rule = replace(COINSURANCE, deductible_applies=True)
    limits = Limits(deductible_individual_cents=25_000)
    assert share(rule, cost, limits=limits, met=Accumulators(met_individual)) == expected


# ------------------------------------------------------------------ the days-supply copay bands


@pytest.mark.parametrize(
    ("days", "copay", "network"),
    [
        (1, 5_000, 333),  # band 1: 1× $50.00; network 1× 333
        (30, 5_000, 333),
        (34, 5_000, 333),
        (35, 10_000, 666),  # band 2: 2× → $100.00; network 333 × 2 = 666
        (60, 10_000, 666),
        (61, 12_500, 833),  # band 3: 2.5× → $125.00; network 333 × 2.5 = 832.5 → 833
        (90, 12_500, 833),
        (91, 5_000, 333),  # no band (adjudication rejects 7X first): 1×
    ],
)
def test_copay_multiplier_by_days_supply(days: int, copay: int, network: int) -> None:
    assert share(COPAY, 100_000, days=days, standard=True) == (0, copay, 0, network, 0, 0, 0)
    assert share(COPAY, 100_000, days=days) == (0, copay, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("days", "multiplier"), [(34, 10_000), (35, 20_000), (60, 20_000), (61, 25_000), (90, 25_000)]
)
def test_band_multiplier(days: int, multiplier: int) -> None:
    assert COPAY.band_multiplier_bp(days) == multiplier
    assert COPAY.band_multiplier_bp(91) is None


@pytest.mark.parametrize(
    ("rule", "cost", "days", "expected"),
    [
        # copay $50.00 of $52.00: the $3.33 network differential is cut to the $2.00 left
        (COPAY, 5_200, 30, (0, 5_000, 0, 200, 0, 0, 0)),
        # the copay is the lesser of copay and cost: $30.00; nothing left for the differential
        (COPAY, 3_000, 30, (0, 3_000, 0, 0, 0, 0, 0)),
        # non-preferred $2.00 × 2.5 = $5.00 on a 90-day fill: 12500 + 833 + 500 of 100000
        (
            replace(COPAY, non_preferred_extra_cents=200),
            100_000,
            90,
            (0, 12_500, 0, 833, 500, 0, 0),
        ),
        # non-preferred $10.00, cost $55.00: copay 5000, network 333, non-preferred 5500 − 5333
        (replace(COPAY, non_preferred_extra_cents=1_000), 5_500, 30, (0, 5_000, 0, 333, 167, 0, 0)),
        # non-preferred with coinsurance: 25% of $100.00 = $25.00, + $4.00 (1×)
        (
            replace(COINSURANCE, non_preferred_extra_cents=400),
            10_000,
            30,
            (0, 0, 2_500, 0, 400, 0, 0),
        ),
        # the standard differential with coinsurance: 2500 + 333 × 1 (default band)
        (
            replace(COINSURANCE, standard_network_extra_cents=333),
            10_000,
            30,
            (0, 0, 2_500, 333, 0, 0, 0),
        ),
        # coinsurance takes all of a $9.00 cost (minimum $10.00): no room for the differential
        (
            replace(COINSURANCE, standard_network_extra_cents=333),
            900,
            30,
            (0, 0, 900, 0, 0, 0, 0),
        ),
        # ... nor for the non-preferred amount
        (
            replace(COINSURANCE, non_preferred_extra_cents=400),
            900,
            30,
            (0, 0, 900, 0, 0, 0, 0),
        ),
        # a 1¢ cost: the copay is 1¢
        (COPAY, 1, 30, (0, 1, 0, 0, 0, 0, 0)),
        # a 1¢ cost, 25% of it rounds to 0¢ (no minimum): the differential takes the 1¢
        (
            replace(COINSURANCE, coinsurance_min_cents=0, standard_network_extra_cents=333),
            1,
            30,
            (0, 0, 0, 1, 0, 0, 0),
        ),
        # ... or the non-preferred amount does
        (
            replace(COINSURANCE, coinsurance_min_cents=0, non_preferred_extra_cents=400),
            1,
            30,
            (0, 0, 0, 0, 1, 0, 0),
        ),
        # a $100.00 non-preferred amount at 1×: exactly $100.00
        (
            replace(COPAY, non_preferred_extra_cents=10_000),
            100_000,
            30,
            (0, 5_000, 0, 333, 10_000, 0, 0),
        ),
    ],
)
def test_extras_never_exceed_the_cost(
    rule: CostShareRule, cost: int, days: int, expected: Result
) -> None:
    assert share(rule, cost, days=days, standard=True) == expected


# ------------------------------------------------------------------ the deductible

DEDUCTIBLE_COPAY = CostShareRule(CostShareKind.COPAY, copay_cents=1_000)
EMBEDDED = Limits(deductible_individual_cents=25_000, deductible_family_cents=50_000)


@pytest.mark.parametrize(
    ("limits", "met", "cost", "deductible", "copay"),
    [
        (EMBEDDED, Accumulators(), 10_000, 10_000, 0),  # all $100.00 inside the deductible
        (EMBEDDED, Accumulators(20_000, 20_000), 10_000, 5_000, 1_000),  # $50 individual left
        (EMBEDDED, Accumulators(0, 48_000), 10_000, 2_000, 1_000),  # $20 family left
        (EMBEDDED, Accumulators(24_000, 49_500), 10_000, 500, 1_000),  # family $5 < ind $10
        (EMBEDDED, Accumulators(25_000, 25_000), 10_000, 0, 1_000),  # individual met
        (EMBEDDED, Accumulators(0, 50_000), 10_000, 0, 1_000),  # family met
        (EMBEDDED, Accumulators(30_000, 30_000), 10_000, 0, 1_000),  # over-met: nothing left
        (Limits(), Accumulators(), 10_000, 0, 1_000),  # no deductible
        (Limits(deductible_family_cents=50_000), Accumulators(0, 49_000), 10_000, 1_000, 1_000),
        (Limits(deductible_individual_cents=0), Accumulators(), 10_000, 0, 1_000),
        # exactly the deductible left: all deductible, no copay
        (EMBEDDED, Accumulators(15_000, 15_000), 10_000, 10_000, 0),
    ],
)
def test_deductible_left_is_the_lesser_of_individual_and_family(
    limits: Limits, met: Accumulators, cost: int, deductible: int, copay: int
) -> None:
    assert share(DEDUCTIBLE_COPAY, cost, limits=limits, met=met) == (
        deductible,
        copay,
        0,
        0,
        0,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("rule_applies", "program", "deductible", "copay"),
    [
        (True, None, 10_000, 0),
        (False, None, 0, 1_000),
        # a program that bypasses the deductible (cap $500.00, not reached): copay only
        (True, Program("X", "g", 50_000), 0, 1_000),
        # a program that keeps the deductible
        (True, Program("X", "g", 50_000, deductible_applies=True), 10_000, 0),
        # the tier bypasses it: a program cannot bring it back
        (False, Program("X", "g", 50_000, deductible_applies=True), 0, 1_000),
    ],
)
def test_who_may_bypass_the_deductible(
    rule_applies: bool, program: Program | None, deductible: int, copay: int
) -> None:
    rule = replace(DEDUCTIBLE_COPAY, deductible_applies=rule_applies)
    got = share(rule, 10_000, limits=EMBEDDED, program=program)
    assert got == (deductible, copay, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("limit", "met", "left"), [(None, 0, None), (None, 500, None), (100, 30, 70), (100, 100, 0)]
)
def test_remaining(limit: int | None, met: int, left: int | None) -> None:
    assert remaining(limit, met) == left
    assert remaining(100, 130) == 0


# ------------------------------------------------------------------ program caps

PROGRAM = Program("INS", "insulin", 2_500)
TIER_COPAY = CostShareRule(
    CostShareKind.COPAY, copay_cents=4_000, deductible_applies=False, days_supply_bands=BANDS
)


@pytest.mark.parametrize(
    ("copay_30", "days", "months", "copay", "reduction"),
    [
        (4_000, 30, 1, 2_500, 1_500),  # $40.00 over the $25.00 cap: $15.00 off
        (4_000, 34, 1, 2_500, 1_500),
        (4_000, 35, 2, 5_000, 3_000),  # 2 × $40 = $80.00 over 2 × $25: $30.00 off
        (4_000, 60, 2, 5_000, 3_000),
        (4_000, 61, 3, 7_500, 2_500),  # 2.5 × $40 = $100.00 over 3 × $25 = $75: $25.00 off
        (4_000, 90, 3, 7_500, 2_500),
        (2_501, 30, 1, 2_500, 1),  # one cent over the cap
        (2_500, 30, 1, 2_500, 0),  # exactly the cap: nothing off
        (2_499, 30, 1, 2_499, 0),  # one cent under: nothing off
        (2_000, 30, 1, 2_000, 0),  # under the cap
        (2_000, 60, 2, 4_000, 0),  # 2 × $20 = $40 under 2 × $25
        (2_800, 90, 3, 7_000, 0),  # 2.5 × $28 = $70 under 3 × $25
        (3_200, 90, 3, 7_500, 500),  # 2.5 × $32 = $80 over $75
    ],
)
def test_program_cap_per_month_supplied(
    copay_30: int, days: int, months: int, copay: int, reduction: int
) -> None:
    rule = replace(TIER_COPAY, copay_cents=copay_30)
    got = share(rule, 100_000, days=days, months=months, program=PROGRAM)
    assert got == (0, copay, 0, 0, 0, 0, reduction)


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        # parts: deductible 1000, network 333, copay 4000 = 5333; the cap takes the copay first
        (2_500, (1_000, 1_167, 0, 333, 0, 0, 2_833)),  # 5333 − 2500 = 2833 off the copay
        (1_200, (1_000, 0, 0, 200, 0, 0, 4_133)),  # 4133: copay 4000, then 133 off the network
        (500, (500, 0, 0, 0, 0, 0, 4_833)),  # 4833: copay, network, then 500 of the deductible
        (0, (0, 0, 0, 0, 0, 0, 5_333)),  # a $0 program: everything off
        (6_000, (1_000, 4_000, 0, 333, 0, 0, 0)),  # under the cap: nothing off
    ],
)
def test_program_cap_takes_the_deductible_last(cap: int, expected: Result) -> None:
    rule = replace(TIER_COPAY, deductible_applies=True, standard_network_extra_cents=333)
    program = Program("X", "g", cap, deductible_applies=True)
    limits = Limits(deductible_individual_cents=1_000)
    assert share(rule, 100_000, standard=True, limits=limits, program=program) == expected


def test_program_cap_takes_coinsurance_before_non_preferred() -> None:
    """25% of $100.00 = $25.00 coinsurance + a $10.00 non-preferred amount = $35.00."""
    rule = replace(COINSURANCE, coinsurance_min_cents=0, non_preferred_extra_cents=1_000)
    # cap $30.00: $5.00 off, all from the coinsurance (last in the list): 2500 − 500 = 2000
    assert share(rule, 10_000, program=Program("X", "g", 3_000)) == (0, 0, 2_000, 0, 1_000, 0, 500)
    # cap $5.00: 3000 off: coinsurance 2500 → 0, then 500 off the non-preferred amount
    assert share(rule, 10_000, program=Program("X", "g", 500)) == (0, 0, 0, 0, 500, 0, 3_000)


# ------------------------------------------------------------------ out-of-pocket maximum

OOP = Limits(out_of_pocket_individual_cents=100_000, out_of_pocket_family_cents=200_000)


@pytest.mark.parametrize(
    ("limits", "met", "copay"),
    [
        (OOP, Accumulators(0, 0, 50_000, 100_000), 4_000),  # plenty left
        # individual not yet met ($500 left) but the family is nearly met ($10.00 left)
        (OOP, Accumulators(0, 0, 50_000, 199_000), 1_000),
        # individual not met, family met: nothing
        (OOP, Accumulators(0, 0, 50_000, 200_000), 0),
        (OOP, Accumulators(0, 0, 50_000, 250_000), 0),  # over-met family
        # individual nearly met ($10.00), family not
        (OOP, Accumulators(0, 0, 99_000, 120_000), 1_000),
        # both nearly met: the lesser ($5.00 family vs $10.00 individual)
        (OOP, Accumulators(0, 0, 99_000, 199_500), 500),
        # exactly the copay left: all of it
        (OOP, Accumulators(0, 0, 96_000, 100_000), 4_000),
        # one cent short
        (OOP, Accumulators(0, 0, 96_001, 100_000), 3_999),
        (Limits(), Accumulators(0, 0, 999_999, 999_999), 4_000),  # no maximum
        (Limits(out_of_pocket_family_cents=200_000), Accumulators(0, 0, 0, 199_000), 1_000),
        (Limits(out_of_pocket_individual_cents=100_000), Accumulators(0, 0, 99_000, 0), 1_000),
    ],
)
def test_out_of_pocket_maximum_individual_and_family(
    limits: Limits, met: Accumulators, copay: int
) -> None:
    assert share(TIER_COPAY, 100_000, limits=limits, met=met) == (0, copay, 0, 0, 0, 0, 0)


def test_out_of_pocket_cap_after_a_program_cap_and_before_the_brand_penalty() -> None:
    """Copay $40.00 capped by the program at $25.00 (reduction $15.00), then by the $10.00
    family OOP left; the $30.00 brand penalty is outside the OOP."""
    met = Accumulators(0, 0, 50_000, 199_000)
    got = share(TIER_COPAY, 100_000, limits=OOP, met=met, program=PROGRAM, penalty=3_000)
    assert got == (0, 1_000, 0, 0, 0, 3_000, 1_500)


def test_out_of_pocket_cap_takes_the_deductible_last() -> None:
    """Deductible $10.00 + copay $40.00 = $50.00 with $15.00 OOP left: $35.00 off the copay."""
    rule = replace(TIER_COPAY, deductible_applies=True)
    limits = replace(OOP, deductible_individual_cents=1_000)
    got = share(rule, 100_000, limits=limits, met=Accumulators(0, 0, 98_500, 0))
    assert got == (1_000, 500, 0, 0, 0, 0, 0)
    # $5.00 left: the copay goes, then $5.00 off the deductible
    got = share(rule, 100_000, limits=limits, met=Accumulators(0, 0, 99_500, 0))
    assert got == (500, 0, 0, 0, 0, 0, 0)


def test_share_totals() -> None:
    s = ShareBreakdown(1, 2, 4, 8, 16, 32, 64)  # deductible, copay, coinsurance, network,
    # brand penalty, program reduction, non-preferred
    assert s.counted_toward_out_of_pocket_cents == 1 + 2 + 4 + 8 + 64  # 79
    assert s.member_responsibility_cents == 79 + 16  # 95


def test_a_share_outside_zero_and_the_cost_is_a_bug() -> None:
    """A negative cost cannot be shared: the invariant guard raises."""
    with pytest.raises(InvariantViolation, match=r"^member share outside \[0, cost\]$"):
        share(TIER_COPAY, -1)


# ------------------------------------------------------------------ through adjudication


def insulin_plan(copay_30: int) -> ReferenceSnapshot:
    """The fixture plan with a 1×/2×/3× banded tier 2 copay of ``copay_30`` per 30 days."""
    bands = (DaysSupplyBand(34, 10_000), DaysSupplyBand(60, 20_000), DaysSupplyBand(90, 30_000))
    tier = replace(PLAN.tiers[2], copay_cents=copay_30, days_supply_bands=bands)
    plan = replace(PLAN, tiers={**PLAN.tiers, 2: tier})
    return ReferenceSnapshot.build(
        "banded",
        [plan],
        list(SNAPSHOT.drugs.values()),
        list(SNAPSHOT.formulary.values()),
        list(SNAPSHOT.pharmacies.values()),
    )


@pytest.mark.parametrize(
    ("copay_30", "days", "patient_pay", "capped"),
    [
        # INSULIN 10 units: AWP $400 − 20% + $1 = $321.00; tier 2 copay × band; $25 a month
        (4_000, 35, 5_000, True),  # 2 × $40 = $80 → 2 months × $25 = $50
        (4_000, 60, 5_000, True),
        (4_000, 61, 7_500, True),  # 3 × $40 = $120 → 3 × $25 = $75
        (4_000, 90, 7_500, True),
        (2_000, 30, 2_000, False),  # $20 under the $25 cap: no message, nothing off
        (2_500, 30, 2_500, False),  # exactly the cap
        (2_000, 60, 4_000, False),  # 2 × $20 = $40 under $50
        (2_400, 90, 7_200, False),  # 3 × $24 = $72 under $75
        (2_600, 90, 7_500, True),  # 3 × $26 = $78 over $75
    ],
)
def test_insulin_cap_over_30_days_and_under_the_cap(
    copay_30: int, days: int, patient_pay: int, capped: bool
) -> None:
    request = claim(INSULIN, quantity_dispensed_thousandths=10_000, days_supply=days)
    decision = adjudicate(
        request,
        insulin_plan(copay_30),
        state(purses=()),
        authorization_number="A",
        internal_control_number="I",
    )
    assert isinstance(decision, Paid), decision.response.rejects
    p = decision.response.pricing
    assert p is not None
    assert (p.amount_of_copay_cents, p.patient_pay_amount_cents) == (patient_pay, patient_pay)
    assert p.plan_paid_cents == 32_100 - patient_pay
    expected_messages = ("INS25: member cost capped",) if capped else ()
    assert decision.response.additional_messages == expected_messages
