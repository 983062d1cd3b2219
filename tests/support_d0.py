"""D.0 request transmissions built from the structured API's requests: how the tests send the
same claim through both doors. A switch's own bytes are tested as well (tests/data/public_d0);
these builders only make the raw door's tests read like the structured ones."""

from __future__ import annotations

from rx_gateway.ncpdp.codec import VERSION, RequestHeader, Segment, Transmission, encode_money
from rx_gateway.v1 import claims_pb2 as pb


def _header_of(header: pb.Header, code: str, count: int) -> RequestHeader:
    return RequestHeader(
        bin=header.bin,
        version=VERSION,
        transaction_code=code,
        processor_control_number=header.processor_control_number,
        transaction_count=str(count),
        service_provider_id_qualifier=header.service_provider_id_qualifier or "01",
        service_provider_id=header.service_provider_id,
        date_of_service=header.date_of_service,
        software_vendor_id=header.software_vendor_id,
    )


def _insurance_segment(insurance: pb.Insurance) -> Segment:
    return Segment(
        "04",
        (
            ("C2", insurance.cardholder_id),
            ("C1", insurance.group_id),
            ("C3", insurance.person_code),
            ("C6", str(insurance.patient_relationship_code)),
        ),
    )


def _claim_segments(request: pb.ClaimRequest) -> tuple[Segment, ...]:
    c, pr, rx = request.claim, request.pricing, request.prescriber
    claim = [
        ("EM", "1"),
        ("D2", c.prescription_reference_number),
        ("E1", c.product_id_qualifier),
        ("D7", c.product_id),
        ("E7", str(c.quantity_dispensed_thousandths)),
        ("D3", f"{c.fill_number:02d}"),
        ("D5", str(c.days_supply)),
        ("D8", str(c.dispense_as_written)),
    ]
    claim += [(fid, v) for fid, v in (("DE", c.date_prescription_written),) if v]
    if c.HasField("number_of_refills_authorized"):  # 0 sent says "no refills": sent as 0
        claim.append(("DF", str(c.number_of_refills_authorized)))
    claim += [(fid, v) for fid, v in (("EU", c.prior_authorization_type_code),) if v]
    claim += [(fid, v) for fid, v in (("EV", c.prior_authorization_number),) if v]
    if c.submission_clarification_codes:
        claim.append(("NX", str(len(c.submission_clarification_codes))))
        claim += [("DK", f"{code:02d}") for code in c.submission_clarification_codes]
    claim += [("C8", str(c.other_coverage_code))] if c.other_coverage_code else []
    claim += [("D6", str(c.compound_code))] if c.compound_code else []
    segments = [Segment("07", tuple(claim))]
    if request.other_payments:
        segments.append(_cob_segment(request))
    if request.dur_services:
        dur: list[tuple[str, str]] = []
        for number, d in enumerate(request.dur_services, start=1):
            dur += [
                ("7E", str(number)),
                ("E4", d.reason_for_service),
                ("E5", d.professional_service),
                ("E6", d.result_of_service),
            ]
            dur += [("8E", str(d.level_of_effort))] if d.level_of_effort else []
        segments.append(Segment("08", tuple(dur)))
    if rx.prescriber_id:
        segments.append(
            Segment("03", (("EZ", rx.prescriber_id_qualifier), ("DB", rx.prescriber_id)))
        )
    pricing = [
        ("D9", encode_money(pr.ingredient_cost_submitted_cents)),
        ("DC", encode_money(pr.dispensing_fee_submitted_cents)),
        ("DQ", encode_money(pr.usual_and_customary_charge_cents)),
        ("DU", encode_money(pr.gross_amount_due_cents)),
    ]
    pricing += [("DN", pr.basis_of_cost_determination)] if pr.basis_of_cost_determination else []
    pricing += [
        (fid, encode_money(cents))
        for fid, cents in (
            ("E3", pr.incentive_amount_submitted_cents),
            ("HA", pr.flat_sales_tax_amount_submitted_cents),
            ("GE", pr.percentage_sales_tax_amount_submitted_cents),
            ("HE", pr.percentage_sales_tax_rate_submitted),
            ("DX", pr.patient_paid_amount_submitted_cents),
        )
        if cents
    ]
    if pr.percentage_sales_tax_basis_submitted:
        pricing.append(("JE", pr.percentage_sales_tax_basis_submitted))
    if pr.other_amounts_claimed:
        pricing.append(("H7", str(len(pr.other_amounts_claimed))))
        for other in pr.other_amounts_claimed:
            pricing += [("H8", other.qualifier), ("H9", encode_money(other.amount_cents))]
    if request.HasField("compound"):
        segments.append(_compound_segment(request.compound))
    segments.append(Segment("11", tuple(pricing)))
    return tuple(segments)


def _cob_segment(request: pb.ClaimRequest) -> Segment:
    """05: 337-4C, then per other payer 338-5C, 339-6C, 340-7C, 443-E8, 341-HB with its
    342-HC/431-DV pairs, 471-5E with its 472-6E codes, 353-NR with its 351-NP/352-NQ pairs."""
    cob: list[tuple[str, str]] = [("4C", str(len(request.other_payments)))]
    for o in request.other_payments:
        cob += [("5C", o.coverage_type), ("6C", o.payer_id_qualifier), ("7C", o.payer_id)]
        cob += [("E8", o.date)] if o.date else []
        if o.amounts_paid:
            cob.append(("HB", str(len(o.amounts_paid))))
            for a in o.amounts_paid:
                cob += [("HC", a.qualifier), ("DV", encode_money(a.amount_cents))]
        if o.reject_codes:
            cob.append(("5E", str(len(o.reject_codes))))
            cob += [("6E", code) for code in o.reject_codes]
        if o.patient_responsibility:
            cob.append(("NR", str(len(o.patient_responsibility))))
            for a in o.patient_responsibility:
                cob += [("NP", a.qualifier), ("NQ", encode_money(a.amount_cents))]
    return Segment("05", tuple(cob))


def _compound_segment(compound: pb.Compound) -> Segment:
    """10: 450-EF, 451-EG, 447-EC, then per ingredient 488-RE, 489-TE, 448-ED, 449-EE, 490-UE
    and 362-2G with its 363-2H codes."""
    fields: list[tuple[str, str]] = [
        ("EF", compound.dosage_form_description_code),
        ("EG", compound.dispensing_unit_form_indicator),
        ("EC", str(len(compound.ingredients))),
    ]
    for i in compound.ingredients:
        fields += [
            ("RE", i.product_id_qualifier),
            ("TE", i.product_id),
            ("ED", str(i.quantity_thousandths)),
            ("EE", encode_money(i.cost_cents)),
        ]
        fields += [("UE", i.basis_of_cost_determination)] if i.basis_of_cost_determination else []
        if i.modifier_codes:
            fields.append(("2G", str(len(i.modifier_codes))))
            fields += [("2H", code) for code in i.modifier_codes]
    return Segment("10", tuple(fields))


def _patient_segment(patient: pb.Patient) -> tuple[Segment, ...]:
    fields = [(fid, v) for fid, v in (("C4", patient.date_of_birth),) if v]
    fields += [("C5", str(patient.gender_code))] if patient.gender_code else []
    return (Segment("01", tuple(fields)),) if fields else ()


def request_transmission(requests: list[pb.ClaimRequest], code: str = "B1") -> Transmission:
    """B1 (or B3) transactions of one patient at one pharmacy as a D.0 transmission; the first
    request's header and insurance are the transmission's."""
    first = requests[0]
    return Transmission(
        _header_of(first.header, code, len(requests)),
        (_insurance_segment(first.insurance), *_patient_segment(first.patient)),
        tuple(_claim_segments(r) for r in requests),
    )


def reversal_transmission(requests: list[pb.ReversalRequest]) -> Transmission:
    first = requests[0]
    return Transmission(
        _header_of(first.header, "B2", len(requests)),
        (_insurance_segment(first.insurance),),
        tuple(
            (
                Segment(
                    "07",
                    (
                        ("EM", "1"),
                        ("D2", r.claim.prescription_reference_number),
                        ("E1", r.claim.product_id_qualifier),
                        ("D7", r.claim.product_id),
                        ("D3", f"{r.claim.fill_number:02d}"),
                    ),
                ),
            )
            for r in requests
        ),
    )


def eligibility_transmission(request: pb.EligibilityRequest) -> Transmission:
    return Transmission(
        _header_of(request.header, "E1", 1),
        (_insurance_segment(request.insurance), *_patient_segment(request.patient)),
        ((),),
    )
