"""The member's file: CARIN Blue Button pharmacy ExplanationOfBenefit resources (FHIR R4 4.0.1,
CARIN BB STU 2.2.0, profile C4BB-ExplanationOfBenefit-Pharmacy) in a Bundle.

Pure: the facts of each claim as the ledger holds them go in, plain dicts (FHIR JSON) come out.
Amounts stay integer cents until they are written as FHIR decimals (cents scaled by 10^-2: exact,
never a float). The categories come from the stored response, one NCPDP field each:

    submitted                   430-DU (the claim's gross amount due)
    eligible                    506-F6 + 507-F7 + tax, incentive and other amounts paid (allowed)
    deductible / copay          517-FH / 518-FI
    coinsurance                 572-4U
    benefit                     the plan's own share: 509-F9 - |129-UD|
    memberliability             the member's share before the purses: 505-F5 + |129-UD|
    paidbypatient               505-F5 (what the counter collected)
    paidbypatientcash           505-F5
    paidbypatienthealthaccount  |129-UD| (the employer HRA purse; not paidbypatientother)
    paidtoprovider              509-F9
    priorpayerpaid              566-J5 (a secondary claim only)

and two identities hold on every claim (checked here, a bug otherwise):
eligible = benefit + memberliability + priorpayerpaid, and paidtoprovider = benefit + HRA.

A reversed claim keeps the amounts it was paid with and is ``status: cancelled``. The member,
plan, pharmacy, prescriber and coverage are contained resources, so each ExplanationOfBenefit
stands alone; the Patient carries what US Core requires of it (member ID, name, gender) and
nothing more: the file is for the member themselves.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.outcome import ResponsePricing

PROFILE = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/C4BB-ExplanationOfBenefit-Pharmacy"
PROFILE_VERSION = "2.2.0"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
# 306-C6 (member.patient_relationship_code, INS02 as enrollment says it) → FHIR relationship
RELATIONSHIPS = {1: "self", 2: "spouse", 3: "child", 4: "other"}
_CARIN = "http://hl7.org/fhir/us/carin-bb/CodeSystem/"
C4BB_ADJUDICATION = _CARIN + "C4BBAdjudication"
C4BB_ADJUDICATION_DISCRIMINATOR = _CARIN + "C4BBAdjudicationDiscriminator"
C4BB_PAYER_ADJUDICATION_STATUS = _CARIN + "C4BBPayerAdjudicationStatus"
C4BB_SUPPORTING_INFO_TYPE = _CARIN + "C4BBSupportingInfoType"
C4BB_IDENTIFIER_TYPE = _CARIN + "C4BBIdentifierType"
C4BB_CLAIM_CARE_TEAM_ROLE = _CARIN + "C4BBClaimCareTeamRole"
C4BB_COMPOUND_LITERAL = _CARIN + "C4BBCompoundLiteral"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"  # the core categories
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
PAYEE_TYPE = "http://terminology.hl7.org/CodeSystem/payeetype"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
NCPDP_DAW = "http://terminology.hl7.org/CodeSystem/NCPDPDispensedAsWrittenOrProductSelectionCode"
NCPDP_COMPOUND_CODE = "http://terminology.hl7.org/CodeSystem/NCPDPCompoundCode"
NDC = "http://hl7.org/fhir/sid/ndc"
NPI = "http://hl7.org/fhir/sid/us-npi"
UCUM = "http://unitsofmeasure.org"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# Where this gateway's own identifiers (member, plan, claim) live; a deployment's own base goes
# here once it has one.
SYSTEM_BASE = "urn:rx-gateway:"
CURRENCY = "USD"

COMPOUND = 2  # 406-D6: 2 compound, 1 not a compound
GENDERS = {0: "unknown", 1: "male", 2: "female"}  # 305-C5 → FHIR administrative gender
_FHIR_ID = re.compile(r"[^A-Za-z0-9\-.]")
_ID_LENGTH_MAX = 64


@dataclass(frozen=True, slots=True)
class EobMember:
    """The member the file is for (the Patient)."""

    member_id: str
    family_name: str
    given_name: str
    gender_code: int  # 305-C5: 0 unknown, 1 male, 2 female
    cardholder_id: str = ""  # 302-C2: the ID on the card (the Coverage's subscriberId)
    person_code: str = ""  # 303-C3
    relationship_code: int | None = None  # 306-C6 as enrollment says it; None: not known

    @property
    def relationship(self) -> str:
        """The Coverage's relationship to the subscriber: 306-C6's, else the cardholder (person
        code 001) is "self" and anyone else on the card "other"."""
        known = RELATIONSHIPS.get(self.relationship_code or 0)
        if known is not None:
            return known
        return "self" if self.person_code.lstrip("0") in ("", "1") else "other"


@dataclass(frozen=True, slots=True)
class EobClaim:
    """One paid claim as the ledger holds it: what its ExplanationOfBenefit says."""

    internal_control_number: str  # 993-A7
    received_at: dt.datetime  # when the claim was received and adjudicated (timezone-aware)
    reversed_at: dt.datetime | None  # the reversal (B2), if any
    date_of_service: dt.date  # 401-D1
    plan_id: str
    plan_name: str
    group_id: str  # 301-C1
    coverage_start: dt.date | None  # the coverage in force on the date of service
    coverage_end: dt.date | None
    pharmacy_id: str  # 201-B1 (an NPI)
    pharmacy_name: str
    in_network: bool
    prescriber_id: str  # 411-DB ('' when not kept)
    product_id: str  # 407-D7, an 11-digit NDC
    product_name: str
    quantity_thousandths: int  # 442-E7
    days_supply: int  # 405-D5
    fill_number: int  # 403-D3: 0 the original
    dispense_as_written: int | None  # 408-D8; None: not kept with the claim
    refills_authorized: int | None  # 415-DF; None: not kept with the claim
    submitted_cents: int | None  # 430-DU; None: not kept (taken to be the allowed amount)
    pricing: ResponsePricing
    # a compound's covered ingredients: each NDC and its quantity (448-ED, thousandths; None
    # when the request kept with the claim does not say)
    compound_ingredients: tuple[tuple[str, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class EobAmounts:
    """The adjudication amounts by CARIN category, in cents."""

    submitted_cents: int
    eligible_cents: int
    deductible_cents: int
    copay_cents: int
    coinsurance_cents: int
    benefit_cents: int
    member_liability_cents: int
    paid_by_patient_cents: int  # at the counter (505-F5): paidbypatientcash
    health_account_cents: int
    paid_to_provider_cents: int
    prior_payer_paid_cents: int

    def categories(self) -> tuple[tuple[str, str, int], ...]:
        """(system, code, cents) in the file's order; the HRA and the prior payer only when
        they paid something."""
        listed = (
            (ADJUDICATION, "submitted", self.submitted_cents),
            (ADJUDICATION, "eligible", self.eligible_cents),
            (ADJUDICATION, "deductible", self.deductible_cents),
            (ADJUDICATION, "copay", self.copay_cents),
            (C4BB_ADJUDICATION, "coinsurance", self.coinsurance_cents),
            (ADJUDICATION, "benefit", self.benefit_cents),
            (C4BB_ADJUDICATION, "memberliability", self.member_liability_cents),
            # all the patient paid (C4BBAdjudication: "the amount paid by the patient"), by
            # cash at the counter and from the health account
            (
                C4BB_ADJUDICATION,
                "paidbypatient",
                self.paid_by_patient_cents + self.health_account_cents,
            ),
            (C4BB_ADJUDICATION, "paidbypatientcash", self.paid_by_patient_cents),
            (C4BB_ADJUDICATION, "paidbypatienthealthaccount", self.health_account_cents),
            (C4BB_ADJUDICATION, "paidtoprovider", self.paid_to_provider_cents),
            (C4BB_ADJUDICATION, "priorpayerpaid", self.prior_payer_paid_cents),
        )
        optional = {"paidbypatienthealthaccount", "priorpayerpaid"}
        return tuple(c for c in listed if c[1] not in optional or c[2] != 0)


def amounts(pricing: ResponsePricing, submitted_cents: int | None) -> EobAmounts:
    """The categories of a paid claim's response (see the module's table), identities checked."""
    p = pricing
    health_account = -p.health_plan_funded_assistance_amount_cents  # 129-UD is <= 0
    result = EobAmounts(
        submitted_cents=p.allowed_amount_cents if submitted_cents is None else submitted_cents,
        eligible_cents=p.ingredient_cost_paid_cents
        + p.dispensing_fee_paid_cents
        + p.additional_paid_cents,
        deductible_cents=p.amount_applied_to_periodic_deductible_cents,
        copay_cents=p.amount_of_copay_cents,
        coinsurance_cents=p.amount_of_coinsurance_cents,
        benefit_cents=p.total_amount_paid_cents - health_account,
        member_liability_cents=p.patient_pay_amount_cents + health_account,
        paid_by_patient_cents=p.patient_pay_amount_cents,
        health_account_cents=health_account,
        paid_to_provider_cents=p.total_amount_paid_cents,
        prior_payer_paid_cents=p.other_payer_amount_recognized_cents,
    )
    a = result
    if (
        health_account < 0
        or a.eligible_cents != a.benefit_cents + a.member_liability_cents + a.prior_payer_paid_cents
        or a.paid_to_provider_cents != a.benefit_cents + a.health_account_cents
        or a.benefit_cents != p.plan_paid_cents
    ):
        msg = f"EOB amounts break their identities: {a}"
        raise InvariantViolation(msg)
    return result


def _money(cents: int) -> dict[str, Any]:
    return {"value": Decimal(cents).scaleb(-2), "currency": CURRENCY}


def _coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _instant(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        msg = "EOB times must be timezone-aware"
        raise ValueError(msg)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def fhir_id(text: str) -> str:
    """A FHIR resource id ([A-Za-z0-9-.]{1,64}) for ``text``."""
    return _FHIR_ID.sub("-", text)[:_ID_LENGTH_MAX] or "-"


def _npi_or_local(value: str, local_system: str, kind: str) -> dict[str, Any]:
    """An identifier: an NPI when the value is one (ten digits), else the gateway's own."""
    if len(value) == 10 and value.isascii() and value.isdigit():
        return {"type": _coding(IDENTIFIER_TYPE, "NPI"), "system": NPI, "value": value}
    return {"system": SYSTEM_BASE + local_system, "value": value, "type": {"text": kind}}


def _patient(member: EobMember) -> dict[str, Any]:
    name: dict[str, Any] = {"family": member.family_name}
    if member.given_name:
        name["given"] = [member.given_name]
    return {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [
            {
                "type": _coding(IDENTIFIER_TYPE, "MB", "Member Number"),
                "system": SYSTEM_BASE + "member-id",
                "value": member.member_id,
            }
        ],
        "name": [name],
        "gender": GENDERS.get(member.gender_code, "unknown"),
    }


def _contained(member: EobMember, claim: EobClaim) -> list[dict[str, Any]]:
    """The EOB's patient, insurer, pharmacy, coverage and prescriber, contained: FHIR's dom-4
    forbids a contained resource its own meta.lastUpdated (which C4BB's Coverage, Patient and
    Organization profiles require of a resource of their own)."""
    contained = [
        _patient(member),
        {
            "resourceType": "Organization",
            "id": "insurer",
            "active": True,
            "identifier": [
                {
                    "type": _coding(C4BB_IDENTIFIER_TYPE, "payerid"),
                    "system": SYSTEM_BASE + "plan-id",
                    "value": claim.plan_id,
                }
            ],
            "name": claim.plan_name or claim.plan_id,
        },
        {
            "resourceType": "Organization",
            "id": "pharmacy",
            "active": True,
            "identifier": [_npi_or_local(claim.pharmacy_id, "service-provider-id", "pharmacy")],
            "name": claim.pharmacy_name or claim.pharmacy_id,
        },
        _coverage(member, claim),
    ]
    if claim.prescriber_id:
        contained.append(
            {
                "resourceType": "Practitioner",
                "id": "prescriber",
                "identifier": [_npi_or_local(claim.prescriber_id, "prescriber-id", "prescriber")],
            }
        )
    return contained


def _coverage(member: EobMember, claim: EobClaim) -> dict[str, Any]:
    """The coverage in force on the date of service: its plan, group and dates, the card's ID
    (subscriberId) and the member's relationship to the subscriber (both required by
    C4BB-Coverage)."""
    classes = [
        {
            "type": _coding(COVERAGE_CLASS, "plan"),
            "value": claim.plan_id,
            "name": claim.plan_name or claim.plan_id,
        }
    ]
    if claim.group_id:
        classes.append({"type": _coding(COVERAGE_CLASS, "group"), "value": claim.group_id})
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": "coverage",
        "status": "active",
        "subscriberId": member.cardholder_id or member.member_id,
        "beneficiary": {"reference": "#patient"},
        "relationship": _coding(SUBSCRIBER_RELATIONSHIP, member.relationship),
        "payor": [{"reference": "#insurer"}],
        "class": classes,
    }
    period = {
        name: day.isoformat()
        for name, day in (("start", claim.coverage_start), ("end", claim.coverage_end))
        if day is not None
    }
    if period:
        coverage["period"] = period
    return coverage


def _supporting_info(claim: EobClaim) -> list[dict[str, Any]]:
    """The pharmacy profile's slices: days supply, DAW, refill number, refills authorized (when
    kept), compound code, the date received."""

    def category(code: str) -> dict[str, Any]:
        return _coding(C4BB_SUPPORTING_INFO_TYPE, code)

    daw: dict[str, Any] = (
        _coding(NCPDP_DAW, str(claim.dispense_as_written))
        if claim.dispense_as_written is not None
        # 408-D8 is not kept with the claim: said so, rather than guessed
        else {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": "unknown"}]}
    )
    compound = COMPOUND if claim.compound_ingredients else 1
    days = {"value": claim.days_supply, "unit": "days", "system": UCUM, "code": "d"}
    infos: list[dict[str, Any]] = [
        {"category": category("dayssupply"), "valueQuantity": days},
        {"category": category("dawcode"), "code": daw},
        {"category": category("refillnum"), "valueQuantity": {"value": claim.fill_number}},
    ]
    if claim.refills_authorized is not None:
        infos.append(
            {
                "category": category("refillsauthorized"),
                "valueQuantity": {"value": claim.refills_authorized},
            }
        )
    infos += [
        {"category": category("compoundcode"), "code": _coding(NCPDP_COMPOUND_CODE, str(compound))},
        {
            "category": category("clmrecvddate"),
            "timingDate": claim.received_at.astimezone(dt.UTC).date().isoformat(),
        },
    ]
    return [{"sequence": n, **info} for n, info in enumerate(infos, start=1)]


def _item(claim: EobClaim, categories: tuple[tuple[str, str, int], ...]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "sequence": 1,
        "productOrService": (
            _coding(C4BB_COMPOUND_LITERAL, "compound", "Compound")
            if claim.compound_ingredients
            else _coding(NDC, claim.product_id, claim.product_name)
        ),
        "servicedDate": claim.date_of_service.isoformat(),
        "quantity": {"value": Decimal(claim.quantity_thousandths).scaleb(-3)},
        "adjudication": [
            {"category": _coding(system, code), "amount": _money(cents)}
            for system, code, cents in categories
        ],
    }
    if claim.compound_ingredients:
        item["detail"] = [
            {
                "sequence": n,
                "productOrService": _coding(NDC, ndc),
                **(
                    {"quantity": {"value": Decimal(quantity).scaleb(-3)}}
                    if quantity is not None
                    else {}
                ),
            }
            for n, (ndc, quantity) in enumerate(claim.compound_ingredients, start=1)
        ]
    return item


def explanation_of_benefit(member: EobMember, claim: EobClaim) -> dict[str, Any]:
    """One claim as a C4BB-ExplanationOfBenefit-Pharmacy resource."""
    categories = amounts(claim.pricing, claim.submitted_cents).categories()
    updated = claim.reversed_at or claim.received_at
    eob: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit",
        "id": fhir_id(f"eob-{claim.internal_control_number}"),
        "meta": {"lastUpdated": _instant(updated), "profile": [f"{PROFILE}|{PROFILE_VERSION}"]},
        "contained": _contained(member, claim),
        "identifier": [
            {
                "type": _coding(C4BB_IDENTIFIER_TYPE, "uc", "Unique Claim ID"),
                "system": SYSTEM_BASE + "internal-control-number",
                "value": claim.internal_control_number,
            }
        ],
        "status": "active" if claim.reversed_at is None else "cancelled",
        "type": _coding(CLAIM_TYPE, "pharmacy", "Pharmacy"),
        "use": "claim",
        "patient": {"reference": "#patient"},
        "billablePeriod": {
            "start": claim.date_of_service.isoformat(),
            "end": claim.date_of_service.isoformat(),
        },
        "created": _instant(claim.received_at),
        "insurer": {"reference": "#insurer", "display": claim.plan_name or claim.plan_id},
        "provider": {"reference": "#pharmacy"},
        "payee": {
            "type": _coding(PAYEE_TYPE, "provider"),
            "party": {"reference": "#pharmacy"},
        },
        "outcome": "complete",
        "supportingInfo": _supporting_info(claim),
        "insurance": [{"focal": True, "coverage": {"reference": "#coverage"}}],
        "item": [_item(claim, categories)],
        "adjudication": [
            {
                "category": _coding(C4BB_ADJUDICATION_DISCRIMINATOR, "benefitpaymentstatus"),
                "reason": _coding(
                    C4BB_PAYER_ADJUDICATION_STATUS,
                    "innetwork" if claim.in_network else "outofnetwork",
                ),
            }
        ],
        "total": [
            {"category": _coding(system, code), "amount": _money(cents)}
            for system, code, cents in categories
        ],
    }
    if claim.prescriber_id:
        eob["careTeam"] = [
            {
                "sequence": 1,
                "provider": {"reference": "#prescriber"},
                "role": _coding(C4BB_CLAIM_CARE_TEAM_ROLE, "prescribing", "Prescribing provider"),
            }
        ]
    if claim.reversed_at is not None:
        eob["processNote"] = [
            {
                "number": 1,
                "type": "display",
                "text": f"Reversed by the pharmacy on {claim.reversed_at.date().isoformat()}",
            }
        ]
    return eob


def bundle(
    member: EobMember, claims: tuple[EobClaim, ...] | list[EobClaim], *, generated_at: dt.datetime
) -> dict[str, Any]:
    """The member's claims, in the order given, as a Bundle of type collection."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(generated_at),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, _claim_url(claim))}",
                "resource": explanation_of_benefit(member, claim),
            }
            for claim in claims
        ],
    }


def _claim_url(claim: EobClaim) -> str:
    return f"{SYSTEM_BASE}internal-control-number:{claim.internal_control_number}"


def fhir_json(resource: Any) -> bytes:
    """FHIR JSON (UTF-8): decimals written exactly as they are (42.00 stays 42.00)."""
    out: list[str] = []
    _encode(resource, out)
    return "".join(out).encode()


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            out.append("," if position else "")
            out.append(json.dumps(str(key), ensure_ascii=False) + ":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            out.append("," if position else "")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif value is None or isinstance(value, bool | int | str):
        out.append(json.dumps(value, ensure_ascii=False))
    else:
        msg = f"not FHIR JSON: {type(value).__name__}"
        raise TypeError(msg)
