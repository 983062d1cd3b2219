"""The 835 (005010X221A1) of one payee's remittance, segment by segment.

Header: BPR (the payment: ACH when the payee's bank is known, a check otherwise, an advice with
no payment when the cycle nets to zero or less), TRN (the reassociation trace: the bank's EFT
carries it back), DTM*405, the payer (N1*PR, N3, N4, PER*BL), the payee (N1*PE, REF). Then one
LX per store, each claim a CLP (01 Rx-fill, 02 1 paid, 2 paid as secondary or 22 reversal,
03 charge = 430-DU, 04 paid = 509-F9, 05 patient responsibility = 505-F5, 06 filing indicator,
07 993-A7) with the patient (NM1*QC), on a reversal the original (REF*F8), the service
(SVC N4:NDC, DTM*472) and its adjustments (CAS). Last, the provider-level adjustments (PLB).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from rx_gateway.domain.settlement.parties import Payee, Payer
from rx_gateway.domain.settlement.remittance import (
    AdjustmentGroup,
    LineKind,
    Remittance,
    RemittanceLine,
)
from rx_gateway.x12.envelope import (
    COMPONENT,
    Envelope,
    amount,
    date8,
    quantity,
    required_text,
    segment,
    text,
    wrap,
)

IMPLEMENTATION = "005010X221A1"
TRIPLES_PER_CAS = 6
PAIRS_PER_PLB = 6
PART_D = "MEDICARE_PART_D"


def filing_indicator(line_of_business: str) -> str:
    """CLP06: OF (other federal program) for Part D, as advised for it; MC for Medicaid; ZZ
    (mutually defined) otherwise."""
    if line_of_business == PART_D:
        return "OF"
    return "MC" if line_of_business == "MEDICAID" else "ZZ"


def claim_control_number(line: RemittanceLine) -> str:
    """CLP07: the claim's 993-A7; a reversal's is the original's with R (REF*F8 carries the
    original's)."""
    icn = line.internal_control_number
    return f"{icn}R" if line.kind is LineKind.REVERSAL else icn


def _payment(remittance: Remittance, payer: Payer, payee: Payee) -> str:
    paid = remittance.payment_cents
    day = date8(remittance.pay_date)
    skipped = [""] * 11  # BPR05-15: the banks, for ACH only
    if paid <= 0:
        return segment("BPR", "H", "0", "C", "NON", *skipped, day)
    if payee.pays_by_ach and payer.bank_routing_number and payer.bank_account_number:
        return segment(
            "BPR",
            "I",
            amount(paid),
            "C",
            "ACH",
            "CCP",
            "01",
            text(payer.bank_routing_number, 12),
            "DA",
            text(payer.bank_account_number, 35),
            f"1{payer.tin}",
            "",
            "01",
            text(payee.bank_routing_number, 12),
            "DA",
            text(payee.bank_account_number, 35),
            day,
        )
    return segment(
        "BPR", "C", amount(paid), "C", "CHK", "", "", "", "", "", "", "", "", "", "", "", day
    )


def _payee(payee: Payee) -> list[str]:
    name = required_text(payee.name, payee.payee_id)
    if payee.npi:
        out = [segment("N1", "PE", name, "XX", text(payee.npi, 10))]
        if payee.tin:
            out.append(segment("REF", "TJ", text(payee.tin, 9)))
    else:
        out = [segment("N1", "PE", name, "FI", text(payee.tin, 9))]
    if payee.ncpdp_id:
        out.append(segment("REF", "D3", text(payee.ncpdp_id, 7)))
    return out


def _adjustments(line: RemittanceLine) -> list[str]:
    out = []
    for group in AdjustmentGroup:
        triples = [(a.reason, a.amount_cents) for a in line.adjustments if a.group is group]
        for start in range(0, len(triples), TRIPLES_PER_CAS):
            elements: list[str] = []
            for reason, cents in triples[start : start + TRIPLES_PER_CAS]:
                elements += [reason, amount(cents), ""]
            out.append(segment("CAS", group.value, *elements))
    return out


def _claim(line: RemittanceLine) -> list[str]:
    patient = line.patient
    out = [
        segment(
            "CLP",
            text(line.patient_control_number, 38),
            line.claim_status,
            amount(line.charge_cents),
            amount(line.paid_cents),
            amount(line.patient_responsibility_cents),
            filing_indicator(line.line_of_business),
            text(claim_control_number(line), 50),
        ),
        segment(
            "NM1",
            "QC",
            "1",
            required_text(patient.last_name, patient.member_identifier, 60),
            text(patient.first_name, 35),
            "",
            "",
            "",
            "MI",
            text(patient.member_identifier, 80),
        ),
    ]
    if line.kind is LineKind.REVERSAL:
        out.append(segment("REF", "F8", text(line.internal_control_number, 50)))
    out += [
        segment(
            "SVC",
            f"N4{COMPONENT}{line.product_id}",
            amount(line.charge_cents),
            amount(line.paid_cents),
            "",
            quantity(line.sign * line.quantity_thousandths),
        ),
        segment("DTM", "472", date8(line.date_of_service)),
        *_adjustments(line),
    ]
    return out


def _provider_adjustments(remittance: Remittance, payee: Payee) -> list[str]:
    pairs = [
        (f"{a.reason.value}{COMPONENT}{text(a.reference, 50)}", amount(a.amount_cents))
        for a in remittance.provider_adjustments
    ]
    provider = text(payee.npi or payee.tin, 10)
    fiscal_period_end = dt.date(remittance.pay_date.year, 12, 31)
    out = []
    for start in range(0, len(pairs), PAIRS_PER_PLB):
        elements = [e for pair in pairs[start : start + PAIRS_PER_PLB] for e in pair]
        out.append(segment("PLB", provider, date8(fiscal_period_end), *elements))
    return out


def render_835(
    remittance: Remittance,
    payer: Payer,
    payee: Payee,
    envelope: Envelope,
    trace_number: str,
) -> str:
    """The whole interchange: one 835 for one payee and one cycle."""
    body = [
        _payment(remittance, payer, payee),
        segment("TRN", "1", text(trace_number, 50), f"1{payer.tin}"),
        segment("DTM", "405", date8(envelope.produced_at.date())),
        segment("N1", "PR", required_text(payer.name, payer.interchange_id)),
        segment("N3", text(payer.address, 55)),
        segment("N4", text(payer.city, 30), payer.state, payer.postal_code),
        segment("PER", "BL", text(payer.contact_name), "TE", payer.contact_phone),
        *_payee(payee),
    ]
    stores = groupby(
        sorted(remittance.lines, key=lambda line: line.service_provider_id),
        key=lambda line: line.service_provider_id,
    )
    for number, (_, lines) in enumerate(stores, start=1):
        body.append(segment("LX", str(number)))
        for line in lines:
            body += _claim(line)
    body += _provider_adjustments(remittance, payee)
    return wrap(envelope, "835", body)
