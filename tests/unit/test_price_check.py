"""The pure part of a price check: the hypothetical claims it builds, the alternatives, what a
claim's answer means for the member (restrictions, formulary status) and the ranking."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rx_gateway.domain.adjudication import adjudicate_checked
from rx_gateway.domain.claim import Header
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.domain.member import Fill
from rx_gateway.domain.price_check import (
    ALTERNATIVES_MAX,
    SUBMITTED_CENTS,
    BenefitRestriction,
    Change,
    FormularyStatusCode,
    Option,
    PharmacyChannels,
    PriceIndex,
    PriceInquiry,
    Quote,
    alternatives,
    asked_claim,
    asked_option,
    formulary_status,
    quote,
    ranked,
    restrictions_of,
)
from rx_gateway.domain.pricing import BASIS_SUBMITTED, BASIS_USUAL_AND_CUSTOMARY
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.syntax import validate_claim
from tests.unit.domain_fixtures import BRAND, GENERIC, INSULIN, SNAPSHOT, SPECIALTY, STATE

TODAY = dt.date(2026, 11, 23)
PREFERRED = "1000000001"
STANDARD = "1000000002"
OUT_OF_NETWORK = "1000000003"
MAIL = Pharmacy("1000000009", "mail", PharmacyNetwork.PREFERRED, "mail")
SPECIALTY_PHARMACY = Pharmacy("1000000008", "spec", PharmacyNetwork.PREFERRED, "specialty")
EXCLUDED = Drug("00000000005", "excluded", "mol-x", "cardio", False, None, False, 100_000)
OFF_FORMULARY = Drug("00000000006", "off", "mol-y", "cardio", False, None, False, 100_000)
SNAPSHOT_WITH_CHANNELS = ReferenceSnapshot.build(
    "7",
    list(SNAPSHOT.plans.values()),
    [*SNAPSHOT.drugs.values(), EXCLUDED, OFF_FORMULARY],
    [
        *SNAPSHOT.formulary.values(),
        FormularyEntry("P1", EXCLUDED.ndc, FormularyStatus.EXCLUDED, 1),
        FormularyEntry("P1", OFF_FORMULARY.ndc, FormularyStatus.NON_FORMULARY, 1),
    ],
    [*SNAPSHOT.pharmacies.values(), MAIL, SPECIALTY_PHARMACY],
)
INDEX = PriceIndex.of(SNAPSHOT_WITH_CHANNELS)
CHANNELS = INDEX.channels
NO_PURSES = replace(STATE, purses=())


def inquiry(drug: Drug = GENERIC, **changes: Any) -> PriceInquiry:
    """A well-formed inquiry for CH1 (no pharmacy, no date unless given)."""
    header = Header(
        bin=changes.pop("bin", "610999"),
        processor_control_number="TEST",
        service_provider_id=changes.pop("service_provider_id", ""),
        date_of_service=changes.pop("date_of_service", ""),
    )
    base = PriceInquiry(
        header=header,
        cardholder_id="CH1",
        group_id="G1",
        person_code="001",
        patient_relationship_code=1,
        date_of_birth="19800101",
        gender_code=1,
        product_id=drug.ndc,
        quantity_thousandths=30_000,
        days_supply=30,
    )
    return replace(base, **changes)


def asked(drug: Drug = GENERIC, **changes: Any) -> Option:
    request = asked_claim(inquiry(drug, **changes), today=TODAY, channels=CHANNELS)
    return asked_option(request, SNAPSHOT_WITH_CHANNELS)


def priced(option: Option, state: Any = NO_PURSES) -> Quote:
    """The option priced by the claim's own adjudication, as the service layer does it."""
    decision = adjudicate_checked(
        option.request,
        SNAPSHOT_WITH_CHANNELS,
        state,
        authorization_number="",
        internal_control_number="",
        business_date=TODAY,
    )
    return quote(option, decision, SNAPSHOT_WITH_CHANNELS, INDEX)


def test_the_asked_claim_fills_in_a_preferred_pharmacy_and_today() -> None:
    """No pharmacy: the first preferred retail pharmacy; no date: today. It submits the
    largest amounts a claim may carry, and passes the claim's own syntax checks."""
    request = asked().request
    assert request.header.service_provider_id == PREFERRED
    assert request.header.date_of_service == "20261123"
    assert request.usual_and_customary_charge_cents == SUBMITTED_CENTS
    assert request.gross_amount_due_cents == request.ingredient_cost_submitted_cents
    assert validate_claim(request) == []
    given_request = asked(service_provider_id=STANDARD, date_of_service="20261102").request
    assert given_request.header.service_provider_id == STANDARD
    assert given_request.header.date_of_service == "20261102"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"bin": "61"}, "header.bin"),
        ({"date_of_service": "2026-11-02"}, "header.date_of_service"),
        ({"service_provider_id": "1000000001 "}, "header.service_provider_id"),
        ({"cardholder_id": ""}, "insurance.cardholder_id"),
        ({"person_code": "X1"}, "insurance.person_code"),
        ({"date_of_birth": ""}, "patient.date_of_birth"),
        ({"date_of_birth": "19800231"}, "patient.date_of_birth"),
        ({"gender_code": 7}, "patient.gender_code"),
        ({"product_id": ""}, "product_id"),
        ({"product_id": "1234"}, "product_id"),
        ({"quantity_thousandths": 0}, "quantity_thousandths"),
        ({"days_supply": 0}, "days_supply"),
        ({"days_supply": 366}, "days_supply"),
        ({"dispense_as_written": 10}, "dispense_as_written"),
        ({"prescriber_id": "123"}, "prescriber_id"),
    ],
)
def test_a_malformed_inquiry_names_its_field(changes: dict[str, Any], field: str) -> None:
    """Each malformed field is InvalidRequest naming it, before anything is read."""
    with pytest.raises(InvalidRequest) as caught:
        asked_claim(inquiry(**changes), today=TODAY, channels=CHANNELS)
    assert caught.value.field == field


def test_without_a_preferred_retail_pharmacy_the_pharmacy_is_required() -> None:
    """No pharmacy asked and none to default to: InvalidRequest naming the field."""
    channels = PharmacyChannels.of([MAIL])
    with pytest.raises(InvalidRequest) as caught:
        asked_claim(inquiry(), today=TODAY, channels=channels)
    assert caught.value.field == "header.service_provider_id"


def test_channels_pick_the_lowest_npi_of_each_network_and_kind() -> None:
    """Deterministic: the first pharmacy by NPI of its network and kind, preferred first."""
    later = Pharmacy("1000000099", "pref2", PharmacyNetwork.PREFERRED, "retail")
    channels = PharmacyChannels.of([later, *SNAPSHOT_WITH_CHANNELS.pharmacies.values()])
    found = channels.find("retail")
    assert found is not None
    assert found.npi == PREFERRED
    standard_only = channels.find("retail", (PharmacyNetwork.STANDARD,))
    assert standard_only is not None
    assert standard_only.npi == STANDARD
    assert channels.find("retail90") is None


def test_a_brand_at_a_standard_pharmacy_has_every_alternative() -> None:
    """Products (the brand, its generic) by channels (the pharmacy asked, a preferred one, 90
    days by mail), less the fill asked about; the generic is asked with DAW 0 and the 90-day
    fill with three times the quantity."""
    option = asked(BRAND, service_provider_id=STANDARD, dispense_as_written=1)
    found = alternatives(option, "P1", SNAPSHOT_WITH_CHANNELS, INDEX)
    assert {o.changes for o in found} == {
        (Change.PREFERRED_PHARMACY,),
        (Change.MAIL_90_DAY,),
        (Change.GENERIC,),
        (Change.GENERIC, Change.PREFERRED_PHARMACY),
        (Change.GENERIC, Change.MAIL_90_DAY),
    }
    assert len(found) <= ALTERNATIVES_MAX
    by_changes = {o.changes: o for o in found}
    generic = by_changes[(Change.GENERIC,)]
    assert generic.request.product_id == GENERIC.ndc
    assert generic.request.dispense_as_written == 0
    assert generic.request.header.service_provider_id == STANDARD
    assert by_changes[(Change.PREFERRED_PHARMACY,)].request.dispense_as_written == 1
    mail = by_changes[(Change.GENERIC, Change.MAIL_90_DAY)].request
    assert (mail.header.service_provider_id, mail.days_supply) == (MAIL.npi, 90)
    assert mail.quantity_dispensed_thousandths == 90_000
    assert all(validate_claim(o.request) == [] for o in found)


def test_a_generic_at_a_preferred_pharmacy_has_only_the_mail_fill() -> None:
    """Nothing to change but the channel: 90 days by mail."""
    found = alternatives(asked(GENERIC), "P1", SNAPSHOT_WITH_CHANNELS, INDEX)
    assert [o.changes for o in found] == [(Change.MAIL_90_DAY,)]


def test_a_specialty_drug_is_offered_at_a_specialty_pharmacy_not_by_mail() -> None:
    """A specialty drug asked at a retail pharmacy: the specialty pharmacy, no 90-day mail."""
    found = alternatives(asked(SPECIALTY), "P1", SNAPSHOT_WITH_CHANNELS, INDEX)
    assert [o.changes for o in found] == [(Change.SPECIALTY_PHARMACY,)]
    assert found[0].request.header.service_provider_id == SPECIALTY_PHARMACY.npi


def test_no_alternatives_without_a_drug_or_a_plan() -> None:
    """An unknown NDC or no plan found (the member was not): nothing to compare with."""
    unknown = asked(product_id="99999999999")
    assert unknown.drug is None
    assert alternatives(unknown, "P1", SNAPSHOT_WITH_CHANNELS, INDEX) == ()
    assert alternatives(asked(BRAND), "", SNAPSHOT_WITH_CHANNELS, INDEX) == ()


def test_a_ninety_day_request_has_no_mail_alternative() -> None:
    """Asked for 90 days already: no 90-day mail option (a preferred pharmacy still is)."""
    found = alternatives(
        asked(GENERIC, service_provider_id=STANDARD, days_supply=90),
        "P1",
        SNAPSHOT_WITH_CHANNELS,
        INDEX,
    )
    assert [o.changes for o in found] == [(Change.PREFERRED_PHARMACY,)]


@pytest.mark.parametrize(
    ("codes", "restrictions"),
    [
        ((), ("covered",)),
        (("75",), ("prior-auth",)),
        (("608",), ("step-therapy",)),
        (("76",), ("quantity-limit",)),
        (("9G", "AG"), ("quantity-limit",)),
        (("G9",), ("pharmacy-restriction",)),
        (("40",), ("pharmacy-restriction",)),
        (("70",), ("not-covered",)),
        (("MR",), ("not-covered",)),
        (("69",), ("not-covered",)),
        (("79",), ("other-restriction",)),
        (("88",), ("other-restriction",)),
        (("60", "61"), ("not-covered",)),
        (("75", "79"), ("prior-auth", "other-restriction")),
    ],
)
def test_rejects_read_as_benefit_restrictions(
    codes: tuple[str, ...], restrictions: tuple[str, ...]
) -> None:
    """Each reject as its RTPBC benefitRestriction, in order, each once; none: covered."""
    rejects = tuple(Reject(RejectCode(code)) for code in codes)
    assert tuple(r.value for r in restrictions_of(rejects)) == restrictions


@pytest.mark.parametrize(
    ("drug", "plan_id", "status"),
    [
        (GENERIC, "P1", FormularyStatusCode.PREFERRED),
        (BRAND, "P1", FormularyStatusCode.ON_FORMULARY),  # its generic is preferred
        (INSULIN, "P1", FormularyStatusCode.PREFERRED),
        (SPECIALTY, "P1", FormularyStatusCode.NEEDS_AUTHORIZATION),
        (EXCLUDED, "P1", FormularyStatusCode.NON_REIMBURSABLE),
        (OFF_FORMULARY, "P1", FormularyStatusCode.NON_FORMULARY),
        (None, "P1", FormularyStatusCode.UNKNOWN),
        (GENERIC, "", FormularyStatusCode.UNKNOWN),
    ],
)
def test_formulary_status(drug: Drug | None, plan_id: str, status: FormularyStatusCode) -> None:
    """The drug's place on the plan's formulary as an RTPBC formularyStatus."""
    assert formulary_status(SNAPSHOT_WITH_CHANNELS, plan_id, drug, INDEX.equivalents) is status


def test_a_brand_the_plan_prefers_over_its_generic() -> None:
    """A multi-source brand on a lower tier than its generic: brand preferred (B), the generic
    on formulary (O), and the brand is the preferred product offered for the generic."""
    snapshot = ReferenceSnapshot.build(
        "7",
        list(SNAPSHOT.plans.values()),
        [GENERIC, BRAND],
        [
            FormularyEntry("P1", GENERIC.ndc, FormularyStatus.COVERED, 2),
            FormularyEntry("P1", BRAND.ndc, FormularyStatus.COVERED, 1),
        ],
        list(SNAPSHOT_WITH_CHANNELS.pharmacies.values()),
    )
    index = PriceIndex.of(snapshot)
    assert formulary_status(snapshot, "P1", BRAND, index.equivalents) is (
        FormularyStatusCode.BRAND_PREFERRED
    )
    assert formulary_status(snapshot, "P1", GENERIC, index.equivalents) is (
        FormularyStatusCode.ON_FORMULARY
    )
    option = asked_option(
        asked_claim(inquiry(GENERIC), today=TODAY, channels=index.channels), snapshot
    )
    found = alternatives(option, "P1", snapshot, index)
    preferred = [o for o in found if o.changes == (Change.PREFERRED_PRODUCT,)]
    assert [o.request.product_id for o in preferred] == [BRAND.ndc]


def test_only_equivalents_are_offered_not_every_product_of_the_molecule() -> None:
    """A product of the same molecule that is not in the drug's group (another strength, say:
    the drug file has none) is never offered, however preferred; nor does it make the drug
    "O"."""
    other_strength = Drug(
        "00000000000", "generic 5 mg", GENERIC.molecule, "cardio", False, None, False, 1_000
    )
    snapshot = ReferenceSnapshot.build(
        "7",
        list(SNAPSHOT.plans.values()),
        [GENERIC, BRAND, other_strength],
        [
            *(e for e in SNAPSHOT.formulary.values() if e.ndc in (GENERIC.ndc, BRAND.ndc)),
            FormularyEntry("P1", other_strength.ndc, FormularyStatus.COVERED, 1),
        ],
        list(SNAPSHOT_WITH_CHANNELS.pharmacies.values()),
    )
    index = PriceIndex.of(snapshot)
    assert snapshot.first_line[("P1", GENERIC.molecule)] == other_strength
    option = asked_option(
        asked_claim(inquiry(BRAND), today=TODAY, channels=index.channels), snapshot
    )
    found = alternatives(option, "P1", snapshot, index)
    assert {o.request.product_id for o in found} == {BRAND.ndc, GENERIC.ndc}
    assert formulary_status(snapshot, "P1", GENERIC, index.equivalents) is (
        FormularyStatusCode.PREFERRED
    )


def test_a_prior_authorization_drug_is_quoted_with_its_restriction() -> None:
    """The claim's 75, its text, and prior-auth; nothing to pay."""
    got = priced(asked(SPECIALTY, service_provider_id=SPECIALTY_PHARMACY.npi))
    assert not got.paid
    assert [r.code for r in got.response.rejects] == [RejectCode.PRIOR_AUTHORIZATION_REQUIRED]
    assert got.restrictions == (BenefitRestriction.PRIOR_AUTHORIZATION,)
    assert (got.member_pay_cents, got.plan_cost_cents) == (0, 0)
    assert got.response.authorization_number == ""


def test_an_unknown_member_is_the_claims_reject() -> None:
    """No member state: the claim's 52, no plan, no alternatives."""
    option = asked(GENERIC)
    decision = adjudicate_checked(
        option.request,
        SNAPSHOT_WITH_CHANNELS,
        None,
        authorization_number="",
        internal_control_number="",
        business_date=TODAY,
    )
    got = quote(option, decision, SNAPSHOT_WITH_CHANNELS, INDEX)
    assert [r.code for r in got.response.rejects] == [RejectCode.NON_MATCHED_CARDHOLDER]
    assert got.response.plan_id == ""
    assert alternatives(option, got.response.plan_id, SNAPSHOT_WITH_CHANNELS, INDEX) == ()


def test_the_cheaper_generic_ranks_before_the_brand() -> None:
    """A brand at a standard pharmacy: every generic option ranks before every brand one, each
    costs the member less than the brand asked about, and the ranking never goes down in what
    the member pays per day of supply. The brand for 90 days is past its tier's days supply
    (7X): not offered."""
    option = asked(BRAND, service_provider_id=STANDARD)
    brand = priced(option)
    assert brand.paid
    order = ranked(priced(o) for o in alternatives(option, "P1", SNAPSHOT_WITH_CHANNELS, INDEX))
    generic = [Change.GENERIC in q.option.changes for q in order]
    assert generic[0]
    assert generic == sorted(generic, reverse=True)
    assert all(q.member_pay_cents < brand.member_pay_cents for q in order[: sum(generic)])
    per_day = [Fraction(q.member_pay_cents, q.days_supply) for q in order]
    assert per_day == sorted(per_day)
    assert (Change.MAIL_90_DAY,) not in {q.option.changes for q in order}


def test_ranking_is_per_day_then_plan_cost_then_build_order() -> None:
    """Member pay per day first (a 90-day fill for $20 beats a 30-day one for $10), then the
    plan's cost per day, then the order the options were built in; rejected ones are left
    out."""
    base = priced(asked(GENERIC))
    pricing = base.response.pricing
    assert pricing is not None

    def variant(member: int, plan: int, days: int) -> Quote:
        response = replace(
            base.response,
            pricing=replace(pricing, patient_pay_amount_cents=member, total_amount_paid_cents=plan),
        )
        request = replace(base.option.request, days_supply=days)
        return replace(base, option=replace(base.option, request=request), response=response)

    thirty = variant(1_000, 500, 30)
    ninety = variant(2_000, 1_500, 90)
    cheaper_plan = variant(1_000, 400, 30)
    tie = variant(1_000, 400, 30)
    rejected = priced(asked(SPECIALTY))
    order = ranked([thirty, rejected, ninety, cheaper_plan, tie])
    assert [id(q) for q in order] == [id(ninety), id(cheaper_plan), id(tie), id(thirty)]
    assert ninety.member_pay_per_30_days_cents == 667


def test_a_refill_too_soon_is_quoted_as_the_claim_would_be() -> None:
    """The member's state counts: a fill of the molecule 10 days ago answers 79."""
    recent = Fill(GENERIC.molecule, dt.date(2026, 11, 13), 30, 30_000)
    got = priced(asked(GENERIC, date_of_service="20261123"), replace(NO_PURSES, fills=(recent,)))
    assert [r.code for r in got.response.rejects] == [RejectCode.REFILL_TOO_SOON]
    assert got.restrictions == (BenefitRestriction.OTHER_RESTRICTION,)


@given(
    drug=st.sampled_from([GENERIC, BRAND, INSULIN]),
    units=st.integers(1, 120),
    days=st.integers(1, 90),
    pharmacy=st.sampled_from([PREFERRED, STANDARD, MAIL.npi]),
    with_purse=st.booleans(),
)
def test_a_price_check_pays_the_plans_price(
    drug: Drug, units: int, days: int, pharmacy: str, with_purse: bool
) -> None:
    """Whatever the fill, every paid quote (asked and alternatives) is allowed the plan's
    contract price, never the submitted amounts, and splits it between the member and the
    plan and purses; a quote is covered exactly when the claim would be paid."""
    option = asked(drug, service_provider_id=pharmacy, quantity_thousandths=units * 1_000)
    option = replace(option, request=replace(option.request, days_supply=days))
    state = STATE if with_purse else NO_PURSES
    first = priced(option, state)
    quotes = [first] + [
        priced(o, state)
        for o in alternatives(option, first.response.plan_id, SNAPSHOT_WITH_CHANNELS, INDEX)
    ]
    for got in quotes:
        assert got.paid == (got.restrictions == (BenefitRestriction.COVERED,))
        if not got.paid:
            continue
        pricing = got.response.pricing
        assert pricing is not None
        assert pricing.basis_of_reimbursement_determination not in (
            BASIS_SUBMITTED,
            BASIS_USUAL_AND_CUSTOMARY,
        )
        assert got.member_pay_cents + got.plan_cost_cents == pricing.allowed_amount_cents
        assert 0 <= got.member_pay_cents <= pricing.allowed_amount_cents
