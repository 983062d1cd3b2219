"""Plan-design rules from issue 3: network restrictions, generic required, patient edits,
and messages that name what to do next."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from rx_gateway.domain.adjudication import Paid, Rejected, adjudicate
from rx_gateway.domain.member import PriorAuthorization
from rx_gateway.domain.product import age_on
from rx_gateway.domain.reference import FormularyEntry, FormularyStatus, ReferenceSnapshot
from tests.unit.domain_fixtures import (
    BRAND,
    GENERIC,
    PLAN,
    PRESCRIBER_NPI,
    SNAPSHOT,
    SPECIALTY,
    claim,
    state,
    with_header,
)

SPECIALTY_PA = PriorAuthorization(
    SPECIALTY.ndc, None, dt.date(2026, 1, 1), dt.date(2026, 12, 31), "PA1"
)
RETAIL, MAIL_OR_SPECIALTY = "1000000001", "1000000004"


def snapshot_with(
    plan_changes: dict, pharmacy_kind: str = "mail", entries: list | None = None
) -> ReferenceSnapshot:
    from rx_gateway.domain.reference import Pharmacy, PharmacyNetwork

    pharmacies = [
        *SNAPSHOT.pharmacies.values(),
        Pharmacy(MAIL_OR_SPECIALTY, "other", PharmacyNetwork.PREFERRED, pharmacy_kind),
    ]
    return ReferenceSnapshot.build(
        "8",
        [replace(PLAN, **plan_changes)],
        list(SNAPSHOT.drugs.values()),
        entries or list(SNAPSHOT.formulary.values()),
        pharmacies,
    )


def codes(decision) -> list[str]:  # type: ignore[no-untyped-def]
    assert isinstance(decision, Rejected), decision
    return [r.code.value for r in decision.response.rejects]


def decide(snapshot: ReferenceSnapshot, request, member=None):  # type: ignore[no-untyped-def]
    return adjudicate(
        request, snapshot, member or state(), authorization_number="A", internal_control_number="I"
    )


def test_specialty_drug_only_at_a_specialty_pharmacy() -> None:
    """G6 at retail; paid at a specialty pharmacy; no rule when the plan does not ask for it."""
    member = state(prior_authorizations=(SPECIALTY_PA,))
    rule = snapshot_with({"specialty_pharmacy_required": True}, pharmacy_kind="specialty")
    request = claim(SPECIALTY, quantity_dispensed_thousandths=1_000)
    assert codes(decide(rule, request, member)) == ["G6"]
    assert isinstance(
        decide(rule, with_header(request, service_provider_id=MAIL_OR_SPECIALTY), member), Paid
    )
    assert isinstance(decide(SNAPSHOT, request, member), Paid)


@pytest.mark.parametrize(("kind", "paid"), [("mail", True), ("retail90", True), ("retail", False)])
def test_extended_supply_only_by_mail_or_90_day_retail(kind: str, paid: bool) -> None:
    """A 90-day fill is G9 at an ordinary retail pharmacy, paid by mail or at a 90-day retail
    pharmacy, with the copay band for 90 days."""
    rule = snapshot_with({"extended_supply_days_min": 84}, pharmacy_kind=kind)
    request = claim(GENERIC, days_supply=90, quantity_dispensed_thousandths=90_000)
    rejected = decide(rule, request)
    assert codes(rejected) == ["G9"]
    assert "83 days" in rejected.response.message
    other = decide(rule, with_header(request, service_provider_id=MAIL_OR_SPECIALTY))
    assert isinstance(other, Paid) is paid


@pytest.mark.parametrize(("daw", "expected"), [(0, "AJ"), (1, None), (2, None)])
def test_generic_required_names_the_generic(daw: int, expected: str | None) -> None:
    """DAW codes the plan lists reject a multi-source brand with AJ naming the generic."""
    rule = snapshot_with({"generic_required_daw_codes": frozenset({0})})
    decision = decide(rule, claim(BRAND, dispense_as_written=daw))
    if expected is None:
        assert isinstance(decision, Paid)
    else:
        assert codes(decision) == ["AJ"]
        assert GENERIC.ndc in decision.response.message


def test_age_and_gender_edits_report_together() -> None:
    """A 46-year-old man on an entry for women aged 0-17: 60 and 61 at once."""
    entry = FormularyEntry("P1", GENERIC.ndc, FormularyStatus.COVERED, 1, age_max=17, gender_code=2)
    entries = [e for e in SNAPSHOT.formulary.values() if e.ndc != GENERIC.ndc] + [entry]
    decision = decide(snapshot_with({}, entries=entries), claim())
    assert codes(decision) == ["60", "61"]


def test_age_is_whole_years_on_the_date_of_service() -> None:
    """The day before an 18th birthday is 17."""
    assert age_on(dt.date(2008, 11, 3), dt.date(2026, 11, 2)) == 17
    assert age_on(dt.date(2008, 11, 2), dt.date(2026, 11, 2)) == 18


def test_not_on_formulary_names_the_covered_alternative() -> None:
    """MR tells the pharmacist the lowest-tier covered drug of the same group."""
    entry = FormularyEntry("P1", BRAND.ndc, FormularyStatus.NON_FORMULARY, 2)
    entries = [e for e in SNAPSHOT.formulary.values() if e.ndc != BRAND.ndc] + [entry]
    decision = decide(snapshot_with({}, entries=entries), claim(BRAND))
    assert codes(decision) == ["MR"]
    assert f"covered alternative: {GENERIC.name} (NDC {GENERIC.ndc})" in decision.response.message


@pytest.mark.parametrize(
    ("date_of_service", "expected"),
    [("20261124", "82"), ("20261123", None), ("20260826", None), ("20260825", "81")],
)
def test_timely_filing_and_post_dated(date_of_service: str, expected: str | None) -> None:
    """Business date 2026-11-23 and a 89-day window: tomorrow is 82, 90 days ago is 81."""
    rule = snapshot_with({"timely_filing_days": 89})
    decision = adjudicate(
        claim(date_of_service=date_of_service),
        rule,
        state(),
        authorization_number="A",
        internal_control_number="I",
        business_date=dt.date(2026, 11, 23),
    )
    if expected is None:
        assert isinstance(decision, Paid)
    else:
        assert codes(decision) == [expected]


def test_business_date_setting() -> None:
    """RX_GATEWAY_BUSINESS_DATE pins the processor's today; a bad value names the variable."""
    from rx_gateway.config import Settings
    from rx_gateway.domain.errors import InvalidRequest

    assert Settings.from_env({"RX_GATEWAY_BUSINESS_DATE": "2026-11-23"}).business_date == dt.date(
        2026, 11, 23
    )
    assert Settings.from_env({}).business_date is None
    for bad in ("tomorrow", "20261123", "2026-W48-1", "2026-02-30"):
        with pytest.raises(InvalidRequest, match=r"RX_GATEWAY_BUSINESS_DATE.*YYYY-MM-DD"):
            Settings.from_env({"RX_GATEWAY_BUSINESS_DATE": bad})
    with pytest.raises(
        InvalidRequest, match=r"5 must not exceed RX_GATEWAY_DB_POOL_SIZE_MAX \(2\)"
    ):
        Settings.from_env({"RX_GATEWAY_DB_POOL_SIZE_MIN": "5", "RX_GATEWAY_DB_POOL_SIZE_MAX": "2"})


def test_step_therapy_requires_the_first_line_drug_within_a_year() -> None:
    """608 naming the first-line product until it was filled in the last 365 days; a PA overrides."""
    from rx_gateway.domain.member import Fill

    entry = FormularyEntry(
        "P1", BRAND.ndc, FormularyStatus.COVERED, 2, step_therapy_molecule="mol-a"
    )
    entries = [e for e in SNAPSHOT.formulary.values() if e.ndc != BRAND.ndc] + [entry]
    rule = snapshot_with({}, entries=entries)
    request = claim(BRAND, quantity_dispensed_thousandths=30_000)
    rejected = decide(rule, request)
    assert codes(rejected) == ["608"]
    assert GENERIC.ndc in rejected.response.message
    old_fill = state(fills=(Fill("mol-a", dt.date(2025, 10, 1), 30),))
    assert codes(decide(rule, request, old_fill)) == ["608"]
    # the generic shares the brand's molecule here, so a recent fill also makes the brand a refill
    recent = state(fills=(Fill("mol-a", dt.date(2026, 3, 1), 30),))
    assert isinstance(decide(rule, request, recent), Paid)
    pa = PriorAuthorization(BRAND.ndc, None, dt.date(2026, 1, 1), dt.date(2026, 12, 31), "PA9")
    assert isinstance(decide(rule, request, state(prior_authorizations=(pa,))), Paid)


def test_program_at_preferred_pharmacies_for_generics_only() -> None:
    """A $0 generic program applies at preferred pharmacies to generics; elsewhere the copay."""
    from rx_gateway.domain.reference import Program

    program = Program("G0", "cardio", 0, preferred_pharmacies_only=True, generics_only=True)
    rule = snapshot_with({"programs": (program,)})
    preferred = decide(rule, claim(GENERIC))
    standard = decide(rule, claim(GENERIC, service_provider_id="1000000002"))
    brand = decide(rule, claim(BRAND))
    assert isinstance(preferred, Paid) and isinstance(standard, Paid) and isinstance(brand, Paid)
    assert preferred.response.pricing is not None and standard.response.pricing is not None
    assert preferred.response.pricing.amount_of_copay_cents == 0
    assert preferred.response.purses == ()
    assert standard.response.pricing.amount_of_copay_cents > 0
    assert brand.response.pricing is not None
    assert brand.response.pricing.amount_applied_to_periodic_deductible_cents > 0


NUMBERS = {"authorization_number": "A", "internal_control_number": "I"}


def test_the_high_dollar_edit_rejects_78_above_the_plans_maximum() -> None:
    """claim_cost_max_cents: a claim whose allowed amount is above it is 78 (a Node.js client
    was paid $999,699.99 for one fill); at the maximum it pays. Hand-computed: the fixture's
    claim is allowed its priced amount, read from a plan without the edit."""
    free = adjudicate(claim(), snapshot_with({}), state(), **NUMBERS)
    assert isinstance(free, Paid)
    assert free.response.pricing is not None
    allowed = (
        free.response.pricing.ingredient_cost_paid_cents
        + free.response.pricing.dispensing_fee_paid_cents
    )
    at_max = adjudicate(
        claim(), snapshot_with({"claim_cost_max_cents": allowed}), state(), **NUMBERS
    )
    assert isinstance(at_max, Paid)
    over = adjudicate(
        claim(), snapshot_with({"claim_cost_max_cents": allowed - 1}), state(), **NUMBERS
    )
    assert isinstance(over, Rejected)
    assert [r.code.value for r in over.response.rejects] == ["78"]
    assert over.response.rejects[0].message.startswith(
        f"Cost ${allowed // 100:,}.{allowed % 100:02d} is above the plan's"
    )
    assert over.member_id == state().member.member_id


def test_the_high_dollar_edit_must_be_positive() -> None:
    from rx_gateway.adapters.documents import plan_from_document
    from rx_gateway.domain.errors import ReferenceDataError
    from rx_gateway.tools.synthetic.plans import plan_documents

    document = dict(plan_documents()[0], claim_cost_max_cents=0)
    with pytest.raises(ReferenceDataError, match="claim_cost_max_cents"):
        plan_from_document(document, document["plan_id"])
    del document["claim_cost_max_cents"]
    assert plan_from_document(document, document["plan_id"]).claim_cost_max_cents is None


def test_a_part_d_claim_without_a_prescriber_answers_25_with_the_groups_other_rejects() -> None:
    """25 is a network-group reject: with an unknown pharmacy the claim answers 25 and 50
    together (a pharmacy fixes both at once); with a prescriber it is 50 alone; a price check
    (prescriber_required False) is 50 alone too."""
    from rx_gateway.domain.adjudication import adjudicate_checked
    from rx_gateway.domain.part_d import PART_D

    part_d = snapshot_with({"line_of_business": PART_D})
    nowhere = claim(service_provider_id="9999999999")
    answer = adjudicate_checked(nowhere, part_d, state(), **NUMBERS)
    assert [r.code.value for r in answer.response.rejects] == ["25", "50"]
    named = claim(service_provider_id="9999999999", prescriber_id=PRESCRIBER_NPI)
    answer = adjudicate_checked(named, part_d, state(), **NUMBERS)
    assert [r.code.value for r in answer.response.rejects] == ["50"]
    quote = adjudicate_checked(nowhere, part_d, state(), prescriber_required=False, **NUMBERS)
    assert [r.code.value for r in quote.response.rejects] == ["50"]
