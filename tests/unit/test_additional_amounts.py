"""Other amounts, sales taxes and the incentive (issue 15): the full 430-DU and 509-F9
identities, on the worked example of shared/reference/switch-claims.md §6, computed by hand."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.additional_amounts import AdditionalAmounts, OtherAmount
from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.money import divide
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    NetworkPricing,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from tests.unit.domain_fixtures import PLAN, SNAPSHOT, claim, state

# AWP $3.75 a unit: 30 units at AWP − 20% = $90.00, plus a $1.50 fee: $91.50 allowed for the
# drug, a $10.00 copay (tier 1, no deductible).
TAXED = Drug(
    "00000000009", "taxed", "mol-t", "misc", False, None, False, awp_unit_price_millicents=375_000
)
WORKED = AdditionalAmounts(
    incentive_cents=100,  # 438-E3 1.00
    other_amounts=(OtherAmount("01", 300),),  # 478-H7 1, 479-H8 01 delivery, 480-H9 3.00
    flat_sales_tax_cents=25,  # 481-HA 0.25
    percentage_sales_tax_cents=612,  # 482-GE 6% of 102.00
    percentage_sales_tax_rate=60_000,  # 483-HE 6.0000%
    percentage_sales_tax_basis="03",  # 484-JE ingredient + fee
)


def _snapshot(sales_tax: str) -> ReferenceSnapshot:
    network = NetworkPricing(
        awp_discount_bp=2_000,
        use_mac=False,
        dispensing_fee_cents=150,
        sales_tax=sales_tax,
        incentive_paid_max_cents=100,
        other_amounts_paid_max_cents={"01": 500},
    )
    plan = replace(PLAN, networks={PharmacyNetwork.PREFERRED: network})
    return ReferenceSnapshot.build(
        "7",
        [plan],
        [*SNAPSHOT.drugs.values(), TAXED],
        [*SNAPSHOT.formulary.values(), FormularyEntry("P1", TAXED.ndc, FormularyStatus.COVERED, 1)],
        list(SNAPSHOT.pharmacies.values()),
    )


def _worked(amounts: AdditionalAmounts = WORKED, **overrides: Any) -> Any:
    return claim(
        TAXED,
        ingredient_cost_submitted_cents=10_000,  # 409-D9 100.00
        dispensing_fee_submitted_cents=200,  # 412-DC 2.00
        usual_and_customary_charge_cents=20_000,
        gross_amount_due_cents=10_200 + amounts.total_cents,  # 430-DU 112.37
        additional_amounts=amounts,
        **overrides,
    )


def _decide(request: Any, sales_tax: str = "plan") -> Paid | Rejected:
    return adjudicate(
        request,
        _snapshot(sales_tax),
        state(purses=()),
        authorization_number="A",
        internal_control_number="I",
    )


def test_the_worked_example_pays_taxes_incentive_and_delivery() -> None:
    """DU = 100.00 + 2.00 + 0.25 + 6.12 + 1.00 + 3.00 = 112.37. Paid: F6 90.00, F7 1.50, AW 0.25,
    AX 6% × 91.50 = 5.49, FL 1.00, J4 3.00, F5 10.00 → F9 = 91.24."""
    assert _worked().gross_amount_due_cents == 11_237
    decision = _decide(_worked())
    assert isinstance(decision, Paid), decision.response.rejects
    p = decision.response.pricing
    assert p is not None
    assert (p.ingredient_cost_paid_cents, p.dispensing_fee_paid_cents) == (9_000, 150)
    assert p.flat_sales_tax_amount_paid_cents == 25
    assert p.percentage_sales_tax_amount_paid_cents == 549
    assert (p.percentage_sales_tax_rate_paid, p.percentage_sales_tax_basis_paid) == (60_000, "03")
    assert p.incentive_amount_paid_cents == 100
    assert p.other_amounts_paid == (("01", 300),)
    assert p.patient_pay_amount_cents == 1_000
    assert p.total_amount_paid_cents == 9_124
    assert p.plan_sales_tax_amount_cents == 574 and p.amount_attributed_to_sales_tax_cents == 0
    assert p.allowed_amount_cents == p.plan_paid_cents + p.patient_pay_amount_cents == 10_124
    assert sum(posting.amount_cents for posting in decision.entry.postings) == 0


@pytest.mark.parametrize(
    ("billed", "rate", "paid"),
    [
        (612, 60_000, 549),  # the worked example: 6% of the 91.50 paid, under the 6.12 billed
        (1, 1_000_000, 1),  # 100% of 91.50 by the rate, but one cent billed: one cent
        (300, 1_000_000, 300),
        (549, 60_000, 549),  # exactly what the rate gives
        (548, 60_000, 548),
    ],
)
def test_the_percentage_tax_paid_is_never_more_than_billed(
    billed: int, rate: int, paid: int
) -> None:
    """559-AX is 483-HE on the paid basis (561-AZ), at most the 482-GE the pharmacy billed:
    a rate that disagrees with the amount billed cannot pay the pharmacy more than its
    430-DU (found by fuzzing: 1 cent of tax billed at 100% paid $3.00 on a $3.01 claim)."""
    amounts = replace(WORKED, percentage_sales_tax_cents=billed, percentage_sales_tax_rate=rate)
    decision = _decide(_worked(amounts))
    assert isinstance(decision, Paid), decision.response.rejects
    p = decision.response.pricing
    assert p is not None
    assert p.percentage_sales_tax_amount_paid_cents == paid
    # 560-AY on 561-AZ's basis (F6 + F7 = 91.50) gives 559-AX, to the cent, capped or not
    assert divide(p.percentage_sales_tax_rate_paid * 9_150, 1_000_000) == paid
    assert p.percentage_sales_tax_rate_paid <= rate
    assert (
        p.total_amount_paid_cents + p.patient_pay_amount_cents
        <= _worked(amounts).gross_amount_due_cents
    )
    assert sum(posting.amount_cents for posting in decision.entry.postings) == 0


def test_when_the_patient_owes_the_tax_it_is_inside_505_f5() -> None:
    """F5 = 10.00 + 5.74 = 15.74 with 523-FN = 575-EQ = 5.74; F9 = 85.50."""
    decision = _decide(_worked(), sales_tax="patient")
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert p.patient_pay_amount_cents == 1_574
    assert p.amount_attributed_to_sales_tax_cents == p.patient_sales_tax_amount_cents == 574
    assert p.plan_sales_tax_amount_cents == 0
    assert p.total_amount_paid_cents == 8_550


def test_a_tax_exempt_plan_pays_no_tax_and_says_so() -> None:
    decision = _decide(_worked(), sales_tax="exempt")
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert p.flat_sales_tax_amount_paid_cents == p.percentage_sales_tax_amount_paid_cents == 0
    assert p.sales_tax_exempt_indicator == "1"
    assert p.total_amount_paid_cents == 9_000 + 150 + 100 + 300 - 1_000


def test_the_incentive_and_other_amounts_are_paid_up_to_the_contract() -> None:
    """An incentive of 5.00 against a 1.00 maximum, and postage (03) the contract does not pay."""
    amounts = replace(
        WORKED, incentive_cents=500, other_amounts=(OtherAmount("01", 300), OtherAmount("03", 50))
    )
    decision = _decide(_worked(amounts))
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert p.incentive_amount_paid_cents == 100
    assert p.other_amounts_paid == (("01", 300),)


@pytest.mark.parametrize(
    ("amounts", "gross_delta", "codes"),
    [
        (WORKED, 1, ["R9"]),  # 430-DU one cent off the full formula
        (replace(WORKED, incentive_cents=-1), 0, ["E3"]),
        (replace(WORKED, flat_sales_tax_cents=-1), 0, ["HA"]),
        (replace(WORKED, other_amounts=(OtherAmount("07", 300),)), 0, ["H8"]),
        (replace(WORKED, other_amounts=(OtherAmount("01", 1), OtherAmount("01", 299))), 0, ["H8"]),
        (replace(WORKED, other_amounts=tuple(OtherAmount(q, 75) for q in ("01", "02", "03", "04"))), 0, ["H7"]),
        (replace(WORKED, percentage_sales_tax_rate=1_000_001), 0, ["HE"]),
        # 483-HE is required when 482-GE is sent: the billed tax was dropped silently (AX 0)
        (replace(WORKED, percentage_sales_tax_rate=0), 0, ["HE"]),
        (replace(WORKED, percentage_sales_tax_basis=""), 0, ["JE"]),
        (replace(WORKED, percentage_sales_tax_basis="01"), 0, ["JE"]),
        (replace(WORKED, patient_paid_cents=-5), 0, ["DX"]),
    ],
)  # fmt: skip
def test_malformed_additional_amounts_are_their_m_i_rejects(
    amounts: AdditionalAmounts, gross_delta: int, codes: list[str]
) -> None:
    request = _worked(amounts)
    request = replace(request, gross_amount_due_cents=request.gross_amount_due_cents + gross_delta)
    decision = _decide(request)
    assert isinstance(decision, Rejected)
    assert [r.code.value for r in decision.response.rejects] == codes


def test_a_claim_without_additional_amounts_keeps_its_digest() -> None:
    """Claims stored before the additional amounts existed still answer D on retransmission."""
    assert claim().content_hash() == (
        "e9c3b1e5887cce581c24bea6e5c7e5e41ff8544aefeccfc973723a458c3af75a"
    )
    assert (
        _worked().content_hash() != _worked(AdditionalAmounts(incentive_cents=100)).content_hash()
    )
