"""The member's CARIN Blue Button pharmacy EOB (issue 17), built from claim facts computed by
hand: a plain copay, the HRA split of interop.md §2 (60.00 / 47.00 / 20.00 / 15.00 / 5.00 /
27.00 / 42.00), a deductible with coinsurance, a reversed claim, and a secondary (COB) claim.
Every resource is parsed by an independent FHIR library (fhir.resources, R4B models: the
library has no plain R4 package, and the ExplanationOfBenefit shape is the same), and the
CARIN-required elements the library does not know about are asserted here."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit

from rx_gateway.domain import eob
from rx_gateway.domain.adjudication import check_identities
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.outcome import PurseLine, ResponsePricing

RECEIVED = dt.datetime(2026, 11, 2, 14, 30, tzinfo=dt.UTC)
REVERSED = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
MEMBER = eob.EobMember("M001966", "Rivera", "Ana", 2)
CARIN = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"


def _pricing(
    *,
    ingredient: int,
    fee: int,
    deductible: int = 0,
    copay: int = 0,
    coinsurance: int = 0,
    hra: int = 0,
    prior_payer: int = 0,
) -> ResponsePricing:
    """A paid response's pricing from its parts, held to the NCPDP identities."""
    allowed = ingredient + fee
    responsibility = deductible + copay + coinsurance
    patient_pay = responsibility - hra
    pricing = ResponsePricing(
        patient_pay_amount_cents=patient_pay,
        ingredient_cost_paid_cents=ingredient,
        dispensing_fee_paid_cents=fee,
        total_amount_paid_cents=allowed - patient_pay - prior_payer,
        basis_of_reimbursement_determination="03",
        amount_applied_to_periodic_deductible_cents=deductible,
        amount_of_copay_cents=copay,
        amount_of_coinsurance_cents=coinsurance,
        amount_exceeding_periodic_benefit_maximum_cents=None,
        accumulated_deductible_amount_cents=None,
        remaining_deductible_amount_cents=None,
        remaining_benefit_amount_cents=None,
        amount_attributed_to_provider_network_selection_cents=0,
        amount_attributed_to_product_selection_brand_cents=0,
        spending_account_amount_remaining_cents=None,
        health_plan_funded_assistance_amount_cents=-hra,
        allowed_amount_cents=allowed,
        plan_paid_cents=allowed - responsibility - prior_payer,
        other_payer_amount_recognized_cents=prior_payer,
    )
    check_identities(pricing, [PurseLine("HRA-1", "hra", hra, 0)] if hra else [])
    return pricing


def _claim(pricing: ResponsePricing, submitted: int, **changes: Any) -> eob.EobClaim:
    claim = eob.EobClaim(
        internal_control_number="0A1B2C3D4E5F60718293A4B5",
        received_at=RECEIVED,
        reversed_at=None,
        date_of_service=dt.date(2026, 11, 2),
        plan_id="COMM-HRA-2026",
        plan_name="Commercial with HRA 2026",
        group_id="EMP1-FT",
        coverage_start=dt.date(2026, 1, 1),
        coverage_end=None,
        pharmacy_id="1110310000",
        pharmacy_name="Preferred Pharmacy",
        in_network=True,
        prescriber_id="1999999992",
        product_id="00093005601",
        product_name="Atorvastatin 20 mg tablet",
        quantity_thousandths=30_000,
        days_supply=30,
        fill_number=0,
        dispense_as_written=0,
        refills_authorized=None,
        submitted_cents=submitted,
        pricing=pricing,
    )
    return replace(claim, **changes)


# (case, pricing, submitted, expected cents by category; a category left out is not in the file)
CASES: list[tuple[str, ResponsePricing, int, dict[str, int]]] = [
    (
        "plain copay",
        _pricing(ingredient=4_500, fee=200, copay=1_000),
        6_000,
        {
            "submitted": 6_000, "eligible": 4_700, "deductible": 0, "copay": 1_000,
            "coinsurance": 0, "benefit": 3_700, "memberliability": 1_000,
            "paidbypatient": 1_000, "paidbypatientcash": 1_000, "paidtoprovider": 3_700,
        },
    ),
    (
        "HRA split (interop.md §2)",
        _pricing(ingredient=4_500, fee=200, copay=2_000, hra=1_500),
        6_000,
        {
            "submitted": 6_000, "eligible": 4_700, "deductible": 0, "copay": 2_000,
            "coinsurance": 0, "benefit": 2_700, "memberliability": 2_000,
            "paidbypatient": 2_000, "paidbypatientcash": 500,
            "paidbypatienthealthaccount": 1_500, "paidtoprovider": 4_200,
        },
    ),
    (
        # 80.00 allowed: 50.00 to the deductible, then 20% of the 30.00 left
        "deductible then coinsurance",
        _pricing(ingredient=7_800, fee=200, deductible=5_000, coinsurance=600),
        9_000,
        {
            "submitted": 9_000, "eligible": 8_000, "deductible": 5_000, "copay": 0,
            "coinsurance": 600, "benefit": 2_400, "memberliability": 5_600,
            "paidbypatient": 5_600, "paidbypatientcash": 5_600, "paidtoprovider": 2_400,
        },
    ),
    (
        # the primary paid 30.00 of the 47.00 allowed; the member's 10.00 copay stands
        "COB secondary",
        _pricing(ingredient=4_500, fee=200, copay=1_000, prior_payer=3_000),
        6_000,
        {
            "submitted": 6_000, "eligible": 4_700, "deductible": 0, "copay": 1_000,
            "coinsurance": 0, "benefit": 700, "memberliability": 1_000,
            "paidbypatient": 1_000, "paidbypatientcash": 1_000, "paidtoprovider": 700,
            "priorpayerpaid": 3_000,
        },
    ),
]  # fmt: skip


def _by_category(entries: list[dict[str, Any]]) -> dict[str, Decimal]:
    """A resource's item.adjudication or total amounts by category code (exact decimals)."""
    found: dict[str, Decimal] = {}
    for entry in entries:
        (coding,) = entry["category"]["coding"]
        assert coding["code"] not in found, coding
        if "amount" in entry:
            assert entry["amount"]["currency"] == "USD"
            found[coding["code"]] = Decimal(str(entry["amount"]["value"]))
    return found


def assert_identities(resource: dict[str, Any]) -> dict[str, Decimal]:
    """interop.md §2 on the file itself: eligible = benefit + memberliability (+ priorpayerpaid
    on a secondary claim), paidtoprovider = benefit + HRA, and the totals equal the one item."""
    (item,) = resource["item"]
    amounts = _by_category(item["adjudication"])
    assert _by_category(resource["total"]) == amounts
    zero = Decimal("0.00")
    prior = amounts.get("priorpayerpaid", zero)
    hra = amounts.get("paidbypatienthealthaccount", zero)
    assert amounts["eligible"] == amounts["benefit"] + amounts["memberliability"] + prior
    if not prior:
        assert amounts["eligible"] == amounts["benefit"] + amounts["memberliability"]
    assert amounts["paidtoprovider"] == amounts["benefit"] + hra
    assert amounts["memberliability"] == amounts["paidbypatientcash"] + hra
    # paidbypatient is all the patient paid: at the counter and from the health account
    assert amounts["paidbypatient"] == amounts["paidbypatientcash"] + hra
    assert "paidbypatientother" not in amounts  # the HRA is a health account
    return amounts


def _codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", ())}


def assert_carin_pharmacy_eob(resource: dict[str, Any]) -> None:
    """What C4BB-ExplanationOfBenefit-Pharmacy requires that a FHIR model does not check."""
    assert resource["resourceType"] == "ExplanationOfBenefit"
    assert resource["meta"]["lastUpdated"]
    assert any("C4BB-ExplanationOfBenefit-Pharmacy" in p for p in resource["meta"]["profile"])
    (identifier,) = resource["identifier"]
    assert _codes(identifier["type"]) == {(CARIN + "C4BBIdentifierType", "uc")}
    assert identifier["value"]
    assert _codes(resource["type"]) == {
        ("http://terminology.hl7.org/CodeSystem/claim-type", "pharmacy")
    }
    assert resource["use"] == "claim"
    assert resource["status"] in {"active", "cancelled"}
    assert resource["outcome"] == "complete"
    contained = {r["id"]: r for r in resource["contained"]}
    for reference in ("patient", "insurer", "provider"):
        target = resource[reference]["reference"]
        assert target.startswith("#") and target[1:] in contained, reference
    patient = contained[resource["patient"]["reference"][1:]]
    assert patient["resourceType"] == "Patient"
    assert {k for k in patient if k not in {"resourceType", "id"}} <= {
        "identifier", "name", "gender"
    }  # fmt: skip
    assert "birthDate" not in patient and "address" not in patient
    assert contained[resource["insurer"]["reference"][1:]]["resourceType"] == "Organization"
    pharmacy = contained[resource["provider"]["reference"][1:]]
    assert pharmacy["resourceType"] == "Organization" and pharmacy["identifier"][0]["value"]
    assert resource["billablePeriod"]["start"]
    assert resource["created"]
    (insurance,) = resource["insurance"]
    assert insurance["focal"] is True
    coverage = contained[insurance["coverage"]["reference"][1:]]
    assert coverage["resourceType"] == "Coverage"
    # C4BB-Coverage: subscriberId 1..1, relationship 1..1 from subscriber-relationship
    assert coverage["subscriberId"]
    assert (
        _codes(coverage["relationship"])
        <= {
            ("http://terminology.hl7.org/CodeSystem/subscriber-relationship", code)
            for code in ("self", "spouse", "child", "other")
        }
        and coverage["relationship"]["coding"]
    )
    for member in resource.get("careTeam", ()):
        assert contained[member["provider"]["reference"][1:]]["resourceType"] == "Practitioner"
        assert _codes(member["role"]) == {(CARIN + "C4BBClaimCareTeamRole", "prescribing")}
    info = {}
    for entry in resource["supportingInfo"]:
        ((system, code),) = _codes(entry["category"])
        assert system == CARIN + "C4BBSupportingInfoType"
        assert code not in info
        info[code] = entry
    assert {"dayssupply", "dawcode", "refillnum", "compoundcode", "clmrecvddate"} <= set(info)
    assert info["dayssupply"]["valueQuantity"]["value"] > 0
    assert info["refillnum"]["valueQuantity"]["value"] >= 0
    assert "code" in info["dawcode"] and "code" in info["compoundcode"]
    assert info["clmrecvddate"]["timingDate"]
    (status,) = resource["adjudication"]
    assert _codes(status["category"]) == {
        (CARIN + "C4BBAdjudicationDiscriminator", "benefitpaymentstatus")
    }
    assert (
        _codes(status["reason"])
        <= {
            (CARIN + "C4BBPayerAdjudicationStatus", "innetwork"),
            (CARIN + "C4BBPayerAdjudicationStatus", "outofnetwork"),
        }
        and status["reason"]["coding"]
    )
    (item,) = resource["item"]
    assert item["servicedDate"] and item["quantity"]["value"] > 0
    ((system, _),) = _codes(item["productOrService"])
    assert system in {"http://hl7.org/fhir/sid/ndc", CARIN + "C4BBCompoundLiteral"}
    categories = {
        "http://terminology.hl7.org/CodeSystem/adjudication": {
            "submitted", "eligible", "deductible", "copay", "benefit"
        },
        CARIN + "C4BBAdjudication": {
            "coinsurance", "memberliability", "paidbypatient", "paidbypatientcash",
            "paidbypatienthealthaccount", "paidtoprovider", "priorpayerpaid",
        },
    }  # fmt: skip
    for entry in [*item["adjudication"], *resource["total"]]:
        ((system, code),) = _codes(entry["category"])
        assert code in categories[system], (system, code)
    assert_identities(resource)


def validate_bundle(raw: bytes) -> list[dict[str, Any]]:
    """Parse a Bundle and every resource in it with the FHIR models (they raise if invalid),
    check each EOB against the CARIN profile's requirements; the EOBs as dicts."""
    parsed = Bundle.model_validate_json(raw)
    assert parsed.type in {"collection", "searchset"}
    document = json.loads(raw, parse_float=Decimal)
    resources = [entry["resource"] for entry in document.get("entry", ())]
    for resource in resources:
        ExplanationOfBenefit.model_validate(resource)
        for inner in resource["contained"]:
            get_fhir_model_class(inner["resourceType"]).model_validate(inner)
        assert_carin_pharmacy_eob(resource)
    return resources


@pytest.mark.parametrize(
    ("case", "pricing", "submitted", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_amounts_by_category_are_computed_by_hand(
    case: str, pricing: ResponsePricing, submitted: int, expected: dict[str, int]
) -> None:
    categories = eob.amounts(pricing, submitted).categories()
    assert {code: cents for _, code, cents in categories} == expected, case


@pytest.mark.parametrize(
    ("case", "pricing", "submitted", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_each_claim_is_a_valid_carin_pharmacy_eob_with_those_amounts(
    case: str, pricing: ResponsePricing, submitted: int, expected: dict[str, int]
) -> None:
    claim = _claim(pricing, submitted)
    raw = eob.fhir_json(eob.bundle(MEMBER, [claim], generated_at=RECEIVED))
    (resource,) = validate_bundle(raw)
    assert resource["status"] == "active"
    amounts = assert_identities(resource)
    assert amounts == {code: Decimal(cents).scaleb(-2) for code, cents in expected.items()}, case


def test_the_hra_split_reads_as_interop_says_exactly() -> None:
    """The worked example's decimals, written as FHIR decimals with their cents (42.00)."""
    claim = _claim(CASES[1][1], 6_000)
    text = eob.fhir_json(eob.explanation_of_benefit(MEMBER, claim)).decode()
    for code, value in [
        ("submitted", "60.00"), ("eligible", "47.00"), ("memberliability", "20.00"),
        ("paidbypatienthealthaccount", "15.00"), ("paidbypatientcash", "5.00"),
        ("benefit", "27.00"), ("paidtoprovider", "42.00"),
    ]:  # fmt: skip
        assert f'"code":"{code}"}}]}},"amount":{{"value":{value},"currency":"USD"}}' in text


def test_a_reversed_claim_is_cancelled_with_the_amounts_it_was_paid_with() -> None:
    paid = _claim(CASES[0][1], 6_000)
    reversed_ = replace(paid, reversed_at=REVERSED)
    (active, cancelled) = validate_bundle(
        eob.fhir_json(eob.bundle(MEMBER, [paid, reversed_], generated_at=REVERSED))
    )
    assert (active["status"], cancelled["status"]) == ("active", "cancelled")
    assert cancelled["item"] == active["item"] and cancelled["total"] == active["total"]
    assert cancelled["meta"]["lastUpdated"] == "2026-11-03T09:00:00.000+00:00"
    assert active["meta"]["lastUpdated"] == "2026-11-02T14:30:00.000+00:00"
    assert "2026-11-03" in cancelled["processNote"][0]["text"]
    assert "processNote" not in active


def test_supporting_info_carries_what_the_claim_kept_and_says_what_it_did_not() -> None:
    pricing = CASES[0][1]
    kept = eob.explanation_of_benefit(
        MEMBER, _claim(pricing, 6_000, dispense_as_written=1, refills_authorized=5, fill_number=2)
    )
    info = {e["category"]["coding"][0]["code"]: e for e in kept["supportingInfo"]}
    assert info["dawcode"]["code"]["coding"] == [
        {"system": eob.NCPDP_DAW, "code": "1"}
    ]  # fmt: skip
    assert info["refillsauthorized"]["valueQuantity"] == {"value": 5}
    assert info["refillnum"]["valueQuantity"] == {"value": 2}
    assert info["dayssupply"]["valueQuantity"]["value"] == 30
    assert info["compoundcode"]["code"]["coding"][0]["code"] == "1"
    assert info["clmrecvddate"]["timingDate"] == "2026-11-02"
    assert [e["sequence"] for e in kept["supportingInfo"]] == list(range(1, 7))
    unknown = eob.explanation_of_benefit(
        MEMBER, _claim(pricing, 6_000, dispense_as_written=None, refills_authorized=None)
    )
    info = {e["category"]["coding"][0]["code"]: e for e in unknown["supportingInfo"]}
    assert "refillsauthorized" not in info
    assert info["dawcode"]["code"] == {
        "extension": [{"url": eob.DATA_ABSENT_REASON, "valueCode": "unknown"}]
    }
    ExplanationOfBenefit.model_validate(json.loads(eob.fhir_json(unknown)))


def test_a_compound_names_its_ingredients_and_out_of_network_says_so() -> None:
    claim = _claim(
        CASES[0][1],
        6_000,
        compound_ingredients=(("00000000101", 12_500), ("00000000102", None)),
        in_network=False,
        prescriber_id="",
    )
    (resource,) = validate_bundle(eob.fhir_json(eob.bundle(MEMBER, [claim], generated_at=RECEIVED)))
    (item,) = resource["item"]
    assert item["productOrService"]["coding"][0]["code"] == "compound"
    assert [d["productOrService"]["coding"][0]["code"] for d in item["detail"]] == [
        "00000000101",
        "00000000102",
    ]
    # each ingredient's billed quantity (448-ED) when the claim kept it: 12.5 units
    assert [d.get("quantity") for d in item["detail"]] == [{"value": 12.5}, None]
    assert resource["adjudication"][0]["reason"]["coding"][0]["code"] == "outofnetwork"
    info = {e["category"]["coding"][0]["code"]: e for e in resource["supportingInfo"]}
    assert info["compoundcode"]["code"]["coding"][0]["code"] == "2"
    assert "careTeam" not in resource  # no prescriber kept: no care team, no Practitioner
    assert all(r["resourceType"] != "Practitioner" for r in resource["contained"])


def test_the_patient_is_the_member_and_nothing_more() -> None:
    resource = eob.explanation_of_benefit(MEMBER, _claim(CASES[0][1], 6_000))
    (patient,) = [r for r in resource["contained"] if r["resourceType"] == "Patient"]
    assert patient == {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MB",
                            "display": "Member Number",
                        }
                    ]
                },
                "system": "urn:rx-gateway:member-id",
                "value": "M001966",
            }
        ],
        "name": [{"family": "Rivera", "given": ["Ana"]}],
        "gender": "female",
    }


def test_a_missing_submitted_amount_is_the_allowed_amount() -> None:
    """Claims posted before 430-DU was kept (migration 0010) are charged at what was allowed."""
    amounts = eob.amounts(CASES[0][1], None)
    assert amounts.submitted_cents == amounts.eligible_cents == 4_700


def test_amounts_that_break_the_identities_are_a_bug() -> None:
    broken = replace(CASES[1][1], plan_paid_cents=2_600)
    with pytest.raises(InvariantViolation):
        eob.amounts(broken, 6_000)


def test_an_empty_range_is_an_empty_valid_bundle_and_output_is_deterministic() -> None:
    raw = eob.fhir_json(eob.bundle(MEMBER, [], generated_at=RECEIVED))
    assert validate_bundle(raw) == []
    claims = [_claim(c[1], c[2]) for c in CASES]
    first = eob.fhir_json(eob.bundle(MEMBER, claims, generated_at=RECEIVED))
    assert first == eob.fhir_json(eob.bundle(MEMBER, claims, generated_at=RECEIVED))


def test_json_keeps_decimals_exact_and_refuses_floats() -> None:
    assert eob.fhir_json({"v": Decimal(4200).scaleb(-2), "q": Decimal(30_500).scaleb(-3)}) == (
        b'{"v":42.00,"q":30.500}'
    )
    with pytest.raises(TypeError):
        eob.fhir_json({"v": 42.0})


@pytest.mark.parametrize(
    ("member", "relationship"),
    [
        (eob.EobMember("M1", "R", "A", 2, "CARD1", "001", None), "self"),
        (eob.EobMember("M2", "R", "B", 1, "CARD1", "002", None), "other"),
        (eob.EobMember("M3", "R", "C", 1, "CARD1", "003", 3), "child"),
        (eob.EobMember("M4", "R", "D", 2, "CARD1", "002", 2), "spouse"),
        (eob.EobMember("M5", "R", "E", 2, "CARD1", "01", 0), "self"),
    ],
)
def test_the_coverage_names_the_card_and_the_members_relationship(
    member: eob.EobMember, relationship: str
) -> None:
    """subscriberId is the card's ID (302-C2); relationship is 306-C6 as enrollment said it
    (1 self, 2 spouse, 3 child, 4 other), else the cardholder (person code 001) is self."""
    resource = eob.explanation_of_benefit(
        member, _claim(_pricing(ingredient=4_500, fee=200), 6_000)
    )
    (coverage,) = (r for r in resource["contained"] if r["resourceType"] == "Coverage")
    assert coverage["subscriberId"] == "CARD1"
    assert coverage["relationship"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
            "code": relationship,
        }
    ]
