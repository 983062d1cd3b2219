"""Coordination of benefits (issue 15), computed by hand on the worked secondary claim of
shared/reference/switch-claims.md §2: the primary paid 42.00 and left 15.00 (deductible 5.00,
copay 10.00); this plan alone allows 57.00 (F6 54.00 + F7 3.00) with a 10.00 copay."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.cob import coordinate, member_paid, payers_ahead
from rx_gateway.domain.cost_share import ShareBreakdown
from rx_gateway.domain.ledger import other_payers_account, pharmacy_other_payer_account
from rx_gateway.domain.member import Coverage, Fill, OtherCoverage
from rx_gateway.domain.other_payments import OtherPayment, other_payment_rejects
from rx_gateway.domain.reference import (
    CobMethod,
    Drug,
    FormularyEntry,
    FormularyStatus,
    NetworkPricing,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject
from tests.unit.domain_fixtures import PLAN, SNAPSHOT, STATE, claim, state

# 30 units at AWP $2.25 less 20% = 54.00, plus a 3.00 fee: 57.00; tier 1, a 10.00 copay
WORKED_DRUG = Drug(
    "00000000019", "worked", "mol-w", "misc", False, None, False, awp_unit_price_millicents=225_000
)
# AM05 `4C1 5C01 6C03 7C610014 E820260105 HB1 HC07 DV420{ NR2 NP01 NQ50{ NP05 NQ100{`
PRIMARY_PAID = OtherPayment(
    coverage_type="01",
    payer_id_qualifier="03",
    payer_id="610014",
    date="20260105",
    amounts_paid=(("07", 4_200),),
    patient_responsibility=(("01", 500), ("05", 1_000)),
)


def _snapshot(method: CobMethod = CobMethod.STANDARD, lob: str = "COMMERCIAL") -> ReferenceSnapshot:
    network = NetworkPricing(awp_discount_bp=2_000, use_mac=False, dispensing_fee_cents=300)
    plan = replace(
        PLAN,
        networks={PharmacyNetwork.PREFERRED: network},
        cob_method=method,
        line_of_business=lob,
    )
    return ReferenceSnapshot.build(
        "7",
        [plan],
        [*SNAPSHOT.drugs.values(), WORKED_DRUG],
        [
            *SNAPSHOT.formulary.values(),
            FormularyEntry("P1", WORKED_DRUG.ndc, FormularyStatus.COVERED, 1),
        ],
        list(SNAPSHOT.pharmacies.values()),
    )


def _secondary(code: int = 2, payments: tuple[OtherPayment, ...] = (PRIMARY_PAID,)) -> Any:
    return claim(
        WORKED_DRUG,
        ingredient_cost_submitted_cents=5_500,
        dispensing_fee_submitted_cents=300,
        usual_and_customary_charge_cents=9_000,
        gross_amount_due_cents=5_800,
        other_coverage_code=code,
        other_payments=payments,
    )


def _decide(request: Any, snapshot: ReferenceSnapshot | None = None, **state_: Any) -> Any:
    return adjudicate(
        request,
        snapshot or _snapshot(),
        state(**({"purses": ()} | state_)),
        authorization_number="A",
        internal_control_number="I",
    )


def _pricing(decision: Paid | Rejected) -> Any:
    assert isinstance(decision, Paid), decision.response.rejects
    assert decision.response.pricing is not None
    return decision.response.pricing


def test_the_plan_alone_pays_47_of_57() -> None:
    p = _pricing(_decide(_secondary(code=0, payments=())))
    assert (p.ingredient_cost_paid_cents, p.dispensing_fee_paid_cents) == (5_400, 300)
    assert (p.patient_pay_amount_cents, p.total_amount_paid_cents) == (1_000, 4_700)
    assert p.other_payer_amount_recognized_cents == 0


def test_standard_cob_pays_the_lesser_of_what_is_left_and_what_it_pays_alone() -> None:
    """min(57.00 − 42.00, 47.00) = 15.00: F5 0.00, J5 42.00, F9 = 54 + 3 − 0 − 42 = 15.00."""
    decision = _decide(_secondary())
    p = _pricing(decision)
    assert p.other_payer_amount_recognized_cents == 4_200
    assert (p.patient_pay_amount_cents, p.total_amount_paid_cents) == (0, 1_500)
    assert p.amount_of_copay_cents == 0 and p.plan_paid_cents == 1_500
    assert (
        "Paid as secondary: the other payers are taken to have covered $42.00 (566-J5)"
        in decision.response.additional_messages
    )
    # the entry records the other payer's 42.00 beside the plan's 15.00
    postings = {posting.account: posting.amount_cents for posting in decision.entry.postings}
    assert postings[other_payers_account("P1")] == -4_200
    assert postings[pharmacy_other_payer_account("1000000001")] == 4_200
    assert postings["plan:P1"] == -1_500 and sum(postings.values()) == 0
    # the member paid nothing: no accumulator moves
    assert decision.accumulator_moves == ()


def test_non_duplication_pays_what_it_pays_alone_less_the_other_payment() -> None:
    """min(15.00, 47.00 − 42.00) = 5.00: F5 10.00, F9 = 57 − 10 − 42 = 5.00."""
    p = _pricing(_decide(_secondary(), _snapshot(CobMethod.NON_DUPLICATION)))
    assert (p.patient_pay_amount_cents, p.total_amount_paid_cents) == (1_000, 500)
    assert p.amount_of_copay_cents == 1_000
    assert p.other_payer_amount_recognized_cents == 4_200


def test_medicaid_pays_the_patient_responsibility_the_primary_left() -> None:
    """The primary left 15.00 (NP 01 5.00 + NP 05 10.00): paid in full, nothing to the member."""
    snapshot = _snapshot(CobMethod.PATIENT_RESPONSIBILITY, "MEDICAID")
    p = _pricing(_decide(_secondary(), snapshot))
    assert (p.patient_pay_amount_cents, p.total_amount_paid_cents) == (0, 1_500)
    assert p.other_payer_amount_recognized_cents == 5_700 - 1_500


def test_308_c8_8_bills_the_patient_responsibility_only() -> None:
    """OPPRA only (method b): 522-FM 14, J5 = 57.00 − 15.00 recognized, F9 15.00."""
    only = replace(PRIMARY_PAID, amounts_paid=())
    p = _pricing(_decide(_secondary(code=8, payments=(only,))))
    assert p.basis_of_reimbursement_determination == "14"
    assert (p.total_amount_paid_cents, p.other_payer_amount_recognized_cents) == (1_500, 4_200)


def test_a_primary_that_paid_everything_leaves_74() -> None:
    paid_all = replace(PRIMARY_PAID, amounts_paid=(("08", 6_000),))
    decision = _decide(_secondary(payments=(paid_all,)))
    assert isinstance(decision, Rejected)
    assert [r.code.value for r in decision.response.rejects] == ["74"]


def test_the_member_pays_what_is_left_toward_the_deductible_first() -> None:
    """A brand on tier 2 with the deductible still open: the member's residue after the other
    payer counts toward the deductible, and accumulators move by what the member paid."""
    decision = _decide(
        claim(
            replace(WORKED_DRUG, ndc="00000000002"),
            other_coverage_code=2,
            other_payments=(replace(PRIMARY_PAID, amounts_paid=(("07", 3_000),)),),
        ),
        _snapshot(CobMethod.NON_DUPLICATION),
    )
    p = _pricing(decision)
    assert p.amount_applied_to_periodic_deductible_cents == p.patient_pay_amount_cents > 0
    deductible_moves = [m for m in decision.accumulator_moves if m.kind.value == "deductible"]
    assert {m.amount_cents for m in deductible_moves} == {p.patient_pay_amount_cents}


@pytest.mark.parametrize(
    ("method", "code", "payments", "allowed", "alone", "expected"),
    [
        (CobMethod.STANDARD, 0, (), 5_700, 1_000, (0, 1_000)),  # a primary claim
        (CobMethod.STANDARD, 2, (PRIMARY_PAID,), 5_700, 1_000, (4_200, 0)),
        (CobMethod.NON_DUPLICATION, 2, (PRIMARY_PAID,), 5_700, 1_000, (4_200, 1_000)),
        (CobMethod.PATIENT_RESPONSIBILITY, 2, (PRIMARY_PAID,), 5_700, 1_000, (4_200, 0)),
        # the other payer's allowed was lower: its patient responsibility decides
        (CobMethod.PATIENT_RESPONSIBILITY, 4, (PRIMARY_PAID,), 9_000, 1_000, (7_500, 0)),
        # 4 with nothing paid: the plan pays as it would alone
        (CobMethod.STANDARD, 4, (replace(PRIMARY_PAID, amounts_paid=()),), 5_700, 1_000,
         (0, 1_000)),
        # the member's share alone exceeds what is left: the plan pays nothing, the member
        # the rest (non-duplication)
        (CobMethod.NON_DUPLICATION, 2, (PRIMARY_PAID,), 5_700, 3_000, (4_200, 1_500)),
        # two payers ahead: their payments add up
        (CobMethod.STANDARD, 2, (PRIMARY_PAID, replace(PRIMARY_PAID, coverage_type="02",
         amounts_paid=(("07", 500),))), 5_700, 1_000, (4_700, 0)),
        # 08 "sum of all" is the payer's total, not one more part
        (CobMethod.STANDARD, 2, (replace(PRIMARY_PAID, amounts_paid=(("07", 4_000),
         ("08", 4_200))),), 5_700, 1_000, (4_200, 0)),
    ],
)  # fmt: skip
def test_coordinate(
    method: CobMethod,
    code: int,
    payments: tuple[OtherPayment, ...],
    allowed: int,
    alone: int,
    expected: tuple[int, int],
) -> None:
    result = coordinate(method, code, payments, allowed_cents=allowed, member_alone_cents=alone)
    assert not isinstance(result, Reject)
    assert (result.other_payer_amount_recognized_cents, result.member_cents) == expected


def test_member_paid_allocates_deductible_then_coinsurance_then_copay() -> None:
    share = ShareBreakdown(
        deductible_cents=300,
        copay_cents=200,
        coinsurance_cents=100,
        network_cents=50,
        brand_penalty_cents=40,
        program_reduction_cents=0,
        non_preferred_cents=30,
    )
    kept, tax = member_paid(share, 20, 450)
    assert (kept.deductible_cents, kept.coinsurance_cents, kept.copay_cents) == (300, 100, 50)
    assert (kept.network_cents, kept.non_preferred_cents, kept.brand_penalty_cents, tax) == (
        0,
        0,
        0,
        0,
    )
    full, tax = member_paid(share, 20, 740)
    assert full == share and tax == 20


D = dt.date


@pytest.mark.parametrize(
    ("code", "payments", "expected"),
    [
        (9, (), ["13"]),
        (-1, (), ["13"]),
        (2, (), ["6G"]),
        (4, (), ["6G"]),
        (3, (), ["6G"]),
        (8, (), ["6G"]),
        (2, (replace(PRIMARY_PAID, amounts_paid=(("07", 0),)),), ["8W"]),
        (3, (replace(PRIMARY_PAID, amounts_paid=()),), ["6E"]),
        (3, (replace(PRIMARY_PAID, amounts_paid=(), reject_codes=("70",)),), []),
        (3, (replace(PRIMARY_PAID, reject_codes=("70",)),), ["8W"]),
        (8, (replace(PRIMARY_PAID, amounts_paid=(), patient_responsibility=()),), ["NQ"]),
        (1, (replace(PRIMARY_PAID, amounts_paid=()),), ["7K"]),
        (0, (PRIMARY_PAID,), ["8W", "7K"]),
        (2, (replace(PRIMARY_PAID, coverage_type="10"),), ["5C"]),
        (2, (replace(PRIMARY_PAID, coverage_type=""),), ["5C"]),
        (2, (replace(PRIMARY_PAID, payer_id_qualifier="XX"),), ["6C"]),
        (2, (replace(PRIMARY_PAID, payer_id="12345678901"),), ["7C"]),
        (2, (replace(PRIMARY_PAID, payer_id="6100\x0014"),), ["7C"]),
        (2, (replace(PRIMARY_PAID, date="20261301"),), ["E8"]),
        (2, (replace(PRIMARY_PAID, date="20261103"),), ["9J"]),
        (2, (replace(PRIMARY_PAID, amounts_paid=(("07", -1),)),), ["8V"]),
        (2, (replace(PRIMARY_PAID, amounts_paid=(("07", 100_000_000),)),), ["DV"]),
        (2, (replace(PRIMARY_PAID, amounts_paid=(("00", 100),)),), ["HC"]),
        (2, (replace(PRIMARY_PAID, patient_responsibility=(("14", 100),)),), ["NP"]),
        (2, (replace(PRIMARY_PAID, patient_responsibility=(("05", -100),)),), ["NQ"]),
        (2, (replace(PRIMARY_PAID, patient_responsibility=(("09", -100),)),), []),
        (2, (replace(PRIMARY_PAID, reject_codes=("7",)),), ["6E"]),
        (2, (PRIMARY_PAID,) * 10, ["4C"]),
        (2, (PRIMARY_PAID,), []),
        (7, (), []),
    ],
)
def test_other_payment_rejects(
    code: int, payments: tuple[OtherPayment, ...], expected: list[str]
) -> None:
    rejects = other_payment_rejects(code, payments, D(2026, 11, 2))
    assert [r.code.value for r in rejects] == expected
    assert all(r.message for r in rejects)


def test_syntax_rejects_reach_the_claim() -> None:
    decision = _decide(_secondary(code=2, payments=()))
    assert isinstance(decision, Rejected)
    assert [r.code.value for r in decision.response.rejects] == ["6G"]


def _medicaid(payer_order: int = 2) -> Coverage:
    return Coverage("P1", "G1", D(2026, 1, 1), None, None, "MEDICAID", payer_order=payer_order)


ACME = OtherCoverage(
    payer_order=1,
    payer_name="Acme Health Plan",
    bin="004336",
    processor_control_number="ACMERX",
    group_id="ACME100",
    cardholder_id="ACM1",
    person_code="01",
    help_desk_phone="8005550199",
    start=D(2026, 1, 1),
    end=None,
)


def test_a_claim_billed_before_the_primary_is_41_naming_it() -> None:
    decision = _decide(
        _secondary(code=0, payments=()),
        _snapshot(lob="MEDICAID"),
        coverages=(_medicaid(),),
        other_coverages=(ACME,),
    )
    assert isinstance(decision, Rejected)
    assert [r.code.value for r in decision.response.rejects] == ["41"]
    assert "Acme Health Plan (BIN 004336, PCN ACMERX)" in decision.response.message
    (payer,) = decision.response.other_payers
    assert (payer.coverage_type, payer.payer_id_qualifier, payer.payer_id) == ("01", "03", "004336")
    assert (payer.cardholder_id, payer.group_id, payer.help_desk_phone) == (
        "ACM1",
        "ACME100",
        "8005550199",
    )
    assert payer.effective_date == "20260101" and payer.termination_date == ""
    # billed as secondary, it pays
    paid = _decide(
        _secondary(),
        _snapshot(lob="MEDICAID"),
        coverages=(_medicaid(),),
        other_coverages=(ACME,),
    )
    assert isinstance(paid, Paid)


def test_medicaid_pays_last_whatever_its_order_says() -> None:
    """Medicaid with payer order 1 beside a commercial plan of order 2: the commercial plan is
    still first. A primary not in force on the date of service is no payer ahead."""
    commercial = Coverage("P2", "G2", D(2026, 1, 1), None, None, "COMMERCIAL", payer_order=2)
    other = replace(PLAN, plan_id="P2", line_of_business="COMMERCIAL", name="Employer plan")
    medicaid_plan = replace(PLAN, line_of_business="MEDICAID")
    snapshot = ReferenceSnapshot.build(
        "7", [medicaid_plan, other], list(SNAPSHOT.drugs.values()), [], []
    )
    mine = _medicaid(payer_order=1)
    member = replace(STATE, coverages=(mine, commercial))
    ahead = payers_ahead(mine, medicaid_plan, member, snapshot, D(2026, 11, 2))
    assert [(p.coverage_type, p.name, p.payer_id) for p in ahead] == [
        ("01", "Employer plan", PLAN.bin)
    ]
    assert payers_ahead(commercial, other, member, snapshot, D(2026, 11, 2)) == ()
    ended = replace(commercial, end=D(2026, 6, 30))
    member = replace(STATE, coverages=(mine, ended))
    assert payers_ahead(mine, medicaid_plan, member, snapshot, D(2026, 11, 2)) == ()


@pytest.mark.parametrize(
    ("reject", "expected"),
    [("75", ["41"]), ("79", ["41"]), ("70", []), ("65", [])],
)
def test_an_other_payer_reject_the_pharmacy_can_cure_is_41(
    reject: str, expected: list[str]
) -> None:
    denied = replace(
        PRIMARY_PAID, amounts_paid=(), patient_responsibility=(), reject_codes=(reject,)
    )
    decision = _decide(
        _secondary(code=3, payments=(denied,)),
        _snapshot(lob="MEDICAID"),
        coverages=(_medicaid(),),
        other_coverages=(ACME,),
    )
    assert [r.code.value for r in decision.response.rejects] == expected
    if not expected:  # paid as if primary: nothing recognized
        assert _pricing(decision).other_payer_amount_recognized_cents == 0


def test_the_same_dispensing_is_a_prior_fill_unless_another_payer_was_billed() -> None:
    """The primary's claim of this very dispensing (same pharmacy, Rx, fill and date) is no
    refill too soon for the secondary claim; a claim that says no other payer was billed
    counts it (the same dispensing paid twice as primary is 79)."""
    same = Fill("mol-w", D(2026, 11, 2), 30, 30_000, "00000000019", "1000000001", "", 0, "123|0")
    secondary = _decide(_secondary(), fills=(same,))
    assert isinstance(secondary, Paid), secondary.response.rejects
    primary = _decide(_secondary(code=0, payments=()), fills=(same,))
    assert [r.code.value for r in primary.response.rejects] == ["79"]


def test_at_most_nine_payers_are_named_ahead() -> None:
    others = tuple(replace(ACME, bin=f"00{n:04d}", payer_order=1) for n in range(12))
    member = replace(STATE, coverages=(_medicaid(),), other_coverages=others)
    medicaid_plan = replace(PLAN, line_of_business="MEDICAID")
    ahead = payers_ahead(_medicaid(), medicaid_plan, member, SNAPSHOT, D(2026, 11, 2))
    assert [p.coverage_type for p in ahead] == [f"{n:02d}" for n in range(1, 10)]


def test_medicaid_pays_the_lesser_of_what_the_patient_was_left_and_what_is_left() -> None:
    """Two payers before Medicaid: the first left 5.00 but the second then paid 3.00 of it; or
    the others paid more than Medicaid's allowed less the patient's share (their allowed was
    higher): Medicaid pays the lesser."""
    first = replace(
        PRIMARY_PAID, amounts_paid=(("07", 5_200),), patient_responsibility=(("06", 500),)
    )
    second = replace(PRIMARY_PAID, coverage_type="02", amounts_paid=(("07", 300),),
                     patient_responsibility=())  # fmt: skip
    method = CobMethod.PATIENT_RESPONSIBILITY
    two = coordinate(method, 2, (second, first), allowed_cents=5_700, member_alone_cents=100)
    assert not isinstance(two, Reject)
    assert (two.other_payer_amount_recognized_cents, two.member_cents) == (5_500, 0)
    higher = replace(PRIMARY_PAID, amounts_paid=(("07", 5_000),))  # left 15.00, paid 50.00
    one = coordinate(method, 2, (higher,), allowed_cents=5_700, member_alone_cents=100)
    assert not isinstance(one, Reject)
    assert (one.other_payer_amount_recognized_cents, one.member_cents) == (5_000, 0)
