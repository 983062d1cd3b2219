"""Properties of settlement that must hold for any claim amounts, not only the worked cycle:
the 835's identities, the ledger entry's balance, and X12 text that never carries a delimiter
whatever a name or identifier holds."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.settlement.parties import Payee
from rx_gateway.domain.settlement.remittance import (
    LineKind,
    MemberShare,
    Patient,
    RemittanceLine,
    remit,
)
from rx_gateway.x12.envelope import DELIMITERS, Envelope, text
from rx_gateway.x12.remittance_835 import render_835
from tests.unit.test_settlement_835 import PAYER

CENTS = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def lines(draw: st.DrawFn) -> RemittanceLine:
    """A claim line whose amounts satisfy NCPDP's identities: F5 = its parts − purse,
    F9 = allowed − F5, DU ≥ 0."""
    share = MemberShare(
        deductible_cents=draw(CENTS),
        coinsurance_cents=draw(CENTS),
        copay_cents=draw(CENTS),
        network_cents=draw(st.integers(0, 5_000)),
        product_selection_cents=draw(st.integers(0, 5_000)),
        non_preferred_cents=draw(st.integers(0, 5_000)),
    )
    parts = sum(amount for _, amount in share.parts())
    purse = draw(st.integers(0, parts))
    share = MemberShare(
        **{**{f: getattr(share, f) for f in share.__slots__}, "purse_paid_cents": purse}
    )  # type: ignore[attr-defined]
    allowed = parts + draw(CENTS)  # the plan pays the rest
    return RemittanceLine(
        kind=draw(st.sampled_from(LineKind)),
        internal_control_number=draw(st.text(min_size=1, max_size=30)),
        prescription_reference_number=draw(st.from_regex(r"[0-9]{1,12}", fullmatch=True)),
        fill_number=draw(st.integers(0, 99)),
        service_provider_id=draw(st.sampled_from(("1234567893", "1999999984"))),
        product_id=draw(st.from_regex(r"[0-9]{11}", fullmatch=True)),
        date_of_service=dt.date(2026, 11, 2),
        quantity_thousandths=draw(st.integers(1, 10**7)),
        gross_amount_due_cents=draw(st.integers(0, 3_000_000)),
        total_amount_paid_cents=allowed - (parts - purse),
        share=share,
        plan_id="P1",
        line_of_business=draw(st.sampled_from(("COMMERCIAL", "MEDICARE_PART_D"))),
        patient=Patient(draw(st.text(max_size=40)), draw(st.text(max_size=40)), "W1"),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=8), st.integers(0, 500), st.integers(0, 100_000))
def test_any_remittance_balances_in_the_file_and_in_the_ledger(
    claim_lines: list[RemittanceLine], fee: int, carried: int
) -> None:
    remittance = remit("C", "P", dt.date(2026, 12, 9), tuple(claim_lines), fee_cents=fee,
                       carried_in_cents=carried)  # fmt: skip
    assert remittance.payment_cents >= 0
    assert remittance.payment_cents == (
        remittance.claims_paid_cents - sum(a.amount_cents for a in remittance.provider_adjustments)
    )
    for line in claim_lines:
        assert line.charge_cents - sum(a.amount_cents for a in line.adjustments) == line.paid_cents
        patient = sum(a.amount_cents for a in line.adjustments if a.group.value == "PR")
        assert patient == line.patient_responsibility_cents
    assert sum(p.amount_cents for p in remittance.entry().postings) == 0
    envelope = Envelope("RXGW", "P", dt.datetime(2026, 12, 1, tzinfo=dt.UTC), 1, 1, "HP",
                        "005010X221A1")  # fmt: skip
    x12 = render_835(remittance, PAYER, Payee("P", "A*B~C:D^E", npi="1234567893"), envelope, "T")
    segments = x12.replace("\n", "").split("~")[:-1]
    assert all(len(s.split("*")) >= 2 for s in segments)  # no element broke a segment apart
    assert sum(1 for s in segments if s.startswith("CLP*")) == len(claim_lines)


def test_a_purse_paying_more_than_the_share_is_refused() -> None:
    share = MemberShare(copay_cents=100, purse_paid_cents=101)
    try:
        RemittanceLine(LineKind.PAID, "I", "1", 0, "1234567893", "00000000000",
                       dt.date(2026, 1, 1), 1, 0, 0, share, "P", "", Patient("", "", ""))  # fmt: skip
    except InvariantViolation:
        return
    raise AssertionError


@given(st.text())
def test_x12_text_never_carries_a_delimiter_or_a_control_character(value: str) -> None:
    cleaned = text(value)
    assert not set(cleaned) & DELIMITERS
    assert all(" " <= c <= "~" for c in cleaned)
    assert cleaned == cleaned.strip() and len(cleaned) <= 60
