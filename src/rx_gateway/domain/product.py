"""The product group: the drug (54), the formulary (MR, 70), age and gender edits (60/61),
generic required (AJ), step therapy (608) and prior authorization (75)."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.checks import fail, fail_if
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.member import MemberState
from rx_gateway.domain.reference import (
    Drug,
    FormularyEntry,
    FormularyStatus,
    Plan,
    ReferenceSnapshot,
)
from rx_gateway.domain.rejects import Reject, RejectCode


def check_product(
    request: ClaimRequest, plan: Plan, snapshot: ReferenceSnapshot, state: MemberState
) -> tuple[Drug, FormularyEntry]:
    drug = snapshot.drugs.get(request.product_id)
    if drug is None:
        fail("product", [Reject(RejectCode.NON_MATCHED_PRODUCT, "NDC not in the drug file")])
    entry = snapshot.formulary.get((plan.plan_id, drug.ndc))
    if entry is None or entry.status is FormularyStatus.NON_FORMULARY:
        fail(
            "product",
            [
                Reject(
                    RejectCode.NOT_ON_FORMULARY,
                    f"{drug.name} is not on the plan's formulary"
                    + _alternative(snapshot, plan, drug),
                )
            ],
        )
    if entry.status is FormularyStatus.EXCLUDED:
        fail(
            "product",
            [Reject(RejectCode.PRODUCT_NOT_COVERED, f"{drug.name} is excluded from the benefit")],
        )
    patient_edits(entry, drug, state, request.service_date)
    generic = snapshot.drugs.get(drug.generic_ndc) if drug.generic_ndc else None
    if generic is not None and request.dispense_as_written in plan.generic_required_daw_codes:
        fail(
            "product",
            [
                Reject(
                    RejectCode.GENERIC_REQUIRED,
                    f"Generic required: dispense {generic.name} (NDC {generic.ndc})",
                )
            ],
        )
    authorized = _authorized(request, drug, state)
    required = entry.step_therapy_molecule
    if required is not None and not authorized:
        since = request.service_date - dt.timedelta(days=STEP_THERAPY_LOOKBACK_DAYS)
        if not any(
            f.molecule == required and since <= f.date_of_service <= request.service_date
            for f in state.fills
        ):
            first = snapshot.first_line.get((plan.plan_id, required))
            offer = f" ({first.name}, NDC {first.ndc})" if first else ""
            fail(
                "product",
                [
                    Reject(
                        RejectCode.STEP_THERAPY_REQUIRED,
                        f"Step therapy: {required}{offer} must be tried first,"
                        " or the prescriber requests an exception",
                    )
                ],
            )
    if entry.prior_authorization_required and not authorized:
        fail(
            "product",
            [
                Reject(
                    RejectCode.PRIOR_AUTHORIZATION_REQUIRED,
                    f"Prior authorization required for {drug.name}: the prescriber requests it"
                    + (
                        f" at {plan.prior_authorization_contact}"
                        if plan.prior_authorization_contact
                        else " from the plan"
                    ),
                )
            ],
        )
    return drug, entry


STEP_THERAPY_LOOKBACK_DAYS = 365


def format_quantity(thousandths: int) -> str:
    """A quantity for people: 30000 → 30, 2500 → 2.5."""
    whole, part = divmod(thousandths, 1000)
    return f"{whole}" if not part else f"{whole}.{part:03d}".rstrip("0")


def _authorized(request: ClaimRequest, drug: Drug, state: MemberState) -> bool:  # noqa: RET503 - fail() never returns
    """Whether a prior authorization on file covers this fill. A 462-EV sent must name one of
    the member's PAs, and that PA must cover the drug, the date and the quantity (EV
    otherwise, saying why); without 462-EV (or with zeros, as switches send for none) any PA
    on file that covers it counts."""
    number = request.prior_authorization_number.strip("0")  # all zeros: none sent
    number = request.prior_authorization_number if number else ""
    quantity = request.quantity_dispensed_thousandths
    day = request.service_date
    if not number:
        return any(
            pa.covers(drug.ndc, drug.drug_group, day, quantity) for pa in state.prior_authorizations
        )
    named = [pa for pa in state.prior_authorizations if pa.number == number]
    if not named:
        fail(
            "product",
            [
                Reject(
                    RejectCode.MI_PRIOR_AUTHORIZATION_NUMBER,
                    f"Prior authorization {number} (462-EV) is not on file for this patient",
                )
            ],
        )
    if any(pa.covers(drug.ndc, drug.drug_group, day, quantity) for pa in named):
        return True
    pa = named[0]
    approved = (
        f", up to {format_quantity(pa.quantity_thousandths)} units a fill"
        if pa.quantity_thousandths is not None
        else ""
    )
    fail(
        "product",
        [
            Reject(
                RejectCode.MI_PRIOR_AUTHORIZATION_NUMBER,
                f"Prior authorization {number} (462-EV) covers {pa.ndc or pa.drug_group}"
                f" from {pa.start} to {pa.end}{approved}: not this fill",
            )
        ],
    )


def _alternative(snapshot: ReferenceSnapshot, plan: Plan, drug: Drug) -> str:
    """The preferred covered alternative in the same drug group, as message text."""
    other = snapshot.preferred_alternatives.get((plan.plan_id, drug.drug_group))
    if other is None or other.ndc == drug.ndc:
        return ""
    return f"; covered alternative: {other.name} (NDC {other.ndc})"


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years of age on a day."""
    before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - before_birthday


def patient_edits(
    entry: FormularyEntry, drug: Drug, state: MemberState, date_of_service: dt.date
) -> None:
    """Age (60) and gender (61) edits of the formulary entry, reported together."""
    rejects = []
    age = age_on(state.member.date_of_birth, date_of_service)
    if (entry.age_min is not None and age < entry.age_min) or (
        entry.age_max is not None and age > entry.age_max
    ):
        rejects.append(
            Reject(
                RejectCode.NOT_COVERED_FOR_AGE,
                f"{drug.name} is covered for ages {entry.age_min or 0}-{entry.age_max or 'up'}",
            )
        )
    if entry.gender_code is not None and state.member.gender_code != entry.gender_code:
        rejects.append(
            Reject(
                RejectCode.NOT_COVERED_FOR_GENDER, f"{drug.name} is not covered for this patient"
            )
        )
    fail_if("product", rejects)
