"""The settlement reference's worked cycle (shared/reference/settlement.md §3), rebuilt from
claim amounts and compared with the hand-written 835 line by line: one payee, three paid claims,
a reversal of a claim paid in an earlier cycle, a $0.25 fee per transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.settlement.parties import Payee, Payer
from rx_gateway.domain.settlement.remittance import (
    LineKind,
    MemberShare,
    Patient,
    RemittanceLine,
    remit,
    transaction_fee,
)
from rx_gateway.x12.envelope import Envelope, amount, quantity
from rx_gateway.x12.remittance_835 import render_835
from tests.support_x12 import x12_errors

PAYER = Payer(
    name="RX GATEWAY PLAN",
    address="1 MAIN ST",
    city="AUSTIN",
    state="TX",
    postal_code="78701",
    tin="987654321",
    contact_name="EDI",
    contact_phone="8005550100",
    interchange_id="RXGW",
    bank_routing_number="011000015",
    bank_account_number="1234567",
)
PAYEE = Payee(
    payee_id="1234567893",
    name="CORNER PHARMACY",
    npi="1234567893",
    ncpdp_id="1234567",
    bank_routing_number="021000021",
    bank_account_number="7654321",
)


def line(
    kind: LineKind,
    rx: str,
    fill: int,
    icn: str,
    ndc: str,
    day: dt.date,
    units: int,
    charge: int,
    paid: int,
    share: MemberShare,
    patient: Patient,
) -> RemittanceLine:
    return RemittanceLine(
        kind=kind,
        internal_control_number=icn,
        prescription_reference_number=rx,
        fill_number=fill,
        service_provider_id="1234567893",
        product_id=ndc,
        date_of_service=day,
        quantity_thousandths=units * 1000,
        gross_amount_due_cents=charge,
        total_amount_paid_cents=paid,
        share=share,
        plan_id="P1",
        line_of_business="COMMERCIAL",
        patient=patient,
    )


JANE = Patient("DOE", "JANE", "W12345601")
LINES = (
    line(LineKind.PAID, "100001", 0, "F3000001", "00093505601", dt.date(2026, 1, 5), 30,
         15_000, 11_000, MemberShare(copay_cents=1_000), JANE),
    line(LineKind.PAID, "100002", 0, "F3000002", "00378018001", dt.date(2026, 1, 6), 60,
         8_000, 3_520, MemberShare(deductible_cents=2_000, coinsurance_cents=880),
         Patient("ROE", "RICH", "W12345602")),
    line(LineKind.PAID, "100003", 1, "F3000003", "00781107101", dt.date(2026, 1, 7), 30,
         2_500, 1_350, MemberShare(copay_cents=500), Patient("POE", "ANN", "W12345603")),
    line(LineKind.REVERSAL, "099876", 0, "F3000777", "00093505601", dt.date(2025, 12, 28), 30,
         6_000, 4_200, MemberShare(copay_cents=1_000), JANE),
)  # fmt: skip

EXPECTED = """\
ISA*00*          *00*          *ZZ*RXGW           *ZZ*1234567893     *260115*0900*^*00501*000000101*0*P*:~
GS*HP*RXGW*1234567893*20260115*0900*101*X*005010X221A1~
ST*835*0001~
BPR*I*115.7*C*ACH*CCP*01*011000015*DA*1234567*1987654321**01*021000021*DA*7654321*20260116~
TRN*1*PAY20260116001*1987654321~
DTM*405*20260115~
N1*PR*RX GATEWAY PLAN~
N3*1 MAIN ST~
N4*AUSTIN*TX*78701~
PER*BL*EDI*TE*8005550100~
N1*PE*CORNER PHARMACY*XX*1234567893~
REF*D3*1234567~
LX*1~
CLP*100001-00*1*150*110*10*ZZ*F3000001~
NM1*QC*1*DOE*JANE****MI*W12345601~
SVC*N4:00093505601*150*110**30~
DTM*472*20260105~
CAS*CO*45*30~
CAS*PR*3*10~
CLP*100002-00*1*80*35.2*28.8*ZZ*F3000002~
NM1*QC*1*ROE*RICH****MI*W12345602~
SVC*N4:00378018001*80*35.2**60~
DTM*472*20260106~
CAS*CO*45*16~
CAS*PR*1*20**2*8.8~
CLP*100003-01*1*25*13.5*5*ZZ*F3000003~
NM1*QC*1*POE*ANN****MI*W12345603~
SVC*N4:00781107101*25*13.5**30~
DTM*472*20260107~
CAS*CO*45*6.5~
CAS*PR*3*5~
CLP*099876-00*22*-60*-42*-10*ZZ*F3000777R~
NM1*QC*1*DOE*JANE****MI*W12345601~
REF*F8*F3000777~
SVC*N4:00093505601*-60*-42**-30~
DTM*472*20251228~
CAS*CO*45*-8~
CAS*PR*3*-10~
PLB*1234567893*20261231*AH:PAY-7D-THU-1-20260115*1~
SE*38*0001~
GE*1*101~
IEA*1*000000101~
"""


def worked_835() -> str:
    fee = transaction_fee(LINES, {"P1": 25})
    remittance = remit(
        "PAY-7D-THU-1-20260115",
        PAYEE.payee_id,
        dt.date(2026, 1, 16),
        LINES,
        fee_cents=fee,
        carried_in_cents=0,
    )
    assert (remittance.claims_paid_cents, fee, remittance.payment_cents) == (11_670, 100, 11_570)
    envelope = Envelope(
        sender_id="RXGW",
        receiver_id="1234567893",
        produced_at=dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC),
        interchange_control_number=101,
        group_control_number=101,
        functional_code="HP",
        implementation="005010X221A1",
    )
    return render_835(remittance, PAYER, PAYEE, envelope, "PAY20260116001")


def test_the_worked_cycle_renders_as_the_reference_835() -> None:
    """Every segment as in the reference, except three choices of ours: CLP07 of a reversal
    is the original's 993-A7 with R, SVC05 of a reversal is negative like its amounts, and
    PLB03 names the cycle the fee belongs to."""
    assert worked_835().splitlines() == EXPECTED.splitlines()


def test_a_cycle_that_nets_negative_pays_nothing_and_carries_the_rest() -> None:
    """Only a reversal (−$42.00) and a fee: the payment is zero, the file still balances (BPR02
    = Σ CLP04 − Σ PLB), and the $43.00 the payee owes is carried (PLB FB, negative); the next
    cycle recovers it (PLB FB, positive)."""
    reversal = LINES[3]
    first = remit("C1", "P", dt.date(2026, 1, 16), (reversal,), fee_cents=100, carried_in_cents=0)
    assert first.payment_cents == 0
    assert first.carried_out_cents == 4_300
    assert [(a.reason.value, a.amount_cents) for a in first.provider_adjustments] == [
        ("AH", 100),
        ("FB", -4_300),
    ]
    second = remit("C2", "P", dt.date(2026, 1, 23), LINES[:1], fee_cents=0, carried_in_cents=4_300)
    assert second.payment_cents == 11_000 - 4_300
    postings = {p.account: p.amount_cents for p in first.entry().postings}
    assert postings == {
        "pharmacy_payable:1234567893": 4_200,
        "fee_income:transaction": 100,
        "payee_carry:P": -4_300,
    }
    assert {p.account: p.amount_cents for p in second.entry().postings} == {
        "pharmacy_payable:1234567893": -11_000,
        "payee_carry:P": 4_300,
        "remittance_clearing:P": 6_700,
    }


def test_a_purse_lowers_the_patient_responsibility_not_the_payment() -> None:
    """An HRA paid $6.00 of a $10.00 copay: the member paid $4.00 (CLP05, PR 3), the pharmacy
    gets F9 = allowed − $4.00, and the claim still balances."""
    paid = LINES[0]
    with_purse = replace(
        paid,
        share=MemberShare(copay_cents=1_000, purse_paid_cents=600),
        total_amount_paid_cents=11_600,
    )
    assert with_purse.patient_responsibility_cents == 400
    assert [(a.group.value, a.reason, a.amount_cents) for a in with_purse.adjustments] == [
        ("CO", "45", 3_000),
        ("PR", "3", 400),
    ]


def test_a_purse_paying_more_than_the_share_is_a_bug() -> None:
    paid = LINES[0]
    with pytest.raises(InvariantViolation):
        replace(paid, share=MemberShare(copay_cents=1_000, purse_paid_cents=1_500))


@pytest.mark.parametrize(
    ("cents", "text"), [(11_570, "115.7"), (11_000, "110"), (-4_200, "-42"), (5, "0.05"), (0, "0")]
)
def test_amounts_are_x12_decimals(cents: int, text: str) -> None:
    assert amount(cents) == text


def test_quantities_are_x12_decimals() -> None:
    assert [quantity(q) for q in (30_000, 2_500, 1, -30_000)] == ["30", "2.5", "0.001", "-30"]


def test_the_worked_835_passes_an_independent_validator() -> None:
    """pyx12's 005010X221A1 map: structure, element types, code lists, counts."""
    assert x12_errors(worked_835()) == []


def test_an_advice_with_no_payment_passes_the_validator() -> None:
    """A cycle that nets negative: BPR*H with no money, the carried balance in PLB FB."""
    remittance = remit(
        "PAY-7D-THU-1-20260115", PAYEE.payee_id, dt.date(2026, 1, 16), (LINES[3],),
        fee_cents=100, carried_in_cents=0,
    )  # fmt: skip
    envelope = Envelope("RXGW", "1234567893", dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC),
                        7, 7, "HP", "005010X221A1")  # fmt: skip
    text = render_835(remittance, PAYER, PAYEE, envelope, "PAY20260116002")
    assert "BPR*H*0*C*NON" in text
    assert x12_errors(text) == []


def test_a_payee_without_a_bank_is_paid_by_check_and_passes() -> None:
    payee = Payee(payee_id="P2", name="MAIN ST DRUG", tin="741234567")
    remittance = remit("C", "P2", dt.date(2026, 1, 16), LINES[:1], fee_cents=0, carried_in_cents=0)
    envelope = Envelope("RXGW", "P2", dt.datetime(2026, 1, 15, 9, 0, tzinfo=dt.UTC), 8, 8, "HP",
                        "005010X221A1")  # fmt: skip
    text = render_835(remittance, PAYER, payee, envelope, "PAY20260116003")
    assert "BPR*C*110*C*CHK" in text
    assert "N1*PE*MAIN ST DRUG*FI*741234567~" in text
    assert x12_errors(text) == []
