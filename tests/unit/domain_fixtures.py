"""A small hand-built reference snapshot and member for pure domain tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from rx_gateway.domain.claim import ClaimRequest, Header
from rx_gateway.domain.member import (
    Accumulators,
    Coverage,
    CoverageEndReason,
    Member,
    MemberState,
    PurseState,
)
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    DaysSupplyBand,
    Drug,
    FormularyEntry,
    FormularyStatus,
    NetworkPricing,
    Pharmacy,
    PharmacyNetwork,
    Plan,
    Program,
    PurseRule,
    ReferenceSnapshot,
)

PLAN = Plan(
    plan_id="P1",
    name="test plan",
    bin="610999",
    pcn="TEST",
    line_of_business="COMMERCIAL",
    plan_year_start_month=1,
    deductible_individual_cents=25_000,
    deductible_family_cents=50_000,
    out_of_pocket_individual_cents=100_000,
    out_of_pocket_family_cents=200_000,
    tiers={
        1: CostShareRule(
            CostShareKind.COPAY,
            copay_cents=1_000,
            deductible_applies=False,
            standard_network_extra_cents=500,
            days_supply_bands=(DaysSupplyBand(34, 10_000), DaysSupplyBand(90, 20_000)),
        ),
        2: CostShareRule(CostShareKind.COPAY, copay_cents=4_000),
        4: CostShareRule(
            CostShareKind.COINSURANCE,
            coinsurance_bp=2_500,
            coinsurance_min_cents=10_000,
            coinsurance_max_cents=25_000,
        ),
    },
    networks={
        PharmacyNetwork.PREFERRED: NetworkPricing(awp_discount_bp=2_000, dispensing_fee_cents=100),
        PharmacyNetwork.STANDARD: NetworkPricing(awp_discount_bp=1_500, dispensing_fee_cents=75),
    },
    days_supply_max=90,
    refill_too_soon_threshold_bp=8_000,
    purse_order=(PurseRule("HRA", allowed_tiers=frozenset({1, 2})),),
    programs=(Program("INS25", "insulin", 2_500),),
)
GENERIC = Drug(
    "00000000001",
    "generic",
    "mol-a",
    "cardio",
    False,
    None,
    False,
    awp_unit_price_millicents=100_000,
    nadac_unit_price_millicents=10_000,
    mac_unit_price_millicents=12_000,
)
BRAND = Drug(
    "00000000002",
    "brand",
    "mol-a",
    "cardio",
    True,
    GENERIC.ndc,
    False,
    awp_unit_price_millicents=1_000_000,
)
INSULIN = Drug(
    "00000000003",
    "insulin",
    "ins",
    "insulin",
    True,
    None,
    False,
    awp_unit_price_millicents=4_000_000,
)
SPECIALTY = Drug(
    "00000000004",
    "spec",
    "spec",
    "specialty",
    True,
    None,
    True,
    awp_unit_price_millicents=50_000_000,
)
SNAPSHOT = ReferenceSnapshot.build(
    "7",
    [PLAN],
    [GENERIC, BRAND, INSULIN, SPECIALTY],
    [
        FormularyEntry("P1", GENERIC.ndc, FormularyStatus.COVERED, 1),
        FormularyEntry(
            "P1", BRAND.ndc, FormularyStatus.COVERED, 2, quantity_limit_thousandths=90_000
        ),
        FormularyEntry("P1", INSULIN.ndc, FormularyStatus.COVERED, 2),
        FormularyEntry(
            "P1", SPECIALTY.ndc, FormularyStatus.COVERED, 4, prior_authorization_required=True
        ),
    ],
    [
        Pharmacy("1000000001", "pref", PharmacyNetwork.PREFERRED, "retail"),
        Pharmacy("1000000002", "std", PharmacyNetwork.STANDARD, "retail"),
        Pharmacy("1000000003", "oon", PharmacyNetwork.OUT_OF_NETWORK, "retail"),
    ],
)
MEMBER = Member("M1", "CH1", "001", "F1", "E1", "FT", dt.date(1980, 1, 1), 1)
STATE = MemberState(
    member=MEMBER,
    family_version=3,
    coverages=(Coverage("P1", "G1", dt.date(2026, 1, 1), None, None, "COMMERCIAL"),),
    purses=(PurseState("HRA-F1", "HRA", 5_000),),
)


HEADER_FIELDS = frozenset(
    (
        "bin",
        "processor_control_number",
        "service_provider_id",
        "date_of_service",
        "service_provider_id_qualifier",
        "software_vendor_id",
    )
)


def with_header(request: Any, **changes: Any) -> Any:
    """``request`` with header fields changed (bin, date_of_service ...) and, when given, other
    fields: ``replace`` for a request whose header is a value of its own."""
    header = {name: changes.pop(name) for name in tuple(changes) if name in HEADER_FIELDS}
    return replace(request, header=replace(request.header, **header), **changes)


# an NPI (its check digit holds): a Part D claim names its prescriber (claims here send none
# unless asked, so that the pinned digests stay what they are)
PRESCRIBER_NPI = "1999999992"


def claim(drug: Drug = GENERIC, **overrides: Any) -> ClaimRequest:
    """A well-formed B1 for CH1 on 2026-11-02; keyword overrides reach any field, header fields
    (bin, date_of_service ...) included."""
    quantity = overrides.pop("quantity_dispensed_thousandths", 30_000)
    ingredient = quantity * drug.awp_unit_price_millicents // 1_000_000
    header = {name: overrides.pop(name) for name in tuple(overrides) if name in HEADER_FIELDS}
    base = ClaimRequest(
        header=Header(
            **{
                "bin": "610999",
                "processor_control_number": "TEST",
                "service_provider_id": "1000000001",
                "date_of_service": "20261102",
            }
            | header
        ),
        cardholder_id="CH1",
        group_id="G1",
        person_code="001",
        patient_relationship_code=1,
        date_of_birth="",
        gender_code=0,
        prescription_reference_number="123",
        fill_number=0,
        product_id_qualifier="03",
        product_id=drug.ndc,
        quantity_dispensed_thousandths=quantity,
        days_supply=30,
        dispense_as_written=0,
        date_prescription_written="",
        number_of_refills_authorized=None,
        prior_authorization_number="",
        prescriber_id="",
        ingredient_cost_submitted_cents=ingredient,
        dispensing_fee_submitted_cents=200,
        usual_and_customary_charge_cents=ingredient * 2 + 200,
        gross_amount_due_cents=ingredient + 200,
    )
    return replace(base, **overrides)


def state(**overrides: Any) -> MemberState:
    return replace(STATE, **overrides)


TERMINATED = (
    Coverage(
        "P1",
        "G1",
        dt.date(2025, 1, 1),
        dt.date(2026, 6, 30),
        CoverageEndReason.TERMINATED,
        "COMMERCIAL",
    ),
)
MET = Accumulators(25_000, 25_000, 100_000, 100_000)
