"""Price checks (RTPB-like): what a fill would cost the member now, the restrictions its claim
would meet, and what the alternatives would cost: the generic or the plan's preferred product
among the drug's equivalents, a preferred pharmacy, a specialty pharmacy, a 90-day fill by mail.

Pure. Every option is a hypothetical B1 that the service layer adjudicates with the claim's own
code (:func:`adjudication.adjudicate_checked`) on the member's state, read once; nothing is
posted. This module builds those claims, reads what each answer means for the member (the
RTPBC benefit restrictions, the formulary status) and ranks the alternatives.

What a hypothetical claim submits: a price check has no pharmacy charge, so it submits the
largest amounts a claim may carry (426-DQ U&C = 409-D9 = 430-DU = $999,999.99, 412-DC 0). The
lesser-of (:func:`pricing.lesser_of`) then pays the plan's contract price for the network, as
it does for a real claim whose charge is at or above it. A pharmacy whose U&C or submitted cost
is lower is paid that lower amount on the real claim.

Equivalents: a product group is a multi-source brand and the generics of the drug file that
share its generic NDC (``Drug.generic_ndc``, the brand's and the generic's own). Molecule alone
is not enough: the drug file has no strength or dosage form, and one molecule may come in
several strengths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from fractions import Fraction

from rx_gateway.domain.adjudication import Decision, Paid
from rx_gateway.domain.claim import (
    AMOUNT_MAX_CENTS,
    QUANTITY_MAX_THOUSANDTHS,
    ClaimRequest,
    Header,
)
from rx_gateway.domain.errors import InvalidRequest, InvariantViolation
from rx_gateway.domain.money import divide
from rx_gateway.domain.outcome import ClaimResponse, ResponseStatus
from rx_gateway.domain.reference import (
    Drug,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.rewards import quoted_reward_message, reward_message
from rx_gateway.domain.syntax import validate_claim
from rx_gateway.domain.values import format_ccyymmdd

SUBMITTED_CENTS = AMOUNT_MAX_CENTS  # so that the plan's contract price is what is allowed
RX_NUMBER = "0"  # 402-D2 of a hypothetical claim: it has no claim key to look up
NDC_QUALIFIER = "03"  # 436-E1: the product is an NDC
NPI_QUALIFIER = "01"  # 202-B2: the pharmacy is named by its NPI
MAIL_DAYS_SUPPLY = 90  # the days supply of the mail alternative
COMPARISON_DAYS = 30  # amounts per 30 days of supply: how a 90-day fill meets a 30-day one
# Products (the one asked about, its generic, the plan's preferred product of its group) x
# channels (the pharmacy asked about, a preferred one, a specialty or a mail pharmacy), less
# the fill asked about: at most 3 x 3 - 1.
ALTERNATIVES_MAX = 8


class Change(StrEnum):
    """What an alternative changes in the fill asked about."""

    GENERIC = "generic"  # the brand's generic equivalent (Drug.generic_ndc)
    PREFERRED_PRODUCT = "preferred_product"  # the plan's preferred product of the group
    PREFERRED_PHARMACY = "preferred_pharmacy"  # a pharmacy of the preferred network
    SPECIALTY_PHARMACY = "specialty_pharmacy"  # a specialty drug at a specialty pharmacy
    MAIL_90_DAY = "mail_90_day"  # a 90-day supply from a mail pharmacy


class BenefitRestriction(StrEnum):
    """The CARIN RTPBC benefitRestriction values (shared/reference/interop.md section 4)."""

    COVERED = "covered"
    PRIOR_AUTHORIZATION = "prior-auth"
    STEP_THERAPY = "step-therapy"
    QUANTITY_LIMIT = "quantity-limit"
    PHARMACY_RESTRICTION = "pharmacy-restriction"
    OTHER_RESTRICTION = "other-restriction"
    NOT_COVERED = "not-covered"


# Each reject a claim may get, as the restriction it tells the member about; any other reject
# (refill too soon, DUR, generic required, identification) is "other-restriction".
RESTRICTION_OF_REJECT: Mapping[RejectCode, BenefitRestriction] = {
    RejectCode.PRIOR_AUTHORIZATION_REQUIRED: BenefitRestriction.PRIOR_AUTHORIZATION,
    RejectCode.MI_PRIOR_AUTHORIZATION_NUMBER: BenefitRestriction.PRIOR_AUTHORIZATION,
    RejectCode.STEP_THERAPY_REQUIRED: BenefitRestriction.STEP_THERAPY,
    RejectCode.PLAN_LIMITATIONS_EXCEEDED: BenefitRestriction.QUANTITY_LIMIT,
    RejectCode.QUANTITY_EXCEEDS_MAXIMUM: BenefitRestriction.QUANTITY_LIMIT,
    RejectCode.DAYS_SUPPLY_LIMITATION: BenefitRestriction.QUANTITY_LIMIT,
    RejectCode.DAYS_SUPPLY_EXCEEDS_LIMIT: BenefitRestriction.QUANTITY_LIMIT,
    RejectCode.NON_MATCHED_PHARMACY: BenefitRestriction.PHARMACY_RESTRICTION,
    RejectCode.NOT_CONTRACTED: BenefitRestriction.PHARMACY_RESTRICTION,
    RejectCode.NOT_IN_SPECIALTY_NETWORK: BenefitRestriction.PHARMACY_RESTRICTION,
    RejectCode.NOT_IN_90_DAY_NETWORK: BenefitRestriction.PHARMACY_RESTRICTION,
    RejectCode.NON_MATCHED_PRODUCT: BenefitRestriction.NOT_COVERED,
    RejectCode.NOT_ON_FORMULARY: BenefitRestriction.NOT_COVERED,
    RejectCode.PRODUCT_NOT_COVERED: BenefitRestriction.NOT_COVERED,
    RejectCode.NOT_COVERED_FOR_AGE: BenefitRestriction.NOT_COVERED,
    RejectCode.NOT_COVERED_FOR_GENDER: BenefitRestriction.NOT_COVERED,
    RejectCode.PATIENT_NOT_COVERED: BenefitRestriction.NOT_COVERED,
    RejectCode.BEFORE_COVERAGE_EFFECTIVE: BenefitRestriction.NOT_COVERED,
    RejectCode.AFTER_COVERAGE_EXPIRED: BenefitRestriction.NOT_COVERED,
    RejectCode.AFTER_COVERAGE_TERMINATED: BenefitRestriction.NOT_COVERED,
}


class FormularyStatusCode(StrEnum):
    """The NCPDP formulary status an RTPBC response carries (the subset the formulary tells)."""

    PREFERRED = "P"  # on formulary, the plan's preferred product of its group
    BRAND_PREFERRED = "B"  # a multi-source brand the plan prefers over its generics
    ON_FORMULARY = "O"  # on formulary; another product of its group is preferred
    NEEDS_AUTHORIZATION = "X"  # paid only with a prior authorization
    NON_FORMULARY = "N"  # not on the plan's formulary (MR)
    NON_REIMBURSABLE = "Y"  # excluded from the benefit (70)
    UNKNOWN = "U"  # the drug, or the member's plan, is not known


# Where each syntax (M/I) reject of the hypothetical claim points in a CheckPrice request. The
# amounts, the Rx number and the qualifiers are the price check's own, never the caller's.
FIELD_OF_REJECT: Mapping[RejectCode, str] = {
    RejectCode.MI_BIN: "header.bin",
    RejectCode.MI_PCN: "header.processor_control_number",
    RejectCode.MI_SERVICE_PROVIDER_ID: "header.service_provider_id",
    RejectCode.MI_SERVICE_PROVIDER_ID_QUALIFIER: "header.service_provider_id_qualifier",
    RejectCode.MI_DATE_OF_SERVICE: "header.date_of_service",
    RejectCode.MI_SOFTWARE_VENDOR_ID: "header.software_vendor_id",
    RejectCode.MI_CARDHOLDER_ID: "insurance.cardholder_id",
    RejectCode.MI_GROUP_ID: "insurance.group_id",
    RejectCode.MI_PERSON_CODE: "insurance.person_code",
    RejectCode.MI_PATIENT_RELATIONSHIP: "insurance.patient_relationship_code",
    RejectCode.MI_DATE_OF_BIRTH: "patient.date_of_birth",
    RejectCode.MI_GENDER: "patient.gender_code",
    RejectCode.MI_PRODUCT_ID: "product_id",
    RejectCode.MI_QUANTITY_DISPENSED: "quantity_thousandths",
    RejectCode.MI_DAYS_SUPPLY: "days_supply",
    RejectCode.MI_DAW: "dispense_as_written",
    RejectCode.MI_PRESCRIBER_ID: "prescriber_id",
}


@dataclass(frozen=True, slots=True)
class PriceInquiry:
    """CheckPrice: the member as a claim names them, a drug, a quantity and a days supply. The
    pharmacy (``header.service_provider_id``) and the date (``header.date_of_service``) may be
    left empty: a preferred retail pharmacy, and today."""

    header: Header
    cardholder_id: str
    group_id: str
    person_code: str
    patient_relationship_code: int
    date_of_birth: str
    gender_code: int
    product_id: str
    quantity_thousandths: int
    days_supply: int
    dispense_as_written: int = 0
    prescriber_id: str = ""


@dataclass(frozen=True, slots=True)
class PharmacyChannels:
    """The first pharmacy on file (by NPI) of each network and kind. What a fill costs depends
    on the pharmacy's network and kind only (the contract, cost share, purse and network rules
    read nothing else), so any pharmacy of the same network and kind prices the same."""

    first: Mapping[tuple[PharmacyNetwork, str], Pharmacy]

    @classmethod
    def of(cls, pharmacies: Iterable[Pharmacy]) -> PharmacyChannels:
        first: dict[tuple[PharmacyNetwork, str], Pharmacy] = {}
        for pharmacy in sorted(pharmacies, key=lambda p: p.npi):
            first.setdefault((pharmacy.network, pharmacy.kind), pharmacy)
        return cls(first)

    def find(
        self,
        kind: str,
        networks: tuple[PharmacyNetwork, ...] = (
            PharmacyNetwork.PREFERRED,
            PharmacyNetwork.STANDARD,
        ),
    ) -> Pharmacy | None:
        """A pharmacy of this kind, from the first of ``networks`` that has one."""
        return next((self.first[(n, kind)] for n in networks if (n, kind) in self.first), None)


@dataclass(frozen=True, slots=True)
class Equivalents:
    """The drug file's product groups of more than one product, by the group's generic NDC:
    a brand and the generics that share the NDC its ``generic_ndc`` names, in NDC order."""

    groups: Mapping[str, tuple[Drug, ...]]

    @classmethod
    def of(cls, drugs: Iterable[Drug]) -> Equivalents:
        groups: dict[str, list[Drug]] = {}
        for drug in sorted(drugs, key=lambda d: d.ndc):
            groups.setdefault(drug.generic_ndc or drug.ndc, []).append(drug)
        return cls({key: tuple(group) for key, group in groups.items() if len(group) > 1})

    def of_drug(self, drug: Drug) -> tuple[Drug, ...]:
        """The drug's group (the drug alone when it has no equivalent)."""
        return self.groups.get(drug.generic_ndc or drug.ndc, (drug,))

    def preferred(self, snapshot: ReferenceSnapshot, plan_id: str, drug: Drug) -> Drug | None:
        """The product of the drug's group the plan prefers: covered without prior
        authorization, the lowest tier, generics first, then by NDC (the ranking of
        ``ReferenceSnapshot.first_line``); None when no product of the group is."""
        best: tuple[tuple[int, bool, str], Drug] | None = None
        for product in self.of_drug(drug):
            entry = snapshot.formulary.get((plan_id, product.ndc))
            if entry is None or entry.status is not FormularyStatus.COVERED:
                continue
            if entry.prior_authorization_required:
                continue
            rank = (entry.tier, product.is_brand, product.ndc)
            if best is None or rank < best[0]:
                best = (rank, product)
        return best[1] if best is not None else None


@dataclass(frozen=True, slots=True)
class PriceIndex:
    """What a price check looks up beyond the snapshot's own indexes: built once per reference
    snapshot (the service layer keeps it until the snapshot is swapped)."""

    channels: PharmacyChannels
    equivalents: Equivalents

    @classmethod
    def of(cls, snapshot: ReferenceSnapshot) -> PriceIndex:
        return cls(
            PharmacyChannels.of(snapshot.pharmacies.values()),
            Equivalents.of(snapshot.drugs.values()),
        )


def asked_claim(
    inquiry: PriceInquiry, *, today: dt.date, channels: PharmacyChannels
) -> ClaimRequest:
    """The hypothetical B1 of the fill asked about, its defaults filled in; InvalidRequest
    naming the first malformed field (the claim's own syntax checks, before anything is read)."""
    if not inquiry.date_of_birth:
        raise InvalidRequest("patient.date_of_birth", "is required")
    header = inquiry.header
    npi = header.service_provider_id
    if not npi:
        default = channels.find("retail", (PharmacyNetwork.PREFERRED,))
        if default is None:
            raise InvalidRequest("header.service_provider_id", "is required: no preferred pharmacy")
        npi = default.npi
    header = replace(
        header,
        service_provider_id=npi,
        service_provider_id_qualifier=header.service_provider_id_qualifier or NPI_QUALIFIER,
        date_of_service=header.date_of_service or format_ccyymmdd(today),
    )
    request = ClaimRequest(
        header=header,
        cardholder_id=inquiry.cardholder_id,
        group_id=inquiry.group_id,
        person_code=inquiry.person_code,
        patient_relationship_code=inquiry.patient_relationship_code,
        date_of_birth=inquiry.date_of_birth,
        gender_code=inquiry.gender_code,
        prescription_reference_number=RX_NUMBER,
        fill_number=0,
        product_id_qualifier=NDC_QUALIFIER,
        product_id=inquiry.product_id,
        quantity_dispensed_thousandths=inquiry.quantity_thousandths,
        days_supply=inquiry.days_supply,
        dispense_as_written=inquiry.dispense_as_written,
        date_prescription_written="",
        number_of_refills_authorized=None,
        prior_authorization_number="",
        prescriber_id=inquiry.prescriber_id,
        ingredient_cost_submitted_cents=SUBMITTED_CENTS,
        dispensing_fee_submitted_cents=0,
        usual_and_customary_charge_cents=SUBMITTED_CENTS,
        gross_amount_due_cents=SUBMITTED_CENTS,
    )
    problems = validate_claim(request)
    if problems:
        first = problems[0]
        raise InvalidRequest(FIELD_OF_REJECT.get(first.code, "request"), first.message)
    return request


@dataclass(frozen=True, slots=True)
class Option:
    """One fill to price: the fill asked about (no changes) or an alternative to it. ``drug``
    and ``pharmacy`` are None when the request names one that is not on file."""

    changes: tuple[Change, ...]
    request: ClaimRequest
    drug: Drug | None
    pharmacy: Pharmacy | None


def asked_option(request: ClaimRequest, snapshot: ReferenceSnapshot) -> Option:
    return Option(
        (),
        request,
        snapshot.drugs.get(request.product_id),
        snapshot.pharmacies.get(request.header.service_provider_id),
    )


@dataclass(frozen=True, slots=True)
class _Channel:
    changes: tuple[Change, ...]
    pharmacy: Pharmacy | None
    service_provider_id: str
    quantity_thousandths: int
    days_supply: int


def _channels(asked: Option, drug: Drug, channels: PharmacyChannels) -> list[_Channel]:
    """Where the drug could be filled: the pharmacy asked about, then a preferred pharmacy
    (when that one is not), a specialty pharmacy (a specialty drug elsewhere), and a 90-day
    supply by mail (any other drug asked about for fewer days)."""
    request, pharmacy = asked.request, asked.pharmacy
    quantity, days = request.quantity_dispensed_thousandths, request.days_supply
    found = [_Channel((), pharmacy, request.header.service_provider_id, quantity, days)]
    if pharmacy is None or pharmacy.network is not PharmacyNetwork.PREFERRED:
        kind = pharmacy.kind if pharmacy is not None else "retail"
        preferred = channels.find(kind, (PharmacyNetwork.PREFERRED,)) or channels.find(
            "retail", (PharmacyNetwork.PREFERRED,)
        )
        if preferred is not None:
            found.append(
                _Channel((Change.PREFERRED_PHARMACY,), preferred, preferred.npi, quantity, days)
            )
    if drug.is_specialty:
        specialty = channels.find("specialty")
        if specialty is not None and (pharmacy is None or pharmacy.kind != "specialty"):
            found.append(
                _Channel((Change.SPECIALTY_PHARMACY,), specialty, specialty.npi, quantity, days)
            )
        return found
    mail = channels.find("mail")
    mail_quantity = divide(quantity * MAIL_DAYS_SUPPLY, days)
    if mail is not None and days < MAIL_DAYS_SUPPLY and mail_quantity <= QUANTITY_MAX_THOUSANDTHS:
        found.append(
            _Channel((Change.MAIL_90_DAY,), mail, mail.npi, mail_quantity, MAIL_DAYS_SUPPLY)
        )
    return found


def alternatives(
    asked: Option, plan_id: str, snapshot: ReferenceSnapshot, index: PriceIndex
) -> tuple[Option, ...]:
    """The alternatives to the fill asked about, products (the drug, its generic, the plan's
    preferred product of its group) by channels, in that order. None when the drug or the
    member's plan is unknown: there is nothing to compare with."""
    drug = asked.drug
    if drug is None or plan_id not in snapshot.plans:
        return ()
    daw = asked.request.dispense_as_written
    products: list[tuple[tuple[Change, ...], Drug, int]] = [((), drug, daw)]
    generic = snapshot.drugs.get(drug.generic_ndc) if drug.generic_ndc else None
    if generic is not None and generic.ndc != drug.ndc:
        products.append(((Change.GENERIC,), generic, 0))  # substitution allowed: DAW 0
    preferred = index.equivalents.preferred(snapshot, plan_id, drug)
    if preferred is not None and all(preferred.ndc != p.ndc for _, p, _ in products):
        products.append(((Change.PREFERRED_PRODUCT,), preferred, 0))
    options = []
    for product_changes, product, product_daw in products:
        for channel in _channels(asked, drug, index.channels):
            changes = product_changes + channel.changes
            if not changes:
                continue  # the fill asked about
            request = replace(
                asked.request,
                header=replace(
                    asked.request.header, service_provider_id=channel.service_provider_id
                ),
                product_id=product.ndc,
                quantity_dispensed_thousandths=channel.quantity_thousandths,
                days_supply=channel.days_supply,
                dispense_as_written=product_daw,
            )
            options.append(Option(changes, request, product, channel.pharmacy))
    if len(options) > ALTERNATIVES_MAX:
        msg = f"{len(options)} price check alternatives: at most {ALTERNATIVES_MAX}"
        raise InvariantViolation(msg)
    return tuple(options)


def restrictions_of(rejects: tuple[Reject, ...]) -> tuple[BenefitRestriction, ...]:
    """The restriction each reject tells of, in the rejects' order, each once; ``covered``
    when there is none."""
    if not rejects:
        return (BenefitRestriction.COVERED,)
    kinds: list[BenefitRestriction] = []
    for reject in rejects:
        kind = RESTRICTION_OF_REJECT.get(reject.code, BenefitRestriction.OTHER_RESTRICTION)
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def formulary_status(
    snapshot: ReferenceSnapshot, plan_id: str, drug: Drug | None, equivalents: Equivalents
) -> FormularyStatusCode:
    """The drug's place on the plan's formulary, among its equivalents, as an RTPBC
    formularyStatus."""
    if drug is None or plan_id not in snapshot.plans:
        return FormularyStatusCode.UNKNOWN
    entry = snapshot.formulary.get((plan_id, drug.ndc))
    if entry is None or entry.status is FormularyStatus.NON_FORMULARY:
        return FormularyStatusCode.NON_FORMULARY
    if entry.status is FormularyStatus.EXCLUDED:
        return FormularyStatusCode.NON_REIMBURSABLE
    if entry.prior_authorization_required:
        return FormularyStatusCode.NEEDS_AUTHORIZATION
    preferred = equivalents.preferred(snapshot, plan_id, drug)
    if preferred is not None and preferred.ndc != drug.ndc:
        return FormularyStatusCode.ON_FORMULARY
    if drug.is_brand and len(equivalents.of_drug(drug)) > 1:
        return FormularyStatusCode.BRAND_PREFERRED
    return FormularyStatusCode.PREFERRED


@dataclass(frozen=True, slots=True)
class Quote:
    """One option priced: the claim's answer to it (never posted) and what that answer means
    for the member."""

    option: Option
    response: ClaimResponse
    restrictions: tuple[BenefitRestriction, ...]
    formulary_status: FormularyStatusCode
    tier: int  # the plan's formulary tier of the drug; 0 when it is not on the formulary
    program_id: str = ""  # a program whose cap applies (Program), if any
    program_reduction_cents: int = 0  # what the program's cap took off the member's share

    @property
    def paid(self) -> bool:
        return self.response.transaction_response_status is ResponseStatus.PAID

    @property
    def member_pay_cents(self) -> int:
        """505-F5: what the member would pay at the counter (0 when the claim is rejected)."""
        pricing = self.response.pricing
        return pricing.patient_pay_amount_cents if pricing is not None and self.paid else 0

    @property
    def plan_cost_cents(self) -> int:
        """509-F9: what the plan and the member's purses would pay (0 when rejected)."""
        pricing = self.response.pricing
        return pricing.total_amount_paid_cents if pricing is not None and self.paid else 0

    @property
    def days_supply(self) -> int:
        return self.option.request.days_supply

    @property
    def member_pay_per_30_days_cents(self) -> int:
        return divide(self.member_pay_cents * COMPARISON_DAYS, self.days_supply)


def quote(
    option: Option, decision: Decision, snapshot: ReferenceSnapshot, index: PriceIndex
) -> Quote:
    """What the claim's decision on ``option`` tells the member."""
    response = decision.response
    plan_id = response.plan_id
    entry = snapshot.formulary.get((plan_id, option.drug.ndc)) if option.drug is not None else None
    paid = isinstance(decision, Paid)
    if paid != (response.transaction_response_status is ResponseStatus.PAID):
        msg = (
            f"a {type(decision).__name__} decision answered {response.transaction_response_status}"
        )
        raise InvariantViolation(msg)
    if response.rewards:  # a quote credits nothing: its messages say what the claim would
        said = {reward_message(r): quoted_reward_message(r) for r in response.rewards}
        response = replace(
            response,
            additional_messages=tuple(said.get(m, m) for m in response.additional_messages),
        )
    return Quote(
        option=option,
        response=response,
        restrictions=restrictions_of(response.rejects),
        formulary_status=formulary_status(snapshot, plan_id, option.drug, index.equivalents),
        tier=entry.tier if entry is not None else 0,
        program_id=decision.program_id if isinstance(decision, Paid) else "",
        program_reduction_cents=(
            decision.program_reduction_cents if isinstance(decision, Paid) else 0
        ),
    )


def ranked(quotes: Iterable[Quote]) -> tuple[Quote, ...]:
    """The quotes the claim would pay, what the member pays per day of supply lowest first,
    then what the plan and the purses pay per day, then in the order they were built (fewest
    changes first). Per day, exactly (a fraction, never rounded): a 90-day fill is compared
    with a 30-day one for the same days."""
    paid = [(index, q) for index, q in enumerate(quotes) if q.paid]
    paid.sort(
        key=lambda item: (
            Fraction(item[1].member_pay_cents, item[1].days_supply),
            Fraction(item[1].plan_cost_cents, item[1].days_supply),
            item[0],
        )
    )
    return tuple(q for _, q in paid)


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """CheckPrice's answer: the fill asked about, and the alternatives the claim would pay,
    ranked."""

    asked: Quote
    alternatives: tuple[Quote, ...]
    reference_data_version: str

    @property
    def plan_id(self) -> str:
        return self.asked.response.plan_id

    @property
    def date_of_service(self) -> str:
        return self.asked.option.request.header.date_of_service
