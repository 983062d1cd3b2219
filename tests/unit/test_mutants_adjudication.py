"""Adjudication end to end, pinned against mutants of adjudication.py (issue 11).

Rejected claims: every reject with its exact message (what the pharmacist reads, 526-FQ) and the
whole rule trace (it names the group that failed). Paid claims: every field of the response,
the ledger entry and the moves, worked out by hand in the comments.

The member (domain_fixtures.MEMBER) was born 1980-01-01 and is male (1); claims are dated
2026-11-02, when the member is 46.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest

from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.checks import CheckFailed
from rx_gateway.domain.eligibility import resolve_coverage
from rx_gateway.domain.ledger import AccumulatorMove, Posting, PurseMove
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    Coverage,
    CoverageEndReason,
    Fill,
    PriorAuthorization,
    PurseState,
)
from rx_gateway.domain.outcome import AccumulatorView, PurseLine, ResponsePricing, ResponseStatus
from rx_gateway.domain.product import age_on
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    PursePeriod,
    PurseRule,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import RejectCode
from tests.unit.domain_fixtures import (
    BRAND,
    GENERIC,
    INSULIN,
    PLAN,
    SNAPSHOT,
    SPECIALTY,
    claim,
    state,
)

D = dt.date
YEAR = D(2026, 1, 1)
NOFORM = Drug("00000000010", "noform", "mol-n", "cardio", False, None, False, 100_000)
LONELY = Drug("00000000011", "lonely", "mol-l", "lonelygroup", False, None, False, 100_000)
EXCLUDED = Drug("00000000012", "excl", "mol-e", "cardio", False, None, False, 100_000)
NONFORM = Drug("00000000013", "nonf", "mol-f", "cardio", False, None, False, 100_000)
FIRST_LINE = Drug("00000000015", "first line", "mol-s", "cardio", False, None, False, 100_000)
EXTRA_DRUGS = (NOFORM, LONELY, EXCLUDED, NONFORM, FIRST_LINE)
EXTRA_ENTRIES = (
    FormularyEntry("P1", EXCLUDED.ndc, FormularyStatus.EXCLUDED, 1),
    FormularyEntry("P1", NONFORM.ndc, FormularyStatus.NON_FORMULARY, 1),
    FormularyEntry("P1", FIRST_LINE.ndc, FormularyStatus.COVERED, 1),
)
SPECIALTY_RX = Pharmacy("1000000004", "spec", PharmacyNetwork.PREFERRED, "specialty")
MAIL = Pharmacy("1000000005", "mail", PharmacyNetwork.PREFERRED, "mail")
RETAIL90 = Pharmacy("1000000006", "r90", PharmacyNetwork.PREFERRED, "retail90")


def snap(entries: dict[str, FormularyEntry | None] | None = None, **plan_changes: Any) -> Any:
    """The fixture snapshot with plan changes, changed (or, with None, removed) formulary
    entries, a few more drugs and pharmacies."""
    formulary: dict[str, FormularyEntry | None] = {
        e.ndc: e for e in (*SNAPSHOT.formulary.values(), *EXTRA_ENTRIES)
    }
    formulary.update(entries or {})
    return ReferenceSnapshot.build(
        "7",
        [replace(PLAN, **plan_changes)],
        [*SNAPSHOT.drugs.values(), *EXTRA_DRUGS],
        [e for e in formulary.values() if e is not None],
        [*SNAPSHOT.pharmacies.values(), SPECIALTY_RX, MAIL, RETAIL90],
    )


BASE = snap()


def generic_entry(**changes: Any) -> dict[str, FormularyEntry | None]:
    return {GENERIC.ndc: replace(BASE.formulary[("P1", GENERIC.ndc)], **changes)}


def decide(
    request: Any, member: Any, snapshot: Any = BASE, business_date: dt.date | None = None
) -> Any:
    return adjudicate(
        request,
        snapshot,
        member,
        authorization_number="A1",
        internal_control_number="ICN1",
        business_date=business_date,
    )


E = "eligibility: COMMERCIAL coverage under P1"
N = "network: preferred retail pharmacy"
FG = "formulary: generic tier 1"
FB = "formulary: brand tier 2"
PA_ALL_YEAR = PriorAuthorization(None, "specialty", YEAR, D(2026, 12, 31), "PA1")
QL = "Quantity limit 90 per fill; submitted 100. Dispense up to 90, or the prescriber requests a quantity-limit override"


def span(
    start: dt.date,
    end: dt.date | None = None,
    reason: CoverageEndReason | None = None,
    plan_id: str = "P1",
) -> Coverage:
    return Coverage(plan_id, "G1", start, end, reason, "COMMERCIAL")


def fill(molecule: str, day: dt.date, days: int = 30, quantity: int = 30_000) -> Fill:
    return Fill(molecule, day, days, quantity)


def period_entry() -> dict[str, FormularyEntry | None]:
    """GENERIC: at most 60 units and 45 days supplied in any 30 days (this fill included)."""
    return generic_entry(
        period_days=30, period_quantity_limit_thousandths=60_000, period_days_supply_max=45
    )


NINE_G = "Quantity limit 60 per 30 days; {filled} already filled, submitted 30. Up to {left} may be dispensed now"
AG = "45 days supply per 30 days; {supplied} already supplied, submitted 30. Up to {left} days may be dispensed now"
STEP = "Step therapy: {what} must be tried first, or the prescriber requests an exception"

# (request overrides, member-state overrides or None for no member, snapshot, business date,
#  expected rejects as (code, message) — empty for a paid claim —, expected rule trace)
ROWS: list[Any] = [
    # --- syntax and plan ---
    pytest.param(
        {"bin": "12"}, {}, BASE, None,
        [("01", "BIN (101-A1) must be 6 digits 0-9")], ("rejected in syntax: 01",), id="syntax",
    ),
    # several syntax rejects: answered in precedence order; the trace lists them as checked
    pytest.param(
        {"days_supply": 0, "product_id": "123"}, {}, BASE, None,
        [("19", "Days supply (405-D5) must be 1-365"), ("21", "NDC (407-D7) must be 11 digits 0-9")],
        ("rejected in syntax: 21,19",), id="syntax-two",
    ),
    pytest.param(
        {"bin": "610998"}, {}, BASE, None,
        [("01", "BIN/PCN is not processed by this gateway")], ("rejected in plan: 01",),
        id="unknown-bin",
    ),
    pytest.param(
        {"processor_control_number": "OTHER"}, {}, BASE, None,
        [("04", "BIN/PCN is not processed by this gateway")], ("rejected in plan: 04",),
        id="unknown-pcn",
    ),
    # --- eligibility ---
    pytest.param(
        {}, None, BASE, None,
        [("52", "Cardholder ID and person code not found")], ("rejected in eligibility: 52",),
        id="no-member",
    ),
    pytest.param(
        {"group_id": ""}, {}, BASE, None,
        [("06", "Group ID (301-C1) is required")], ("rejected in eligibility: 06",),
        id="no-group",
    ),
    pytest.param(
        {}, {"coverages": ()}, BASE, None,
        [("65", "No coverage under this BIN/PCN")], ("rejected in eligibility: 65",),
        id="no-coverage",
    ),
    pytest.param(
        {}, {"coverages": (span(YEAR, plan_id="OTHER"),)}, BASE, None,
        [("65", "No coverage under this BIN/PCN")], ("rejected in eligibility: 65",),
        id="coverage-under-another-plan",
    ),
    pytest.param(
        {}, {"coverages": (span(D(2027, 1, 1)), span(D(2026, 12, 1)))}, BASE, None,
        [("67", "Coverage starts 2026-12-01")], ("rejected in eligibility: 67",),
        id="before-the-earliest-start",
    ),
    pytest.param(
        {}, {"coverages": (span(D(2025, 1, 1), D(2026, 6, 30), CoverageEndReason.TERMINATED),)},
        BASE, None,
        [("69", "Coverage ended 2026-06-30")], ("rejected in eligibility: 69",), id="terminated",
    ),
    pytest.param(
        {}, {"coverages": (span(D(2025, 1, 1), D(2026, 6, 30), CoverageEndReason.EXPIRED),)},
        BASE, None,
        [("68", "Coverage ended 2026-06-30")], ("rejected in eligibility: 68",), id="expired",
    ),
    # the last span to end decides: expired 2026-06-30, not terminated 2024-12-31
    pytest.param(
        {},
        {
            "coverages": (
                span(D(2024, 1, 1), D(2024, 12, 31), CoverageEndReason.TERMINATED),
                span(D(2025, 1, 1), D(2026, 6, 30), CoverageEndReason.EXPIRED),
            )
        },
        BASE, None,
        [("68", "Coverage ended 2026-06-30")], ("rejected in eligibility: 68",),
        id="latest-end-decides",
    ),
    pytest.param(
        {"group_id": "G2"}, {}, BASE, None,
        [("51", "Group ID does not match the member's coverage")],
        ("rejected in eligibility: 51",), id="group-mismatch",
    ),
    pytest.param(
        {"person_code": ""}, {}, snap(person_code_required=True), None,
        [("08", "Person code (303-C3) is missing: the plan needs it")],
        ("rejected in eligibility: 08",), id="person-code-required",
    ),
    pytest.param(
        {}, {}, snap(person_code_required=True), None, [], (), id="person-code-sent",
    ),
    # --- filing (business date) ---
    pytest.param(
        {}, {}, BASE, D(2026, 11, 1),
        [("82", "Date of service is after 2026-11-01")], (E, "rejected in filing: 82"),
        id="post-dated",
    ),
    pytest.param({}, {}, BASE, D(2026, 11, 2), [], (), id="dated-today"),
    # 2026-11-02 + 90 days = 2027-01-31 (28 + 31 + 31)
    pytest.param({}, {}, snap(timely_filing_days=90), D(2027, 1, 31), [], (), id="day-90"),
    pytest.param(
        {}, {}, snap(timely_filing_days=90), D(2027, 2, 1),
        [("81", "Claims must be filed within 90 days of the date of service")],
        (E, "rejected in filing: 81"), id="day-91",
    ),
    # --- network ---
    pytest.param(
        {"service_provider_id": "9999999999"}, {}, BASE, None,
        [("50", "Pharmacy not found")], (E, "rejected in network: 50"), id="unknown-pharmacy",
    ),
    pytest.param(
        {"service_provider_id": "1000000003"}, {}, BASE, None,
        [("40", "Pharmacy is not in the plan's network")], (E, "rejected in network: 40"),
        id="out-of-network",
    ),
    pytest.param(
        {"product_id": SPECIALTY.ndc, "quantity_dispensed_thousandths": 1_000}, {},
        snap(specialty_pharmacy_required=True), None,
        [("G6", "Specialty drug: fill at a specialty pharmacy in the plan's network")],
        (E, "rejected in network: G6"), id="specialty-at-retail",
    ),
    # at a specialty pharmacy the network passes; the product group then wants a PA (75)
    pytest.param(
        {"product_id": SPECIALTY.ndc, "quantity_dispensed_thousandths": 1_000,
         "service_provider_id": SPECIALTY_RX.npi},
        {}, snap(specialty_pharmacy_required=True), None,
        [("75", "Prior authorization required for spec: the prescriber requests it from the plan")],
        (E, "network: preferred specialty pharmacy", "rejected in product: 75"),
        id="specialty-at-specialty-needs-pa",
    ),
    pytest.param(
        {"product_id": SPECIALTY.ndc, "quantity_dispensed_thousandths": 1_000}, {},
        snap(prior_authorization_contact="fax 555-0100"), None,
        [("75", "Prior authorization required for spec: the prescriber requests it at fax 555-0100")],
        (E, N, "rejected in product: 75"), id="pa-contact",
    ),
    pytest.param(
        {"days_supply": 84}, {}, snap(extended_supply_days_min=84), None,
        [("G9", "84-day supply only by mail or at a 90-day retail pharmacy; this pharmacy may fill up to 83 days")],
        (E, "rejected in network: G9"), id="extended-at-retail",
    ),
    pytest.param({"days_supply": 83}, {}, snap(extended_supply_days_min=84), None, [], (), id="83d"),
    pytest.param(
        {"days_supply": 84, "service_provider_id": MAIL.npi}, {}, snap(extended_supply_days_min=84),
        None, [], (), id="extended-by-mail",
    ),
    pytest.param(
        {"days_supply": 84, "service_provider_id": RETAIL90.npi}, {},
        snap(extended_supply_days_min=84), None, [], (), id="extended-at-retail90",
    ),
    pytest.param(
        {"product_id": SPECIALTY.ndc, "quantity_dispensed_thousandths": 1_000, "days_supply": 90},
        {}, snap(specialty_pharmacy_required=True, extended_supply_days_min=84), None,
        [
            ("G6", "Specialty drug: fill at a specialty pharmacy in the plan's network"),
            ("G9", "90-day supply only by mail or at a 90-day retail pharmacy; this pharmacy may fill up to 83 days"),
        ],
        (E, "rejected in network: G6,G9"), id="g6-and-g9",
    ),
    # --- product ---
    pytest.param(
        {"product_id": "00000000099"}, {}, BASE, None,
        [("54", "NDC not in the drug file")], (E, N, "rejected in product: 54"), id="unknown-ndc",
    ),
    pytest.param(
        {"product_id": NOFORM.ndc}, {}, BASE, None,
        [("MR", "noform is not on the plan's formulary; covered alternative: generic (NDC 00000000001)")],
        (E, N, "rejected in product: MR"), id="not-on-formulary",
    ),
    pytest.param(
        {"product_id": NONFORM.ndc}, {}, BASE, None,
        [("MR", "nonf is not on the plan's formulary; covered alternative: generic (NDC 00000000001)")],
        (E, N, "rejected in product: MR"), id="non-formulary",
    ),
    pytest.param(
        {"product_id": LONELY.ndc}, {}, BASE, None,
        [("MR", "lonely is not on the plan's formulary")],
        (E, N, "rejected in product: MR"), id="no-alternative",
    ),
    pytest.param(
        {"product_id": EXCLUDED.ndc}, {}, BASE, None,
        [("70", "excl is excluded from the benefit")], (E, N, "rejected in product: 70"),
        id="excluded",
    ),
    pytest.param(
        {}, {}, snap(generic_entry(age_min=18, age_max=45)), None,
        [("60", "generic is covered for ages 18-45")], (E, N, "rejected in product: 60"),
        id="too-old",
    ),
    pytest.param(
        {}, {}, snap(generic_entry(age_max=45)), None,
        [("60", "generic is covered for ages 0-45")], (E, N, "rejected in product: 60"),
        id="too-old-no-minimum",
    ),
    pytest.param(
        {}, {}, snap(generic_entry(age_min=47)), None,
        [("60", "generic is covered for ages 47-up")], (E, N, "rejected in product: 60"),
        id="too-young",
    ),
    pytest.param({}, {}, snap(generic_entry(age_max=46)), None, [], (), id="age-max-46"),
    pytest.param({}, {}, snap(generic_entry(age_min=46)), None, [], (), id="age-min-46"),
    pytest.param(
        {}, {}, snap(generic_entry(gender_code=2)), None,
        [("61", "generic is not covered for this patient")], (E, N, "rejected in product: 61"),
        id="gender",
    ),
    pytest.param({}, {}, snap(generic_entry(gender_code=1)), None, [], (), id="gender-ok"),
    pytest.param(
        {}, {}, snap(generic_entry(age_max=45, gender_code=2)), None,
        [("60", "generic is covered for ages 0-45"), ("61", "generic is not covered for this patient")],
        (E, N, "rejected in product: 60,61"), id="age-and-gender",
    ),
    pytest.param(
        {"product_id": BRAND.ndc}, {}, snap(generic_required_daw_codes=frozenset({0})), None,
        [("AJ", "Generic required: dispense generic (NDC 00000000001)")],
        (E, N, "rejected in product: AJ"), id="generic-required",
    ),
    pytest.param(
        {"product_id": BRAND.ndc, "dispense_as_written": 1}, {},
        snap(generic_required_daw_codes=frozenset({0})), None, [], (), id="daw1-not-aj",
    ),
    pytest.param({}, {}, snap(generic_required_daw_codes=frozenset({0})), None, [], (), id="g-aj"),
    pytest.param(
        {}, {}, snap(generic_entry(step_therapy_molecule="mol-s")), None,
        [("608", STEP.format(what="mol-s (first line, NDC 00000000015)"))],
        (E, N, "rejected in product: 608"), id="step-therapy",
    ),
    pytest.param(
        {}, {}, snap(generic_entry(step_therapy_molecule="mol-z")), None,
        [("608", STEP.format(what="mol-z"))], (E, N, "rejected in product: 608"),
        id="step-therapy-no-first-line",
    ),
    # the first-line molecule filled 365 days before (2025-11-02): done
    pytest.param(
        {}, {"fills": (fill("mol-s", D(2025, 11, 2)),)},
        snap(generic_entry(step_therapy_molecule="mol-s")), None, [], (), id="step-365",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-s", D(2025, 11, 1)),)},
        snap(generic_entry(step_therapy_molecule="mol-s")), None,
        [("608", STEP.format(what="mol-s (first line, NDC 00000000015)"))],
        (E, N, "rejected in product: 608"), id="step-366",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-s", D(2026, 11, 2)),)},
        snap(generic_entry(step_therapy_molecule="mol-s")), None, [], (), id="step-same-day",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-s", D(2026, 11, 3)),)},
        snap(generic_entry(step_therapy_molecule="mol-s")), None,
        [("608", STEP.format(what="mol-s (first line, NDC 00000000015)"))],
        (E, N, "rejected in product: 608"), id="step-future-fill",
    ),
    pytest.param(
        {}, {"prior_authorizations": (PriorAuthorization(GENERIC.ndc, None, YEAR, D(2026, 12, 31), "P"),)},
        snap(generic_entry(step_therapy_molecule="mol-s")), None, [], (), id="step-pa",
    ),
    # --- limits ---
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 100_000}, {}, BASE, None,
        [("76", QL)], (E, N, FB, "rejected in limits: 76"), id="quantity-limit",
    ),
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 100_500}, {}, BASE, None,
        [("76", QL.replace("submitted 100.", "submitted 100.5."))],
        (E, N, FB, "rejected in limits: 76"), id="quantity-limit-fraction",
    ),
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 90_000}, {}, BASE, None, [],
        (), id="quantity-at-limit",
    ),
    # a drug-group PA approving 120 units lifts the limit to 120
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 100_000},
        {"prior_authorizations": (PriorAuthorization(None, "cardio", YEAR, D(2026, 12, 31), "Q", 120_000),)},
        BASE, None, [], (), id="pa-lifts-limit",
    ),
    # a PA approving 95 units does not cover 100: the formulary limit (90) stands
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 100_000},
        {"prior_authorizations": (PriorAuthorization(None, "cardio", YEAR, D(2026, 12, 31), "Q", 95_000),)},
        BASE, None, [("76", QL)], (E, N, FB, "rejected in limits: 76"), id="pa-too-small",
    ),
    # a PA for another product lifts nothing
    pytest.param(
        {"product_id": BRAND.ndc, "quantity_dispensed_thousandths": 100_000},
        {"prior_authorizations": (PriorAuthorization(SPECIALTY.ndc, None, YEAR, D(2026, 12, 31), "Q", 200_000),)},
        BASE, None, [("76", QL)], (E, N, FB, "rejected in limits: 76"), id="pa-other-product",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 4), 30, 40_000),)}, snap(period_entry()), None,
        [("9G", NINE_G.format(filled=40, left=20)), ("AG", AG.format(supplied=30, left=15))],
        (E, N, FG, "rejected in limits: 9G,AG"), id="period-first-day-of-window",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 3), 30, 40_000),)}, snap(period_entry()), None,
        [], (), id="period-outside-window",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 11, 2), 30, 40_000),)}, snap(period_entry()), None,
        [("9G", NINE_G.format(filled=40, left=20)), ("AG", AG.format(supplied=30, left=15))],
        (E, N, FG, "rejected in limits: 9G,AG"), id="period-same-day",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 11, 3), 30, 40_000),)}, snap(period_entry()), None,
        [], (), id="period-future-fill",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 23), 50, 80_000),)}, snap(period_entry()), None,
        [("9G", NINE_G.format(filled=80, left=0)), ("AG", AG.format(supplied=50, left=0))],
        (E, N, FG, "rejected in limits: 9G,AG"), id="period-over",
    ),
    # exactly at both period limits: 30 + 30 = 60 units, 15 + 30 = 45 days
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 4), 15, 30_000),)}, snap(period_entry()), None,
        [], (), id="period-at-limit",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-b", D(2026, 10, 30), 30, 90_000),)}, snap(period_entry()), None,
        [], (), id="period-other-molecule",
    ),
    pytest.param(
        {"days_supply": 91}, {}, BASE, None,
        [("7X", "Days supply limit 90; submitted 91")], (E, N, FG, "rejected in limits: 7X"),
        id="days-over-plan",
    ),
    # tier 2's only band ends at 34 days: 35 days has no copay band
    pytest.param(
        {"product_id": BRAND.ndc, "days_supply": 35}, {}, BASE, None,
        [("7X", "Days supply limit 90; submitted 35")], (E, N, FB, "rejected in limits: 7X"),
        id="days-no-band",
    ),
    pytest.param(
        {"days_supply": 31}, {}, snap(generic_entry(days_supply_max=30)), None,
        [("7X", "Days supply limit 30; submitted 31")], (E, N, FG, "rejected in limits: 7X"),
        id="days-over-entry",
    ),
    pytest.param(
        {"days_supply": 91}, {}, snap(generic_entry(days_supply_max=120)), None,
        [("7X", "Days supply limit 90; submitted 91")], (E, N, FG, "rejected in limits: 7X"),
        id="entry-cannot-exceed-plan",
    ),
    # --- refill too soon: 80% of the days supply must have passed ---
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 20)),)}, BASE, None,
        [("79", "Refill too soon: next fill on or after 2026-11-13")],
        (E, N, FG, "rejected in refill: 79"), id="refill-24-days",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 9)),)}, BASE, None, [], (), id="refill-on-day-24",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 30)), fill("mol-a", D(2026, 10, 20)))}, BASE,
        None, [("79", "Refill too soon: next fill on or after 2026-11-23")],
        (E, N, FG, "rejected in refill: 79"), id="refill-latest",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-b", D(2026, 11, 1)), fill("mol-a", D(2026, 10, 20)))}, BASE, None,
        [("79", "Refill too soon: next fill on or after 2026-11-13")],
        (E, N, FG, "rejected in refill: 79"), id="refill-after-another-molecule",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 11, 2)),)}, BASE, None,
        [("79", "Refill too soon: next fill on or after 2026-11-26")],
        (E, N, FG, "rejected in refill: 79"), id="refill-same-day",
    ),
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 11, 3)),)}, BASE, None, [], (), id="refill-future",
    ),
    # a 75% threshold: 30 × 75% = 22.5 → 23 days (half up): 2026-10-11 + 23 = 2026-11-03
    pytest.param(
        {}, {"fills": (fill("mol-a", D(2026, 10, 11)),)}, snap(refill_too_soon_threshold_bp=7_500),
        None, [("79", "Refill too soon: next fill on or after 2026-11-03")],
        (E, N, FG, "rejected in refill: 79"), id="refill-half-day-rounds-up",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "member", "snapshot", "business_date", "expected", "trace"), ROWS
)
def test_decisions(
    overrides: dict[str, Any],
    member: dict[str, Any] | None,
    snapshot: ReferenceSnapshot,
    business_date: dt.date | None,
    expected: list[tuple[str, str]],
    trace: tuple[str, ...],
) -> None:
    request = claim(**overrides)
    decision = decide(request, None if member is None else state(**member), snapshot, business_date)
    if not expected:
        assert isinstance(decision, Paid), decision.response.rejects
        return
    assert isinstance(decision, Rejected)
    response = decision.response
    assert [(r.code.value, r.message) for r in response.rejects] == expected
    assert response.transaction_response_status is ResponseStatus.REJECTED
    assert response.message == expected[0][1]
    assert response.additional_messages == tuple(m for _, m in expected)
    assert response.rule_trace == trace
    assert response.reference_data_version == "7"
    assert response.prescription_reference_number == "123"
    reached_plan = trace[:1] == (E,)
    assert response.plan_id == ("P1" if reached_plan else "")
    # a syntax reject is answered before the member is looked at
    syntax = trace[0].startswith("rejected in syntax")
    assert decision.member_id == (None if member is None or syntax else "M1")


def test_resolve_coverage_without_a_person_code() -> None:
    """The person code is optional to the function: a plan that needs one rejects 08."""
    with pytest.raises(CheckFailed) as stopped:
        resolve_coverage(
            "610999", "TEST", "G1", D(2026, 11, 2), snap(person_code_required=True), state()
        )
    assert stopped.value.group == "eligibility"
    assert [r.code for r in stopped.value.rejects] == [RejectCode.MI_PERSON_CODE]


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (D(1980, 11, 2), D(2026, 11, 2), 46),  # the birthday
        (D(1980, 11, 3), D(2026, 11, 2), 45),  # the day before it
        (D(1980, 12, 1), D(2026, 11, 30), 45),  # an earlier month
        (D(1980, 1, 31), D(2026, 2, 1), 46),
        (D(2000, 2, 29), D(2026, 2, 28), 25),
        (D(2000, 2, 29), D(2026, 3, 1), 26),
    ],
)
def test_age_on(born: dt.date, day: dt.date, age: int) -> None:
    assert age_on(born, day) == age


# ------------------------------------------------------------------ paid claims, every field

POSTED = (PurseState("HRA-F1", "HRA", 5_000, posted_cents=5_000),)
MET_SOME = {("P1", YEAR): Accumulators(1_000, 3_000, 2_000, 5_000)}


def oop_moves(amount: int) -> tuple[AccumulatorMove, ...]:
    return (
        AccumulatorMove(
            AccumulatorLevel.INDIVIDUAL, "M1", "P1", YEAR, AccumulatorKind.OUT_OF_POCKET, amount
        ),
        AccumulatorMove(
            AccumulatorLevel.FAMILY, "F1", "P1", YEAR, AccumulatorKind.OUT_OF_POCKET, amount
        ),
    )


def test_generic_paid_by_the_hra() -> None:
    """GENERIC 30 units, preferred: MAC 30 × $0.12 = $3.60 + $1.00 fee = $4.60 (07), under
    AWP 30 × $1.00 × 80% = $24.00. Tier 1 copay $10.00, no deductible: the lesser, $4.60. The
    HRA ($50.00) pays it: member $0.00, plan $0.00, 509-F9 = 360 + 100 − 0 = 460.
    Before: deductible 1000/3000, OOP 2000/5000 (individual/family); the $4.60 goes to OOP."""
    decision = decide(claim(), state(purses=POSTED, accumulators=MET_SOME))
    assert isinstance(decision, Paid)
    r = decision.response
    assert r.pricing == ResponsePricing(
        patient_pay_amount_cents=0,
        ingredient_cost_paid_cents=360,
        dispensing_fee_paid_cents=100,
        total_amount_paid_cents=460,
        basis_of_reimbursement_determination="07",
        amount_applied_to_periodic_deductible_cents=0,
        amount_of_copay_cents=460,
        amount_of_coinsurance_cents=0,
        amount_exceeding_periodic_benefit_maximum_cents=None,
        accumulated_deductible_amount_cents=1_000,  # the individual deductible applies
        remaining_deductible_amount_cents=24_000,  # min(25000 − 1000, 50000 − 3000)
        remaining_benefit_amount_cents=None,
        amount_attributed_to_provider_network_selection_cents=0,
        amount_attributed_to_product_selection_brand_cents=0,
        spending_account_amount_remaining_cents=4_540,  # 5000 − 460
        health_plan_funded_assistance_amount_cents=-460,
        allowed_amount_cents=460,
        plan_paid_cents=0,
        amount_attributed_to_non_preferred_formulary_cents=0,
        amount_attributed_to_brand_non_preferred_formulary_cents=0,
        benefit_stages=(),
    )
    assert (r.transaction_response_status, r.authorization_number, r.internal_control_number) == (
        ResponseStatus.PAID,
        "A1",
        "ICN1",
    )
    assert r.message == "Paid. Collect $0.00 from the patient"
    assert r.additional_messages == ()
    assert r.rejects == ()
    assert r.purses == (PurseLine("HRA-F1", "HRA", 460, 4_540),)
    assert r.accumulators == AccumulatorView(
        "20260101", 1_000, 24_000, 3_000, 47_000, 2_460, 97_540, 5_460, 194_540, "family"
    )
    assert (r.plan_id, r.reference_data_version, r.prescription_reference_number) == (
        "P1",
        "7",
        "123",
    )
    assert r.rule_trace == (E, N, FG, "pricing: allowed $4.60 (522-FM 07)", "purse HRA: paid $4.60")
    assert decision.entry.postings == (
        Posting("purse:HRA-F1", -460),
        Posting("pharmacy_payable:1000000001", 460),
    )
    assert decision.purse_moves == (PurseMove("HRA-F1", -460),)
    assert decision.accumulator_moves == oop_moves(460)
    assert (decision.member_id, decision.family_id, decision.molecule) == ("M1", "F1", "mol-a")
    assert decision.releases_allotments is False  # the balance is all posted


@pytest.mark.parametrize(
    ("purses", "releases"),
    [
        # $10.00 of the $50.00 is an allotment due, not yet posted: the write must post it
        ((PurseState("HRA-F1", "HRA", 5_000, posted_cents=4_000),), True),
        ((PurseState("HRA-F1", "HRA", 5_000, posted_cents=5_000),), False),
        ((), False),  # nothing spent
    ],
)
def test_releases_allotments(purses: tuple[PurseState, ...], releases: bool) -> None:
    decision = decide(claim(), state(purses=purses))
    assert isinstance(decision, Paid)
    assert decision.releases_allotments is releases


def test_brand_daw_1_pays_the_penalty_outside_the_out_of_pocket() -> None:
    """BRAND 30 units DAW 1, preferred: AWP 30 × $10.00 × 80% = $240.00 + $1.00 = $241.00
    (03). The generic: MAC $3.60 + $1.00 = $4.60 at the generic's tier 1: copay $4.60; brand
    penalty $241.00 − $4.60 = $236.40. No purse: the member pays $241.00, the plan nothing.
    Deductible met; OOP 30000 → 30460 (the penalty does not count)."""
    met = {("P1", YEAR): Accumulators(25_000, 25_000, 30_000, 30_000)}
    decision = decide(claim(BRAND, dispense_as_written=1), state(purses=(), accumulators=met))
    assert isinstance(decision, Paid)
    r = decision.response
    p = r.pricing
    assert p is not None
    assert (
        p.patient_pay_amount_cents,
        p.amount_of_copay_cents,
        p.amount_attributed_to_product_selection_brand_cents,
        p.total_amount_paid_cents,
        p.plan_paid_cents,
        p.accumulated_deductible_amount_cents,
        p.remaining_deductible_amount_cents,
        p.spending_account_amount_remaining_cents,
        p.health_plan_funded_assistance_amount_cents,
    ) == (24_100, 460, 23_640, 0, 0, 25_000, 0, None, 0)
    assert r.message == "Paid. Collect $241.00 from the patient"
    assert r.additional_messages == ("Brand penalty $236.40: DAW brand",)
    assert r.rule_trace == (
        E,
        N,
        FB,
        "pricing: allowed $241.00 (522-FM 03)",
        "DAW 1: brand penalty (134-UK)",
    )
    assert r.accumulators == AccumulatorView(
        "20260101", 25_000, 0, 25_000, 25_000, 30_460, 69_540, 30_460, 169_540, "family"
    )
    assert decision.entry.postings == (
        Posting("member_paid:M1", -24_100),
        Posting("pharmacy_collected:1000000001", 24_100),
    )
    assert decision.accumulator_moves == oop_moves(460)


@pytest.mark.parametrize(
    ("generic", "met", "expected"),
    [
        # the generic on tier 4 (25% = $1.15, the $100.00 minimum, never more than the $4.60
        # cost; deductible met): 572-4U $4.60
        (
            FormularyEntry("P1", GENERIC.ndc, FormularyStatus.COVERED, 4),
            Accumulators(25_000, 25_000),
            (0, 0, 460),
        ),
        # the generic not on the formulary: tier 1 (copay, no deductible): 518-FI $4.60; the
        # brand's tier 2 would have put it in the (unmet) deductible
        (None, Accumulators(), (0, 460, 0)),
    ],
)
def test_brand_penalty_prices_the_share_at_the_generics_tier(
    generic: FormularyEntry | None, met: Accumulators, expected: tuple[int, int, int]
) -> None:
    decision = decide(
        claim(BRAND, dispense_as_written=2),
        state(purses=(), accumulators={("P1", YEAR): met}),
        snap({GENERIC.ndc: generic}),
    )
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    got = (
        p.amount_applied_to_periodic_deductible_cents,
        p.amount_of_copay_cents,
        p.amount_of_coinsurance_cents,
    )
    assert got == expected
    assert p.amount_attributed_to_product_selection_brand_cents == 24_100 - 460


def test_a_brand_without_a_generic_in_the_drug_file_has_no_penalty() -> None:
    """BRAND's generic NDC not in the drug file: priced as itself, tier 2, no 134-UK.
    Deductible met: copay $40.00."""
    snapshot = ReferenceSnapshot.build(
        "7",
        [PLAN],
        [BRAND],
        [FormularyEntry("P1", BRAND.ndc, FormularyStatus.COVERED, 2)],
        list(SNAPSHOT.pharmacies.values()),
    )
    met = {("P1", YEAR): Accumulators(25_000, 25_000)}
    decision = decide(
        claim(BRAND, dispense_as_written=1), state(purses=(), accumulators=met), snapshot
    )
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert (p.amount_of_copay_cents, p.amount_attributed_to_product_selection_brand_cents) == (
        4_000,
        0,
    )


def test_insulin_capped_names_the_program() -> None:
    """INSULIN 10 units: AWP 10 × $40.00 × 80% = $320.00 + $1.00 = $321.00; tier 2 copay
    $40.00 capped at $25.00 by INS25 (no deductible for the program)."""
    decision = decide(claim(INSULIN, quantity_dispensed_thousandths=10_000), state(purses=()))
    assert isinstance(decision, Paid)
    r = decision.response
    assert r.additional_messages == ("INS25: member cost capped",)
    assert r.rule_trace == (
        E,
        N,
        "formulary: insulin tier 2",
        "pricing: allowed $321.00 (522-FM 03)",
        "program INS25: member cost capped",
    )
    assert r.message == "Paid. Collect $25.00 from the patient"


def test_an_uncapped_program_claim_does_not_say_capped_in_the_trace() -> None:
    """Tier 2 copay $20.00 is under the $25.00 cap: nothing capped (the additional messages
    rightly say nothing), so the trace should not say 'member cost capped' either."""
    tier = replace(PLAN.tiers[2], copay_cents=2_000)
    snapshot = snap(tiers={**PLAN.tiers, 2: tier})
    decision = decide(
        claim(INSULIN, quantity_dispensed_thousandths=10_000), state(purses=()), snapshot
    )
    assert isinstance(decision, Paid)
    assert decision.response.additional_messages == ()
    assert not any("member cost capped" in line for line in decision.response.rule_trace)
    assert "program INS25: under the cap" in decision.response.rule_trace


# ------------------------------------------------------------------ purses in the benefit stack


# GENERIC 300 units: MAC 300 × $0.12 = $36.00 + $1.00 = $37.00; tier 1 copay $10.00: the
# member's share to spend purses on is $10.00.
def purse_claim(purse_order: tuple[PurseRule, ...], purses: tuple[PurseState, ...]) -> Paid:
    snapshot = snap(purse_order=purse_order)
    decision = decide(claim(quantity_dispensed_thousandths=300_000), state(purses=purses), snapshot)
    assert isinstance(decision, Paid)
    return decision


def lines_and_trace(decision: Paid) -> tuple[tuple[PurseLine, ...], tuple[str, ...]]:
    pricing_line = "pricing: allowed $37.00 (522-FM 07)"
    trace = decision.response.rule_trace
    assert trace[:4] == (E, N, FG, pricing_line)
    return decision.response.purses, trace[4:]


def hra(purse_id: str, balance: int, kind: str = "HRA") -> PurseState:
    return PurseState(purse_id, kind, balance, posted_cents=balance)


PURSE_ROWS = [
    pytest.param(
        # a refused rule is skipped, the next one pays
        (PurseRule("HRA", allowed_tiers=frozenset({2})), PurseRule("HRA")),
        (hra("H", 5_000),),
        (PurseLine("H", "HRA", 1_000, 4_000),),
        ("purse HRA: not allowed for tier 1", "purse HRA: paid $10.00"),
        id="refused-then-paid",
    ),
    pytest.param(
        # two purses of one kind: the first is emptied ($3.00), the second pays $7.00
        (PurseRule("HRA"),),
        (hra("H1", 300), hra("H2", 5_000)),
        (PurseLine("H1", "HRA", 300, 0), PurseLine("H2", "HRA", 700, 4_300)),
        ("purse HRA: paid $3.00", "purse HRA: paid $7.00"),
        id="two-purses",
    ),
    pytest.param(
        # one purse in two rules: $2.00 under the first rule's per-fill cap, then the $3.00
        # left of its $5.00 under the second
        (PurseRule("HRA", per_fill_max_cents=200), PurseRule("HRA")),
        (hra("H", 500),),
        (PurseLine("H", "HRA", 200, 300), PurseLine("H", "HRA", 300, 0)),
        ("purse HRA: paid $2.00", "purse HRA: paid $3.00"),
        id="one-purse-two-rules",
    ),
    pytest.param(
        # one purse under three rules: $2.00, then $1.00 (per-fill caps), then the $2.00 left
        # of its $5.00 (what it spent under every earlier rule counts, not only the last)
        (
            PurseRule("HRA", per_fill_max_cents=200),
            PurseRule("HRA", per_fill_max_cents=100),
            PurseRule("HRA"),
        ),
        (hra("H", 500),),
        (
            PurseLine("H", "HRA", 200, 300),
            PurseLine("H", "HRA", 100, 200),
            PurseLine("H", "HRA", 200, 0),
        ),
        ("purse HRA: paid $2.00", "purse HRA: paid $1.00", "purse HRA: paid $2.00"),
        id="one-purse-three-rules",
    ),
    pytest.param(
        # a rule for the drug's group (cardio) pays; one for another group is refused
        (
            PurseRule("COND", allowed_drug_groups=frozenset({"insulin"})),
            PurseRule("HRA", allowed_drug_groups=frozenset({"cardio"})),
        ),
        (hra("C", 5_000, "COND"), hra("H", 5_000)),
        (PurseLine("H", "HRA", 1_000, 4_000),),
        ("purse COND: not allowed for cardio", "purse HRA: paid $10.00"),
        id="drug-group-rules",
    ),
    pytest.param(
        # the share is spent by the first rule: the second is never looked at (no refusal)
        (PurseRule("HRA"), PurseRule("WELL", allowed_tiers=frozenset({2}))),
        (hra("H", 5_000), hra("W", 5_000, "WELL")),
        (PurseLine("H", "HRA", 1_000, 4_000),),
        ("purse HRA: paid $10.00",),
        id="stops-when-spent",
    ),
    pytest.param(
        # a monthly cap: the first purse pays all; the second is not asked (no period line)
        (PurseRule("HRA", period=PursePeriod.MONTH, per_period_max_cents=10_000),),
        (hra("H1", 5_000), hra("H2", 5_000)),
        (PurseLine("H1", "HRA", 1_000, 4_000),),
        ("purse HRA: $100.00 per month, $100.00 left", "purse HRA: paid $10.00"),
        id="period-second-purse-not-asked",
    ),
    pytest.param(
        # one cent in the first purse is spent too
        (PurseRule("HRA"),),
        (hra("H1", 1), hra("H2", 5_000)),
        (PurseLine("H1", "HRA", 1, 0), PurseLine("H2", "HRA", 999, 4_001)),
        ("purse HRA: paid $0.01", "purse HRA: paid $9.99"),
        id="one-cent",
    ),
    pytest.param(
        # an empty first purse is skipped, the second pays
        (PurseRule("HRA"),),
        (hra("H1", 0), hra("H2", 5_000)),
        (PurseLine("H2", "HRA", 1_000, 4_000),),
        ("purse HRA: paid $10.00",),
        id="empty-first-purse",
    ),
]


@pytest.mark.parametrize(("rules", "purses", "lines", "trace"), PURSE_ROWS)
def test_purse_routing(
    rules: tuple[PurseRule, ...],
    purses: tuple[PurseState, ...],
    lines: tuple[PurseLine, ...],
    trace: tuple[str, ...],
) -> None:
    decision = purse_claim(rules, purses)
    assert lines_and_trace(decision) == (lines, trace)
    paid = sum(line.paid_cents for line in lines)
    p = decision.response.pricing
    assert p is not None
    assert (p.patient_pay_amount_cents, p.health_plan_funded_assistance_amount_cents) == (
        1_000 - paid,
        -paid,
    )


def test_spending_account_counts_the_purses_of_the_members_class() -> None:
    """A retiree's stack has only the ICHRA purse: 128-UC is what it holds after the claim
    ($30.00 − $4.60), not the HRA's $50.00."""
    snapshot = snap(purse_order_by_class={"RET": (PurseRule("ICHRA"),)})
    member = state(
        member=replace(state().member, class_code="RET"),
        purses=(hra("H", 5_000), hra("I", 3_000, "ICHRA")),
    )
    decision = decide(claim(), member, snapshot)
    assert isinstance(decision, Paid)
    p = decision.response.pricing
    assert p is not None
    assert p.spending_account_amount_remaining_cents == 2_540
    assert decision.response.purses == (PurseLine("I", "ICHRA", 460, 2_540),)
