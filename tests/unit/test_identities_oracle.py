"""The NCPDP identities of every paid response, checked by an oracle written out here by hand.

`adjudication.check_identities` is the code under test, so it is never used as the oracle: each
identity of the README's "Every paid response satisfies, exactly" list is spelled out field by
field below, the purse total comes from the purse lines (not from 129-UD), and the ledger entry
(an independent output of the adjudication) must carry the same amounts. Then a handful of claims
whose every amount was worked out on paper (the arithmetic is in each case's comment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.domain.adjudication import Paid, adjudicate
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.member import (
    Accumulators,
    Coverage,
    MemberState,
    PriorAuthorization,
    PurseState,
)
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.tools.synthetic.plans import plan_documents as _plans
from tests.unit.domain_fixtures import (
    BRAND,
    GENERIC,
    INSULIN,
    PLAN,
    PRESCRIBER_NPI,
    SPECIALTY,
    claim,
    state,
    with_header,
)

# The test plan of domain_fixtures with a $15 standard-network differential (133-UJ) on tier 2
# too, plus a non-preferred tier 3 (135-UM/136-UN): a $55 copay, $25 non-preferred amount and a
# $15 standard-network differential per 30 days.
COMMERCIAL = replace(
    PLAN,
    tiers={
        **PLAN.tiers,
        2: replace(PLAN.tiers[2], standard_network_extra_cents=1_500),
        3: CostShareRule(
            CostShareKind.COPAY,
            copay_cents=5_500,
            non_preferred_extra_cents=2_500,
            standard_network_extra_cents=1_500,
        ),
    },
)
PART_D = plan_from_document(next(p for p in _plans() if p["plan_id"] == "PARTD-STD-2026"), "part d")
NP_BRAND = Drug(  # single-source brand on tier 3: $20.00 AWP a unit
    "00000000020",
    "np brand",
    "mol-np",
    "cardio",
    True,
    None,
    False,
    awp_unit_price_millicents=2_000_000,
)
NP_GENERIC = Drug(  # generic on tier 3: $20.00 AWP, $15.00 MAC a unit
    "00000000021",
    "np generic",
    "mol-npg",
    "neuro",
    False,
    None,
    False,
    awp_unit_price_millicents=2_000_000,
    mac_unit_price_millicents=1_500_000,
)
DRUGS = (GENERIC, BRAND, INSULIN, SPECIALTY, NP_BRAND, NP_GENERIC)
TIERS = {
    GENERIC.ndc: 1,
    BRAND.ndc: 2,
    INSULIN.ndc: 2,
    SPECIALTY.ndc: 4,
    NP_BRAND.ndc: 3,
    NP_GENERIC.ndc: 3,
}
SNAPSHOT = ReferenceSnapshot.build(
    "oracle",
    [COMMERCIAL, PART_D],
    list(DRUGS),
    [
        FormularyEntry(plan.plan_id, drug.ndc, FormularyStatus.COVERED, TIERS[drug.ndc])
        for plan in (COMMERCIAL, PART_D)
        for drug in DRUGS
    ],
    [
        Pharmacy("1000000001", "pref", PharmacyNetwork.PREFERRED, "retail"),
        Pharmacy("1000000002", "std", PharmacyNetwork.STANDARD, "retail"),
    ],
)
PREFERRED, STANDARD = "1000000001", "1000000002"
YEAR = dt.date(2026, 1, 1)
SPECIALTY_PA = PriorAuthorization(None, "specialty", YEAR, dt.date(2026, 12, 31), "PA1")


def member(
    line_of_business: str, accumulators: Accumulators, purse_cents: int | None
) -> MemberState:
    plan = PART_D if line_of_business == "MEDICARE_PART_D" else COMMERCIAL
    return state(
        coverages=(Coverage(plan.plan_id, "G1", YEAR, None, None, line_of_business),),
        accumulators={(plan.plan_id, YEAR): accumulators},
        purses=() if purse_cents is None else (PurseState("HRA-F1", "HRA", purse_cents),),
        prior_authorizations=(SPECIALTY_PA,),
    )


def request_for(line_of_business: str, drug: Drug, **overrides: Any) -> ClaimRequest:
    request = claim(drug, **({"prescriber_id": PRESCRIBER_NPI} | overrides))
    if line_of_business == "MEDICARE_PART_D":
        request = with_header(request, bin=PART_D.bin, processor_control_number=PART_D.pcn)
    return request


def decide(request: ClaimRequest, member_state: MemberState) -> Paid:
    decision = adjudicate(
        request, SNAPSHOT, member_state, authorization_number="A1", internal_control_number="I1"
    )
    assert isinstance(decision, Paid), decision.response.rejects
    return decision


def assert_ncpdp_identities(decision: Paid, request: ClaimRequest, *, part_d: bool) -> None:
    """The README's identities, each written out field by field."""
    p = decision.response.pricing
    assert p is not None
    f5 = p.patient_pay_amount_cents  # 505-F5
    ud = p.health_plan_funded_assistance_amount_cents  # 129-UD
    purse_total = sum(line.paid_cents for line in decision.response.purses)

    # 509-F9 = 506-F6 + 507-F7 − 505-F5
    assert p.total_amount_paid_cents == (
        p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents - f5
    )
    # 505-F5 = 517-FH + 518-FI + 572-4U + 520-FK + 133-UJ + 134-UK + 135-UM + 136-UN + 129-UD
    assert f5 == (
        p.amount_applied_to_periodic_deductible_cents  # 517-FH
        + p.amount_of_copay_cents  # 518-FI
        + p.amount_of_coinsurance_cents  # 572-4U
        + (p.amount_exceeding_periodic_benefit_maximum_cents or 0)  # 520-FK (None: not sent)
        + p.amount_attributed_to_provider_network_selection_cents  # 133-UJ
        + p.amount_attributed_to_product_selection_brand_cents  # 134-UK
        + p.amount_attributed_to_non_preferred_formulary_cents  # 135-UM
        + p.amount_attributed_to_brand_non_preferred_formulary_cents  # 136-UN
        + ud  # 129-UD
    )
    assert ud <= 0
    assert -ud == purse_total  # 129-UD is what the purse lines paid, with its sign flipped
    # plan paid + Σ purses + 505-F5 = allowed
    assert p.plan_paid_cents + purse_total + f5 == p.allowed_amount_cents
    assert 0 <= f5 <= p.allowed_amount_cents
    assert p.plan_paid_cents >= 0
    assert all(line.paid_cents > 0 for line in decision.response.purses)
    # Σ 394-MW = allowed (Part D); no stages otherwise
    if part_d:
        assert p.benefit_stages
        assert sum(amount for _, amount in p.benefit_stages) == p.allowed_amount_cents
        assert all(amount > 0 for _, amount in p.benefit_stages)
    else:
        assert p.benefit_stages == ()

    # The ledger entry is a second, independent output: it must carry the same amounts.
    postings: dict[str, int] = {}
    for posting in decision.entry.postings:
        postings[posting.account] = postings.get(posting.account, 0) + posting.amount_cents
    assert sum(postings.values()) == 0
    plan_id = decision.response.plan_id
    assert postings.get(f"plan:{plan_id}", 0) == -p.plan_paid_cents
    assert postings.get(f"member_paid:{decision.member_id}", 0) == -f5
    npi = request.header.service_provider_id
    assert postings.get(f"pharmacy_payable:{npi}", 0) == p.total_amount_paid_cents  # 509-F9
    assert postings.get(f"pharmacy_collected:{npi}", 0) == f5
    purse_postings = {a: v for a, v in postings.items() if a.startswith("purse:")}
    assert purse_postings == {
        f"purse:{line.purse_id}": -line.paid_cents for line in decision.response.purses
    }
    for line in decision.response.purses:
        assert (line.purse_id, -line.paid_cents) in {
            (m.purse_id, m.amount_cents) for m in decision.purse_moves
        }


def _adjudicate_and_check(
    line_of_business: str,
    drug: Drug,
    *,
    quantity: int,
    days: int,
    daw: int,
    pharmacy: str,
    accumulators: Accumulators,
    purse: int | None,
    uc_percent: int,
    gross_percent: int,
) -> Paid | None:
    request = request_for(
        line_of_business,
        drug,
        quantity_dispensed_thousandths=quantity,
        days_supply=days,
        dispense_as_written=daw,
        service_provider_id=pharmacy,
    )
    ingredient = request.gross_amount_due_cents * gross_percent // 100
    request = replace(
        request,
        ingredient_cost_submitted_cents=ingredient,
        dispensing_fee_submitted_cents=0,
        gross_amount_due_cents=ingredient,
        usual_and_customary_charge_cents=max(1, request.gross_amount_due_cents * uc_percent // 100),
    )
    if request.gross_amount_due_cents <= 0:
        return None
    decision = adjudicate(
        request,
        SNAPSHOT,
        member(line_of_business, accumulators, purse),
        authorization_number="A1",
        internal_control_number="I1",
    )
    if not isinstance(decision, Paid):
        # the only reject these inputs can meet: a days supply beyond the tier's bands
        assert [r.code.value for r in decision.response.rejects] == ["7X"]
        assert days > 34
        return None
    assert_ncpdp_identities(decision, request, part_d=line_of_business == "MEDICARE_PART_D")
    return decision


@settings(max_examples=400, deadline=None)
@given(
    line_of_business=st.sampled_from(["COMMERCIAL", "MEDICARE_PART_D"]),
    drug=st.sampled_from(DRUGS),
    quantity=st.one_of(st.integers(1, 90_000), st.integers(1, 90).map(lambda units: units * 1_000)),
    days=st.one_of(st.integers(1, 34), st.integers(1, 90)),
    daw=st.one_of(st.sampled_from([0, 1, 2]), st.integers(0, 9)),
    pharmacy=st.sampled_from([PREFERRED, STANDARD]),
    deductible=st.one_of(st.sampled_from([0, 25_000, 61_500]), st.integers(0, 70_000)),
    out_of_pocket=st.one_of(st.sampled_from([0, 99_000, 209_000]), st.integers(0, 260_000)),
    purse=st.one_of(st.none(), st.integers(0, 100_000)),
    uc_percent=st.integers(1, 400),
    gross_percent=st.integers(50, 200),
)
def test_every_paid_response_satisfies_the_identities(
    line_of_business: str,
    drug: Drug,
    quantity: int,
    days: int,
    daw: int,
    pharmacy: str,
    deductible: int,
    out_of_pocket: int,
    purse: int | None,
    uc_percent: int,
    gross_percent: int,
) -> None:
    """Any payable claim, commercial or Part D, any accumulators, purse, U&C and gross amount."""
    _adjudicate_and_check(
        line_of_business,
        drug,
        quantity=quantity,
        days=days,
        daw=daw,
        pharmacy=pharmacy,
        accumulators=Accumulators(deductible, deductible, out_of_pocket, out_of_pocket),
        purse=purse,
        uc_percent=uc_percent,
        gross_percent=gross_percent,
    )


@settings(max_examples=200, deadline=None)
@given(
    drug=st.sampled_from(DRUGS),
    units=st.integers(20, 90),
    days=st.integers(1, 34),
    daw=st.sampled_from([0, 1, 2]),
    pharmacy=st.sampled_from([PREFERRED, STANDARD]),
    out_of_pocket=st.integers(0, 100_000),
    purse=st.one_of(st.none(), st.integers(0, 20_000)),
)
def test_paid_responses_after_the_deductible_satisfy_the_identities(
    drug: Drug,
    units: int,
    days: int,
    daw: int,
    pharmacy: str,
    out_of_pocket: int,
    purse: int | None,
) -> None:
    """Commercial claims once the deductible is met, at prices where the copay leaves room:
    the network differential (133-UJ), brand penalty (134-UK) and non-preferred amounts
    (135-UM/136-UN) all appear, so each term of 505-F5 is exercised, not only the deductible."""
    decision = _adjudicate_and_check(
        "COMMERCIAL",
        drug,
        quantity=units * 1_000,
        days=days,
        daw=daw,
        pharmacy=pharmacy,
        accumulators=Accumulators(25_000, 25_000, out_of_pocket, out_of_pocket),
        purse=purse,
        uc_percent=300,
        gross_percent=100,
    )
    assert decision is not None


@dataclass(frozen=True)
class Expected:
    allowed: int
    f6: int  # 506-F6
    f7: int  # 507-F7
    basis: str  # 522-FM
    fh: int = 0  # 517-FH deductible
    fi: int = 0  # 518-FI copay
    u4: int = 0  # 572-4U coinsurance
    uj: int = 0  # 133-UJ network
    uk: int = 0  # 134-UK brand penalty
    um: int = 0  # 135-UM non-preferred generic
    un: int = 0  # 136-UN non-preferred brand
    ud: int = 0  # 129-UD (<= 0)
    f5: int = 0  # 505-F5 patient pay
    plan: int = 0
    f9: int = 0  # 509-F9
    stages: tuple[tuple[str, int], ...] = ()


# Each request is domain_fixtures.claim(): 30 days, submitted ingredient = quantity × AWP,
# fee $2.00, gross = ingredient + $2.00, U&C = 2 × ingredient + $2.00 (so the contract wins).
# P1 preferred: AWP − 20% + $1.00 fee, MAC for generics; standard: AWP − 15% + $0.75.
HAND_CASES = [
    pytest.param(
        # GENERIC 150 units at the standard pharmacy, no purse.
        # MAC 150 × $0.12 = $18.00; AWP 150 × $1.00 × 85% = $127.50 → MAC (07) + $0.75 = $18.75.
        # Tier 1 (no deductible): copay $10.00; the standard differential $5.00 ≤ $18.75 − $10.
        # Member $15.00, plan $18.75 − $15.00 = $3.75 = 509-F9 (1800 + 75 − 1500).
        "COMMERCIAL",
        GENERIC,
        {"quantity_dispensed_thousandths": 150_000, "service_provider_id": STANDARD},
        Accumulators(),
        None,
        Expected(1_875, 1_800, 75, "07", fi=1_000, uj=500, f5=1_500, plan=375, f9=375),
        id="generic-standard-copay-plus-network",
    ),
    pytest.param(
        # BRAND 30 units preferred, nothing met, HRA $50.00 (tier 2 is allowed).
        # AWP 30 × $10.00 = $300.00 × 80% = $240.00 + $1.00 = $241.00 (03).
        # Deductible $250.00 left ≥ $241.00: all of it is deductible; HRA pays $50.00;
        # member $191.00; plan $0; 509-F9 = 24000 + 100 − 19100 = 5000 (the HRA's money).
        "COMMERCIAL",
        BRAND,
        {},
        Accumulators(),
        5_000,
        Expected(24_100, 24_000, 100, "03", fh=24_100, ud=-5_000, f5=19_100, plan=0, f9=5_000),
        id="brand-inside-deductible-hra-pays-part",
    ),
    pytest.param(
        # BRAND DAW 1 (multi-source): the member's share is priced on the generic: MAC $3.60
        # + $1.00 = $4.60 at tier 1 → copay min($10, $4.60) = $4.60; brand penalty
        # 134-UK = $241.00 − $4.60 = $236.40. Deductible met, OOP $300 of $1,000.
        # Responsibility $241.00; HRA $50.00 → member $191.00; plan $0; 509-F9 = 5000.
        "COMMERCIAL",
        BRAND,
        {"dispense_as_written": 1},
        Accumulators(25_000, 25_000, 30_000, 30_000),
        5_000,
        Expected(
            24_100, 24_000, 100, "03", fi=460, uk=23_640, ud=-5_000, f5=19_100, plan=0, f9=5_000
        ),
        id="brand-daw1-penalty",
    ),
    pytest.param(
        # SPECIALTY 1 unit ($500.00 AWP), PA on file, $200.00 of the $250 deductible met.
        # AWP $500.00 × 80% = $400.00 + $1.00 = $401.00 (03). Deductible $50.00; rest $351.00;
        # 25% = $87.75, below the $100.00 minimum → $100.00. Tier 4 is not HRA-eligible.
        # Member $150.00; plan $401.00 − $150.00 = $251.00 = 509-F9.
        "COMMERCIAL",
        SPECIALTY,
        {"quantity_dispensed_thousandths": 1_000},
        Accumulators(20_000, 20_000, 20_000, 20_000),
        5_000,
        Expected(40_100, 40_000, 100, "03", fh=5_000, u4=10_000, f5=15_000, plan=25_100, f9=25_100),
        id="specialty-deductible-then-coinsurance-minimum",
    ),
    pytest.param(
        # NP_BRAND 30 units preferred, deductible met: AWP 30 × $20 = $600 × 80% = $480 + $1 =
        # $481.00. Tier 3: copay $55.00 + non-preferred brand (136-UN) $25.00 = $80.00.
        # Plan $401.00 = 509-F9 (48000 + 100 − 8000).
        "COMMERCIAL",
        NP_BRAND,
        {},
        Accumulators(25_000, 25_000, 30_000, 30_000),
        None,
        Expected(48_100, 48_000, 100, "03", fi=5_500, un=2_500, f5=8_000, plan=40_100, f9=40_100),
        id="non-preferred-brand-136-UN",
    ),
    pytest.param(
        # NP_GENERIC 30 units standard, deductible met: MAC 30 × $15 = $450.00 beats
        # AWP $600 × 85% = $510; + $0.75 = $450.75 (07). Tier 3: copay $55.00, network $15.00,
        # non-preferred generic (135-UM) $25.00 = $95.00. Plan $355.75 = 509-F9.
        "COMMERCIAL",
        NP_GENERIC,
        {"service_provider_id": STANDARD},
        Accumulators(25_000, 25_000, 30_000, 30_000),
        None,
        Expected(
            45_075, 45_000, 75, "07", fi=5_500, uj=1_500, um=2_500, f5=9_500, plan=35_575, f9=35_575
        ),
        id="non-preferred-generic-135-UM",
    ),
    pytest.param(
        # OOP nearly met: BRAND, deductible met, $995.00 of the $1,000 OOP met: the $40 copay
        # is capped at the $5.00 left. HRA $50 pays the $5.00. Plan $236.00; 509-F9 = 24100.
        "COMMERCIAL",
        BRAND,
        {},
        Accumulators(25_000, 25_000, 99_500, 99_500),
        5_000,
        Expected(24_100, 24_000, 100, "03", fi=500, ud=-500, f5=0, plan=23_600, f9=24_100),
        id="brand-oop-cap",
    ),
    pytest.param(
        # Part D, BRAND 30 units ($10.00 AWP) preferred: AWP $300.00 × 81% = $243.00 + $0.50
        # = $243.50 (03). Nothing met: the $615 deductible takes all $243.50 (stage 01).
        "MEDICARE_PART_D",
        BRAND,
        {},
        Accumulators(),
        None,
        Expected(24_350, 24_300, 50, "03", fh=24_350, f5=24_350, stages=(("01", 24_350),)),
        id="part-d-deductible-stage",
    ),
    pytest.param(
        # Part D crossing the $2,100 threshold: deductible met, $2,000 OOP met ($100 left).
        # 90 units: AWP 90 × $10 = $900 × 81% = $729.00 + $0.50 = $729.50.
        # 25% = $182.375 → $182.38, capped at the $100.00 left. Stage 02 (initial) is the cost
        # whose 25% is $100: $100 / 25% = $400.00; the remaining $329.50 is 04 (catastrophic).
        # Plan $629.50 = 509-F9 (72900 + 50 − 10000).
        "MEDICARE_PART_D",
        BRAND,
        {"quantity_dispensed_thousandths": 90_000, "days_supply": 90},
        Accumulators(61_500, 61_500, 200_000, 200_000),
        None,
        Expected(
            72_950,
            72_900,
            50,
            "03",
            u4=10_000,
            f5=10_000,
            plan=62_950,
            f9=62_950,
            stages=(("02", 40_000), ("04", 32_950)),
        ),
        id="part-d-threshold-split",
    ),
]


@pytest.mark.parametrize(
    ("line_of_business", "drug", "overrides", "accumulators", "purse", "expected"), HAND_CASES
)
def test_hand_computed_claims(
    line_of_business: str,
    drug: Drug,
    overrides: dict[str, Any],
    accumulators: Accumulators,
    purse: int | None,
    expected: Expected,
) -> None:
    """Every amount of these claims was worked out on paper (see each case's comment)."""
    request = request_for(line_of_business, drug, **overrides)
    decision = decide(request, member(line_of_business, accumulators, purse))
    p = decision.response.pricing
    assert p is not None
    got = Expected(
        allowed=p.allowed_amount_cents,
        f6=p.ingredient_cost_paid_cents,
        f7=p.dispensing_fee_paid_cents,
        basis=p.basis_of_reimbursement_determination,
        fh=p.amount_applied_to_periodic_deductible_cents,
        fi=p.amount_of_copay_cents,
        u4=p.amount_of_coinsurance_cents,
        uj=p.amount_attributed_to_provider_network_selection_cents,
        uk=p.amount_attributed_to_product_selection_brand_cents,
        um=p.amount_attributed_to_non_preferred_formulary_cents,
        un=p.amount_attributed_to_brand_non_preferred_formulary_cents,
        ud=p.health_plan_funded_assistance_amount_cents,
        f5=p.patient_pay_amount_cents,
        plan=p.plan_paid_cents,
        f9=p.total_amount_paid_cents,
        stages=p.benefit_stages,
    )
    assert got == expected
    assert p.amount_exceeding_periodic_benefit_maximum_cents in (0, None)  # no benefit maximum
    assert_ncpdp_identities(decision, request, part_d=line_of_business == "MEDICARE_PART_D")
