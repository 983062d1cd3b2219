"""Building claim requests over the synthetic data (demo, tests, benchmark)."""

from __future__ import annotations

from typing import Any

from rx_gateway.domain.money import apply_basis_points, extended_cost_cents
from rx_gateway.v1 import claims_pb2 as pb

SUBMITTED_FEE_CENTS = 200


def claim_request(
    fixtures: dict[str, Any],
    member: dict[str, Any],
    drug: dict[str, Any],
    *,
    pharmacy: str,
    rx_number: int,
    date_of_service: str,
    quantity_thousandths: int = 30_000,
    days_supply: int = 30,
    fill_number: int = 0,
    dispense_as_written: int = 0,
    usual_and_customary_cents: int | None = None,
) -> pb.ClaimRequest:
    """A B1 as a pharmacy would send it: AWP-based submitted cost, a fee, a U&C above both."""
    plan = fixtures["plans"][member["plan_id"]]
    ingredient = extended_cost_cents(quantity_thousandths, drug["awp_unit_price_millicents"])
    gross = ingredient + SUBMITTED_FEE_CENTS
    uc = usual_and_customary_cents or apply_basis_points(gross, 12_000)
    return pb.ClaimRequest(
        header=pb.Header(
            bin=plan["bin"],
            processor_control_number=plan["pcn"],
            service_provider_id=pharmacy,
            service_provider_id_qualifier="01",
            date_of_service=date_of_service,
        ),
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],
            person_code=member["person_code"],
            patient_relationship_code=1 if member["person_code"] == "001" else 3,
        ),
        patient=pb.Patient(),
        claim=pb.Claim(
            prescription_reference_number=f"{rx_number:012d}",
            fill_number=fill_number,
            product_id_qualifier="03",
            product_id=drug["ndc"],
            quantity_dispensed_thousandths=quantity_thousandths,
            days_supply=days_supply,
            dispense_as_written=dispense_as_written,
        ),
        prescriber=pb.Prescriber(prescriber_id_qualifier="01", prescriber_id="1999999992"),
        pricing=pb.Pricing(
            ingredient_cost_submitted_cents=ingredient,
            dispensing_fee_submitted_cents=SUBMITTED_FEE_CENTS,
            usual_and_customary_charge_cents=uc,
            gross_amount_due_cents=gross,
            basis_of_cost_determination="01",
        ),
    )


DRUG_BENEFIT = "07"  # 342-HC: what the other payer paid for the drug
PATIENT_PAY_AMOUNT = "06"  # 351-NP: the patient pay amount (505-F5) the other payer left


def add_other_payment(
    request: pb.ClaimRequest,
    *,
    other_coverage_code: int,
    payer_bin: str,
    paid_on: str,
    paid_cents: int | None = None,
    patient_responsibility_cents: int | None = None,
    reject_codes: tuple[str, ...] = (),
    coverage_type: str = "01",
) -> None:
    """Make ``request`` a secondary claim: 308-C8 and one COB/Other Payments occurrence for the
    payer before this one (by BIN, 339-6C 03): what it paid for the drug (342-HC 07), its
    rejects (472-6E) and the patient pay amount it left (351-NP 06)."""
    request.claim.other_coverage_code = other_coverage_code
    payment = request.other_payments.add(
        coverage_type=coverage_type, payer_id_qualifier="03", payer_id=payer_bin, date=paid_on
    )
    if paid_cents is not None:
        payment.amounts_paid.add(qualifier=DRUG_BENEFIT, amount_cents=paid_cents)
    payment.reject_codes.extend(reject_codes)
    if patient_responsibility_cents is not None:
        payment.patient_responsibility.add(
            qualifier=PATIENT_PAY_AMOUNT, amount_cents=patient_responsibility_cents
        )


def make_compound(
    request: pb.ClaimRequest,
    ingredients: list[tuple[dict[str, Any], int, int]],
    *,
    dosage_form: str = "03",
    dispensing_unit: str = "2",
) -> None:
    """Make ``request`` a compound: 406-D6 2, 436-E1 00, 407-D7 0 and the Compound segment,
    one ingredient per (drug, quantity in thousandths, drug cost in cents); 409-D9 their sum
    and 430-DU grown to match."""
    claim, pricing = request.claim, request.pricing
    claim.compound_code = 2
    claim.product_id_qualifier = "00"
    claim.product_id = "0"
    request.compound.dosage_form_description_code = dosage_form
    request.compound.dispensing_unit_form_indicator = dispensing_unit
    for drug, quantity, cost in ingredients:
        request.compound.ingredients.add(
            product_id_qualifier="03",
            product_id=drug["ndc"],
            quantity_thousandths=quantity,
            cost_cents=cost,
            basis_of_cost_determination="01",
        )
    total = sum(cost for _, _, cost in ingredients)
    pricing.gross_amount_due_cents += total - pricing.ingredient_cost_submitted_cents
    pricing.ingredient_cost_submitted_cents = total
    pricing.usual_and_customary_charge_cents = max(
        pricing.usual_and_customary_charge_cents, pricing.gross_amount_due_cents
    )
