"""Part D prescription drug events (domain/pde.py): the money split of hand-computed claims
(below the threshold, crossing it, catastrophic, an HRA paying, a vaccine fee, a delivery
cost, a secondary claim), the deletion a reversal makes, the identities on every record, and
the fixed-width rendering read back by position."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.domain.additional_amounts import AdditionalAmounts
from rx_gateway.domain.adjudication import Decision, Paid, adjudicate, check_identities
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.member import Accumulators, Coverage, MemberState, PurseState
from rx_gateway.domain.outcome import PurseLine, ResponsePricing
from rx_gateway.domain.part_d import with_additional
from rx_gateway.domain.pde import (
    BHD_LAYOUT,
    BTR_LAYOUT,
    DET_LAYOUT,
    HDR_LAYOUT,
    RECORD_LENGTH,
    TLR_LAYOUT,
    PdeClaim,
    PdeEvent,
    PdeFileHeader,
    PdeRecord,
    pde_record,
    positions,
    prescriber_id_qualifier,
    provider_id_qualifier,
    render_pde_file,
    split_cost,
)
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    PurseRule,
    ReferenceSnapshot,
)
from rx_gateway.tools.synthetic.plans import plan_documents
from tests.unit.domain_fixtures import PRESCRIBER_NPI, claim, state, with_header


def _pricing(
    *,
    ingredient: int,
    fee: int,
    stages: tuple[tuple[str, int], ...],
    patient_pay: int,
    plan_paid: int,
    hra: int = 0,
    prior_payer: int = 0,
    flat_tax: int = 0,
    incentive: int = 0,
    other_amounts: tuple[tuple[str, int], ...] = (),
    stored_before_20261202: bool = False,
) -> ResponsePricing:
    """A paid Part D response's pricing; it must pass the adjudicator's own identity check.
    ``stages`` are the drug's: the tax and fees join the first (part_d.with_additional), as the
    adjudicator answers them, or, as claims stored before 2026-12-02 hold them, do not."""
    extra = flat_tax + incentive + sum(a for _, a in other_amounts)
    allowed = ingredient + fee + extra
    if not stored_before_20261202:
        stages = with_additional(stages, extra)
    pricing = ResponsePricing(
        patient_pay_amount_cents=patient_pay,
        ingredient_cost_paid_cents=ingredient,
        dispensing_fee_paid_cents=fee,
        total_amount_paid_cents=allowed - patient_pay - prior_payer,
        basis_of_reimbursement_determination="01",
        amount_applied_to_periodic_deductible_cents=0,
        amount_of_copay_cents=0,
        amount_of_coinsurance_cents=patient_pay + hra,  # the member's share, before the HRA
        amount_exceeding_periodic_benefit_maximum_cents=None,
        accumulated_deductible_amount_cents=None,
        remaining_deductible_amount_cents=None,
        remaining_benefit_amount_cents=None,
        amount_attributed_to_provider_network_selection_cents=0,
        amount_attributed_to_product_selection_brand_cents=0,
        spending_account_amount_remaining_cents=None,
        health_plan_funded_assistance_amount_cents=-hra,
        allowed_amount_cents=allowed,
        plan_paid_cents=plan_paid,
        benefit_stages=stages,
        flat_sales_tax_amount_paid_cents=flat_tax,
        incentive_amount_paid_cents=incentive,
        other_amounts_paid=other_amounts,
        other_payer_amount_recognized_cents=prior_payer,
    )
    if not stored_before_20261202:
        check_identities(pricing, [PurseLine("HRA-F1", "HRA", hra, 0)] if hra else [])
    return pricing


def _claim(pricing: ResponsePricing, **overrides: Any) -> PdeClaim:
    base = PdeClaim(
        internal_control_number="0A1B2C3D4E5F60718293A4B5",
        cardholder_id="RXG106094009",
        date_of_birth=dt.date(1956, 6, 7),
        gender_code=2,
        date_of_service=dt.date(2026, 4, 2),
        paid_date=dt.date(2026, 4, 3),
        prescription_reference_number="000000123456",
        fill_number=1,
        product_id="23452984779",
        compound=False,
        dispense_as_written=0,
        service_provider_id="1110310000",
        prescriber_id="1999999992",
        quantity_thousandths=30_000,
        days_supply=30,
        pricing=pricing,
    )
    return replace(base, **overrides)


# Each row: the claim's pricing, and the PDE fields worked out by hand from it.
# GDC = ingredient + fee (+ Σ J4) + tax + vaccine fee; payers: patient + PLRO + CPP.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "deductible and initial coverage, taxed: all below": (
        # $40.50 of drug: $30.00 deductible, 25% of $10.50 = $2.63 (half up); $0.25 tax the
        # plan pays. Member $32.63, plan $40.75 - $32.63 = $8.12.
        {
            "ingredient": 4_000,
            "fee": 50,
            "flat_tax": 25,
            "stages": (("01", 3_000), ("02", 1_050)),
            "patient_pay": 3_263,
            "plan_paid": 812,
        },
        {
            "gdcb": 4_075,
            "gdca": 0,
            "code": "",
            "phases": ("D", "N"),
            "fee": 50,
            "tax": 25,
            "patient": 3_263,
            "plro": 0,
            "cpp": 812,
        },
    ),
    "crosses the threshold: A": (
        # $100.00 left to the $2,100 limit: 25% reaches it at $400.00 of cost; the other
        # $600.00 is catastrophic. Member $100.00, plan $900.00.
        {
            "ingredient": 99_950,
            "fee": 50,
            "stages": (("02", 40_000), ("04", 60_000)),
            "patient_pay": 10_000,
            "plan_paid": 90_000,
        },
        {
            "gdcb": 40_000,
            "gdca": 60_000,
            "code": "A",
            "phases": ("N", "C"),
            "fee": 50,
            "tax": 0,
            "patient": 10_000,
            "plro": 0,
            "cpp": 90_000,
        },
    ),
    "crosses the threshold, taxed: the tax with the drug's lower phase": (
        {
            "ingredient": 99_950,
            "fee": 50,
            "flat_tax": 500,
            "stages": (("02", 40_000), ("04", 60_000)),
            "patient_pay": 10_000,
            "plan_paid": 90_500,
        },
        {
            "gdcb": 40_500,
            "gdca": 60_000,
            "code": "A",
            "phases": ("N", "C"),
            "fee": 50,
            "tax": 500,
            "patient": 10_000,
            "plro": 0,
            "cpp": 90_500,
        },
    ),
    "catastrophic, taxed: C, the tax above too": (
        {
            "ingredient": 12_000,
            "fee": 50,
            "flat_tax": 100,
            "stages": (("04", 12_050),),
            "patient_pay": 0,
            "plan_paid": 12_150,
        },
        {
            "gdcb": 0,
            "gdca": 12_150,
            "code": "C",
            "phases": ("C", "C"),
            "fee": 50,
            "tax": 100,
            "patient": 0,
            "plro": 0,
            "cpp": 12_150,
        },
    ),
    "the HRA pays: PLRO (interop.md's example)": (
        # GDC $120.00 = $115.00 + $2.00 + $3.00 tax; the member's $30.00 share, $10.00 of it
        # from the HRA: patient pay $20.00, PLRO $10.00, CPP $90.00.
        {
            "ingredient": 11_500,
            "fee": 200,
            "flat_tax": 300,
            "stages": (("02", 11_700),),
            "patient_pay": 2_000,
            "hra": 1_000,
            "plan_paid": 9_000,
        },
        {
            "gdcb": 12_000,
            "gdca": 0,
            "code": "",
            "phases": ("N", "N"),
            "fee": 200,
            "tax": 300,
            "patient": 2_000,
            "plro": 1_000,
            "cpp": 9_000,
        },
    ),
    "a vaccine: its administration fee (438-E3) in the cost": (
        {
            "ingredient": 5_000,
            "fee": 200,
            "incentive": 2_000,
            "stages": (("02", 5_200),),
            "patient_pay": 0,
            "plan_paid": 7_200,
        },
        {
            "gdcb": 7_200,
            "gdca": 0,
            "code": "",
            "phases": ("N", "N"),
            "fee": 200,
            "tax": 0,
            "vaccine": 2_000,
            "patient": 0,
            "plro": 0,
            "cpp": 7_200,
        },
    ),
    "a delivery cost (565-J4): part of the dispensing fee": (
        {
            "ingredient": 3_000,
            "fee": 50,
            "other_amounts": (("01", 450),),
            "stages": (("01", 3_050),),
            "patient_pay": 3_050,
            "plan_paid": 450,
        },
        {
            "gdcb": 3_500,
            "gdca": 0,
            "code": "",
            "phases": ("D", "D"),
            "fee": 500,
            "tax": 0,
            "patient": 3_050,
            "plro": 0,
            "cpp": 450,
        },
    ),
    "a secondary claim: what the payer before paid is PLRO": (
        {
            "ingredient": 10_000,
            "fee": 50,
            "stages": (("02", 10_050),),
            "prior_payer": 6_000,
            "patient_pay": 1_000,
            "plan_paid": 3_050,
        },
        {
            "gdcb": 10_050,
            "gdca": 0,
            "code": "",
            "phases": ("N", "N"),
            "fee": 50,
            "tax": 0,
            "patient": 1_000,
            "plro": 6_000,
            "cpp": 3_050,
        },
    ),
}


def _assert_identities(record: PdeRecord) -> None:
    """The two PDE identities, written out here rather than trusted to the module."""
    gdc = record.gdcb_cents + record.gdca_cents
    assert gdc == (
        record.ingredient_cost_paid_cents
        + record.dispensing_fee_paid_cents
        + record.total_amount_attributed_to_sales_tax_cents
        + record.vaccine_administration_fee_cents
    )
    assert gdc == (
        record.patient_pay_amount_cents
        + record.other_troop_amount_cents
        + record.lics_amount_cents
        + record.plro_amount_cents
        + record.cpp_amount_cents
        + record.npp_amount_cents
    )


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("stored_before_20261202", [False, True])
def test_each_claim_splits_as_worked_out_by_hand(name: str, stored_before_20261202: bool) -> None:
    """GDCB/GDCA, the codes, the phases and the payers of each claim, and both identities;
    the same for a claim stored before its stages held the tax and fees."""
    given_pricing, expected = CASES[name]
    pricing = _pricing(**given_pricing, stored_before_20261202=stored_before_20261202)
    record = pde_record(PdeEvent(_claim(pricing)))
    assert record.gdcb_cents == expected["gdcb"]
    assert record.gdca_cents == expected["gdca"]
    assert record.catastrophic_coverage_code == expected["code"]
    assert (record.beginning_benefit_phase, record.ending_benefit_phase) == expected["phases"]
    assert record.ingredient_cost_paid_cents == given_pricing["ingredient"]
    assert record.dispensing_fee_paid_cents == expected["fee"]
    assert record.total_amount_attributed_to_sales_tax_cents == expected["tax"]
    assert record.vaccine_administration_fee_cents == expected.get("vaccine", 0)
    assert record.patient_pay_amount_cents == expected["patient"]
    assert record.plro_amount_cents == expected["plro"]
    assert record.cpp_amount_cents == expected["cpp"]
    assert (record.other_troop_amount_cents, record.lics_amount_cents) == (0, 0)
    assert record.npp_amount_cents == 0
    assert record.adjustment_deletion_code == ""
    assert record.drug_coverage_status_code == "C"
    assert record.paid_date == dt.date(2026, 4, 3)
    _assert_identities(record)


def test_a_reversal_is_a_deletion_with_the_original_amounts() -> None:
    """A reversed claim: code D, dated the day it was reversed, identity and money as paid."""
    pricing = _pricing(**CASES["the HRA pays: PLRO (interop.md's example)"][0])
    paid = _claim(pricing)
    original = pde_record(PdeEvent(paid))
    deletion = pde_record(PdeEvent(paid, reversed_on=dt.date(2026, 4, 9)))
    assert deletion.adjustment_deletion_code == "D" and deletion.is_deletion
    assert deletion.paid_date == dt.date(2026, 4, 9)
    assert replace(deletion, adjustment_deletion_code="", paid_date=original.paid_date) == original
    _assert_identities(deletion)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"cpp_amount_cents": 8_999}, "patient pay + other TrOOP"),
        ({"gdcb_cents": 11_999, "plro_amount_cents": 999}, "ingredient + fee"),
        ({"catastrophic_coverage_code": "A"}, "catastrophic coverage code"),
        ({"adjustment_deletion_code": "X"}, "adjustment/deletion code"),
    ],
)
def test_a_record_that_breaks_an_identity_is_refused(change: dict[str, Any], problem: str) -> None:
    """A record whose money does not add up (or whose codes contradict it) is a bug."""
    good = pde_record(
        PdeEvent(_claim(_pricing(**CASES["the HRA pays: PLRO (interop.md's example)"][0])))
    )
    with pytest.raises(InvariantViolation, match=re.escape(problem)):
        replace(good, **change)


def test_benefit_stages_that_do_not_add_up_are_refused() -> None:
    """The stages must cover the drug's cost exactly, or the split would invent money."""
    pricing = _pricing(
        ingredient=4_000, fee=50, stages=(("02", 4_050),), patient_pay=1_013, plan_paid=3_037
    )
    with pytest.raises(InvariantViolation, match="do not add up"):
        split_cost(replace(pricing, benefit_stages=(("02", 4_000),)))
    with pytest.raises(InvariantViolation, match="not Part D stages"):
        split_cost(replace(pricing, benefit_stages=(("09", 4_050),)))


def test_a_claim_without_stages_is_all_below_the_threshold() -> None:
    """A stored claim with no 392-MU stages: GDCB holds the cost, no phase is claimed."""
    pricing = _pricing(ingredient=4_000, fee=50, stages=(), patient_pay=1_013, plan_paid=3_037)
    split = split_cost(pricing)
    assert (split.gdcb_cents, split.gdca_cents) == (4_050, 0)
    assert (split.beginning_benefit_phase, split.ending_benefit_phase) == ("", "")


@pytest.mark.parametrize(
    ("identifier", "qualifier"),
    [("1110310000", "01"), ("1234567", "07"), ("ABC123", "99"), ("11103100001", "99")],
)
def test_the_service_provider_qualifier_follows_the_id(identifier: str, qualifier: str) -> None:
    """202-B2 is not kept: ten digits are an NPI, seven an NCPDP provider ID."""
    assert provider_id_qualifier(identifier) == qualifier


@pytest.mark.parametrize(
    ("identifier", "qualifier"),
    [("1999999992", "01"), ("AB1234563", "12"), ("", ""), ("LIC-99", "99"), ("A11234563", "99")],
)
def test_the_prescriber_qualifier_follows_the_id(identifier: str, qualifier: str) -> None:
    """466-EZ is not kept: ten digits are an NPI, two letters and seven digits a DEA number."""
    assert prescriber_id_qualifier(identifier) == qualifier


# ---------------------------------------------------------------- the file, read by position

HEADER = PdeFileHeader(
    "PDP-SPONSOR", "PARTD-STD-2026", dt.date(2026, 12, 1), dt.date(2026, 4, 1), dt.date(2026, 4, 30)
)


def _file(events: list[PdeEvent]) -> list[str]:
    text = render_pde_file(HEADER, [pde_record(e) for e in events])
    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    assert all(len(line) == RECORD_LENGTH for line in lines)
    assert text.isascii()
    return lines


def test_the_file_reads_back_by_position() -> None:
    """HDR, BHD, DET per event, BTR, TLR; each field where the README's table puts it."""
    hra = _claim(_pricing(**CASES["the HRA pays: PLRO (interop.md's example)"][0]))
    cross = _claim(
        _pricing(**CASES["crosses the threshold: A"][0]),
        internal_control_number="FFEEDDCCBBAA998877665544",
        prescription_reference_number="000000123457",
        fill_number=0,
        prescriber_id="AB1234563",
        dispense_as_written=None,  # stored before 408-D8 was kept: blank
    )
    lines = _file([PdeEvent(hra), PdeEvent(cross), PdeEvent(hra, dt.date(2026, 4, 20))])
    assert [line[:3] for line in lines] == ["HDR", "BHD", "DET", "DET", "DET", "BTR", "TLR"]
    hdr, bhd, first, second, deletion, btr, tlr = lines
    # HDR: submitter 4-23, file ID 24-33, created 34-41, window 42-57, layout 58-77
    assert hdr[3:23] == "PDP-SPONSOR".ljust(20)
    assert len(hdr[23:33].strip()) == 10
    assert (hdr[33:41], hdr[41:49], hdr[49:57]) == ("20261201", "20260401", "20260430")
    assert hdr[57:77].strip() == "RXGW-PDE-1"
    # BHD: batch 4-10, contract 11-15 and PBP 16-18 blank, plan 19-38
    assert (bhd[3:10], bhd[10:18], bhd[18:38].strip()) == ("0000001", " " * 8, "PARTD-STD-2026")
    # DET: identity
    assert first[3:10] == "0000001" and second[3:10] == "0000002"
    assert first[10:50].rstrip() == "0A1B2C3D4E5F60718293A4B5"
    assert first[50:61] == " " * 11  # MBI: not held
    assert first[61:81].rstrip() == "RXG106094009"
    assert (first[81:89], first[89], first[90:98], first[98:106]) == (
        "19560607",
        "2",
        "20260402",
        "20260403",
    )
    assert first[106:118] == "000000123456"
    assert first[118:137].rstrip() == "23452984779"
    assert (first[137:139], first[139:154].rstrip()) == ("01", "1110310000")
    assert (first[154:156], first[156:191].rstrip()) == ("01", "1999999992")
    assert (second[154:156], second[156:191].rstrip()) == ("12", "AB1234563")
    # fill 192-193, dispensing status 194 (not held), compound 195, DAW 196 (408-D8)
    assert (first[191:193], first[193], first[194], first[195]) == ("01", " ", "1", "0")
    assert (second[195], deletion[195]) == (" ", "0")
    assert (first[196:206], first[206:209]) == ("0000030000", "030")
    assert (first[209], first[210], first[211], first[212], first[213]) == ("C", " ", " ", "N", "N")
    assert (second[211], second[212], second[213]) == ("A", "N", "C")
    # DET: money, S9(8)V99 each, 11 wide from 215
    money = [first[start : start + 11] for start in range(214, 346, 11)]
    assert money == [
        "+0000011500",  # ingredient
        "+0000000200",  # fee
        "+0000000300",  # sales tax
        "+0000000000",  # vaccine fee
        "+0000012000",  # GDCB
        "+0000000000",  # GDCA
        "+0000002000",  # patient pay
        "+0000000000",  # other TrOOP
        "+0000000000",  # LICS
        "+0000001000",  # PLRO
        "+0000009000",  # CPP
        "+0000000000",  # NPP
    ]
    assert first[346:] == " " * (RECORD_LENGTH - 346)
    # the deletion: the same record but its sequence, date and code
    assert deletion[210] == "D" and deletion[98:106] == "20260420"
    assert deletion[:3] + deletion[10:98] + deletion[106:210] + deletion[211:] == (
        first[:3] + first[10:98] + first[106:210] + first[211:]
    )
    # BTR: 3 DETs, 2 originals, 1 deletion, net GDC $1,000.00 (120 + 1000 - 120)
    assert (btr[3:10], btr[10:19], btr[19:28], btr[28:37]) == (
        "0000001",
        "000000003",
        "000000002",
        "000000001",
    )
    assert btr[37:52] == "+00000000100000"
    assert (tlr[3:10], tlr[10:19]) == ("0000001", "000000003")


def test_the_file_id_depends_on_the_records_only() -> None:
    """The same events give the same file; other events another file ID."""
    hra = _claim(_pricing(**CASES["the HRA pays: PLRO (interop.md's example)"][0]))
    once, again = _file([PdeEvent(hra)]), _file([PdeEvent(hra)])
    assert once == again
    other = _file([PdeEvent(replace(hra, fill_number=2))])
    assert other[0][23:33] != once[0][23:33]


def test_an_empty_window_is_a_file_with_no_details() -> None:
    lines = _file([])
    assert [line[:3] for line in lines] == ["HDR", "BHD", "BTR", "TLR"]
    assert lines[2][10:19] == "000000000" and lines[2][37:52] == "+00000000000000"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"cardholder_id": "X" * 21}, "does not fit"),
        ({"cardholder_id": "RXGé"}, "printable ASCII"),
        ({"prescription_reference_number": "12A"}, "unsigned number"),
        ({"quantity_thousandths": 10**10}, "does not fit"),
    ],
)
def test_a_value_that_does_not_fit_is_refused_not_cut(change: dict[str, Any], problem: str) -> None:
    """A fixed-width file never truncates: a value too wide (or not ASCII) is a bug."""
    pricing = _pricing(**CASES["the HRA pays: PLRO (interop.md's example)"][0])
    with pytest.raises(InvariantViolation, match=problem):
        render_pde_file(HEADER, [pde_record(PdeEvent(_claim(pricing, **change)))])


def test_every_layout_fits_a_record_and_the_det_ends_at_346() -> None:
    """The documented positions: DET fields 1-346, the rest filler."""
    for layout in (HDR_LAYOUT, BHD_LAYOUT, DET_LAYOUT, BTR_LAYOUT, TLR_LAYOUT):
        assert positions(layout)[-1][2] <= RECORD_LENGTH
    spans = {spec.name: (first, last) for spec, first, last in positions(DET_LAYOUT)}
    assert spans["claim_control_number"] == (11, 50)
    assert spans["gdcb"] == (259, 269) and spans["gdca"] == (270, 280)
    assert spans["plro_amount"] == (314, 324) and spans["npp_amount"] == (336, 346)


@given(
    ingredient=st.integers(0, 5_000_000),
    fee=st.integers(0, 5_000),
    tax=st.integers(0, 50_000),
    vaccine=st.integers(0, 5_000),
    below_share=st.integers(0, 10_000),  # basis points of the drug cost below the threshold
    member_share=st.integers(0, 10_000),  # basis points of the cost the member owes
    hra_share=st.integers(0, 10_000),  # basis points of the member's share the HRA pays
)
def test_the_identities_hold_for_any_consistent_claim(
    ingredient: int,
    fee: int,
    tax: int,
    vaccine: int,
    below_share: int,
    member_share: int,
    hra_share: int,
) -> None:
    """Money conservation: whatever the split, the record's two identities hold and its
    catastrophic code matches GDCB/GDCA."""
    drug = ingredient + fee
    below = drug * below_share // 10_000
    stages = tuple((q, a) for q, a in (("02", below), ("04", drug - below)) if a)
    allowed = drug + tax + vaccine
    share = allowed * member_share // 10_000
    hra = share * hra_share // 10_000
    pricing = _pricing(
        ingredient=ingredient,
        fee=fee,
        flat_tax=tax,
        incentive=vaccine,
        stages=stages,
        patient_pay=share - hra,
        hra=hra,
        plan_paid=allowed - share,
    )
    record = pde_record(PdeEvent(_claim(pricing)))
    _assert_identities(record)
    assert record.gdcb_cents + record.gdca_cents == allowed
    assert record.catastrophic_coverage_code == (
        "" if record.gdca_cents == 0 else "C" if record.gdcb_cents == 0 else "A"
    )
    assert record.plro_amount_cents == hra


# ---------------------------------------------------------------- from a real adjudication

PART_D = plan_from_document(
    next(p for p in plan_documents() if p["plan_id"] == "PARTD-STD-2026"), "part d"
)
# The synthetic Part D plan has no purse; this one lets an employer HRA pay the member's share.
PART_D_HRA = replace(PART_D, purse_order=(PurseRule("HRA"),))
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
    [PART_D_HRA],
    [BRAND],
    [FormularyEntry(PART_D_HRA.plan_id, BRAND.ndc, FormularyStatus.COVERED, 2)],
    [Pharmacy("1000000001", "pref", PharmacyNetwork.PREFERRED, "retail")],
)


def _brand_crossing(*purses: PurseState) -> tuple[MemberState, ClaimRequest]:
    """A Part D member $100.00 short of the $2,100 limit, and a $608.00 brand for them."""
    year = dt.date(2026, 1, 1)
    member = state(
        coverages=(Coverage(PART_D_HRA.plan_id, "G1", year, None, None, "MEDICARE_PART_D"),),
        purses=purses,
        accumulators={(PART_D_HRA.plan_id, year): Accumulators(61_500, 0, 200_000, 0)},
    )
    request = with_header(
        claim(BRAND, quantity_dispensed_thousandths=30_000, prescriber_id=PRESCRIBER_NPI),
        bin=PART_D_HRA.bin,
        processor_control_number=PART_D_HRA.pcn,
        date_of_service="20260915",
    )
    return member, request


def _adjudicated(request: ClaimRequest, member: MemberState) -> Decision:
    return adjudicate(
        request,
        SNAPSHOT,
        member,
        authorization_number="A",
        internal_control_number="ICN1",
        business_date=dt.date(2026, 11, 23),
    )


def test_an_adjudicated_claim_crossing_the_threshold_with_an_hra() -> None:
    """The adjudicator's own Part D answer: $2,000.00 of the $2,100 already paid, a $608.00
    brand crosses; the member's $100.00 share, $50.00 of it from the HRA. PDE: A, patient pay
    $50.00, PLRO $50.00, the cost split where 25% reaches the threshold ($400.00)."""
    member, request = _brand_crossing(PurseState("HRA-F1", "HRA", 5_000))
    decision = _adjudicated(request, member)
    assert isinstance(decision, Paid), decision
    pricing = decision.response.pricing
    assert pricing is not None
    drug = pricing.ingredient_cost_paid_cents + pricing.dispensing_fee_paid_cents
    record = pde_record(PdeEvent(_claim(pricing)))
    # $100.00 of out-of-pocket room at 25%: $400.00 of cost below, the rest above
    assert (record.gdcb_cents, record.gdca_cents) == (40_000, drug - 40_000)
    assert record.catastrophic_coverage_code == "A"
    assert record.patient_pay_amount_cents == 10_000 - 5_000  # the $100.00 share less the HRA
    assert record.plro_amount_cents == 5_000
    assert record.cpp_amount_cents == pricing.plan_paid_cents == drug - 10_000
    _assert_identities(record)


def test_what_an_employer_hra_pays_is_not_troop() -> None:
    """Part D's TrOOP counts what the member paid, not what a group health plan (an employer
    HRA: PLRO) paid: of the member's $100.00 share, the HRA's $50.00 does not move the
    out-of-pocket accumulators; the member's $50.00 does (individual and family)."""
    member, request = _brand_crossing(PurseState("HRA-F1", "HRA", 5_000))
    decision = _adjudicated(request, member)
    assert isinstance(decision, Paid), decision
    assert decision.response.pricing is not None
    assert decision.response.pricing.patient_pay_amount_cents == 5_000
    out_of_pocket = [m for m in decision.accumulator_moves if m.kind.value == "out_of_pocket"]
    assert [m.amount_cents for m in out_of_pocket] == [5_000, 5_000]


def test_a_taxed_part_d_claim_stages_its_whole_allowed_amount() -> None:
    """Σ 394-MW = the allowed amount with sales tax too (found from outside: 558-AW and 559-AX
    were left out of the stages, 73 paid Part D claims of a random run broke the README's
    identity). The tax joins the first stage; the PDE still puts it with the lower phase."""
    member, base = _brand_crossing()
    taxes = AdditionalAmounts(
        flat_sales_tax_cents=100,
        percentage_sales_tax_cents=82,
        percentage_sales_tax_rate=10_000,
        percentage_sales_tax_basis="02",
    )
    request = replace(
        base,
        additional_amounts=taxes,
        gross_amount_due_cents=base.gross_amount_due_cents + taxes.total_cents,
    )
    decisions = [_adjudicated(r, member) for r in (base, request)]
    untaxed, taxed = (d.response.pricing for d in decisions if isinstance(d, Paid))
    assert untaxed is not None and taxed is not None
    extra = taxed.flat_sales_tax_amount_paid_cents + taxed.percentage_sales_tax_amount_paid_cents
    assert extra > 0
    assert sum(amount for _, amount in taxed.benefit_stages) == taxed.allowed_amount_cents
    (first, amount), *rest = taxed.benefit_stages
    assert [(first, amount - extra), *rest] == list(untaxed.benefit_stages)
    record = pde_record(PdeEvent(_claim(taxed)))
    before = pde_record(PdeEvent(_claim(untaxed)))
    assert (record.gdcb_cents, record.gdca_cents) == (before.gdcb_cents + extra, before.gdca_cents)
    assert record.total_amount_attributed_to_sales_tax_cents == extra
    _assert_identities(record)
