"""A year of claims for one Part D member under the synthetic 2026 defined standard plan,
checked against the CMS parameters with an independent oracle: $615 deductible, 25% until
$2,100 of out-of-pocket cost, then $0; covered insulin at most $35 a month, no deductible."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.domain.accumulators import apply_moves
from rx_gateway.domain.adjudication import Paid, adjudicate
from rx_gateway.domain.member import Accumulators, Coverage
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.tools.synthetic.plans import plan_documents as _plans
from tests.unit.domain_fixtures import INSULIN, PRESCRIBER_NPI, claim, state, with_header

PLAN = plan_from_document(next(p for p in _plans() if p["plan_id"] == "PARTD-STD-2026"), "part d")
BRAND = Drug(
    "00000000010",
    "brand",
    "mol-b",
    "cardio",
    True,
    None,
    False,
    awp_unit_price_millicents=2_500_000,
)
SNAPSHOT = ReferenceSnapshot.build(
    "1",
    [PLAN],
    [BRAND, INSULIN],
    [FormularyEntry(PLAN.plan_id, d.ndc, FormularyStatus.COVERED, 2) for d in (BRAND, INSULIN)],
    [Pharmacy("1000000001", "pref", PharmacyNetwork.PREFERRED, "retail")],
)
YEAR_START = dt.date(2026, 1, 1)


def quarter(cents: int) -> int:
    return int((Decimal(cents) * Decimal("0.25")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_a_year_of_part_d_claims_follows_the_cms_parameters() -> None:
    member = state(
        coverages=(Coverage(PLAN.plan_id, "G1", YEAR_START, None, None, "MEDICARE_PART_D"),),
        purses=(),
    )
    accumulators = Accumulators()
    deductible_left, out_of_pocket_left = 61_500, 210_000
    crossed = False
    for month in range(1, 13):
        for drug, quantity in ((BRAND, 30_000), (INSULIN, 10_000)):
            request = with_header(
                claim(drug, quantity_dispensed_thousandths=quantity, prescriber_id=PRESCRIBER_NPI),
                bin=PLAN.bin,
                processor_control_number=PLAN.pcn,
                date_of_service=f"2026{month:02d}05",
                prescription_reference_number=f"{month}{drug.ndc[-2:]}",
            )
            decision = adjudicate(
                request,
                SNAPSHOT,
                replace(member, accumulators={(PLAN.plan_id, YEAR_START): accumulators}),
                authorization_number="A",
                internal_control_number="I",
                business_date=dt.date(2026, 12, 31),
            )
            assert isinstance(decision, Paid), decision
            p = decision.response.pricing
            assert p is not None
            cost = p.allowed_amount_cents
            # the oracle
            if drug is INSULIN:
                deductible, share = 0, min(quarter(cost), 3_500)
            else:
                deductible = min(cost, deductible_left)
                share = deductible + quarter(cost - deductible)
            share = min(share, out_of_pocket_left)
            deductible = min(deductible, share)
            assert p.patient_pay_amount_cents == share, (month, drug.name)
            assert p.amount_applied_to_periodic_deductible_cents == deductible
            assert sum(a for _, a in p.benefit_stages) == cost
            if drug is INSULIN:
                assert p.patient_pay_amount_cents <= 3_500
                assert p.amount_applied_to_periodic_deductible_cents == 0
            if out_of_pocket_left == 0:
                assert p.patient_pay_amount_cents == 0
                assert [q for q, _ in p.benefit_stages] == ["04"]
            elif share == out_of_pocket_left and drug is BRAND:
                assert [q for q, _ in p.benefit_stages][-1] == "04"
                crossed = True
            deductible_left -= deductible
            out_of_pocket_left -= share
            accumulators = apply_moves(accumulators, decision.accumulator_moves)
    assert accumulators.deductible_individual_cents == 61_500
    assert accumulators.out_of_pocket_individual_cents == 210_000
    assert crossed
