"""Admin changes: purse funding, coverage spans and prior authorizations.

Each change is validated here (InvalidRequest names the field), then written by the store in
one transaction with an audit row naming the operator. Member state is read fresh by every
claim, so a committed change applies to the next claim on every running gateway.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rx_gateway.domain import eob
from rx_gateway.domain.claim import QUANTITY_MAX_THOUSANDTHS
from rx_gateway.domain.cob import MEDICAID
from rx_gateway.domain.errors import (
    InvalidRequest,
    PreconditionFailed,
    Unauthenticated,
    UnknownReference,
)
from rx_gateway.domain.member import (
    Coverage,
    CoverageEndReason,
    OtherCoverage,
    PriorAuthorization,
)
from rx_gateway.domain.reference import CoverageLevel, Plan, ReferenceSnapshot
from rx_gateway.domain.values import DATE_YEAR_MAX, DATE_YEAR_MIN, is_digits, parse_ccyymmdd
from rx_gateway.service_layer.ports import EobSource

ID_LENGTH_MAX = 64
LINES_OF_BUSINESS = frozenset({"COMMERCIAL", "MARKETPLACE", "MEDICAID", "ICHRA", "MEDICARE_PART_D"})
FUNDING_CENTS_MAX = 10_000_000_00  # $10M: a typo guard, not a business rule
PAYER_ORDER_MAX = 9


@dataclass(frozen=True, slots=True)
class PurseFunding:
    funding_id: str
    purse_id: str
    amount_cents: int
    available_on: dt.date | None  # None: fund now
    memo: str


@dataclass(frozen=True, slots=True)
class CoverageChange:
    member_id: str
    coverage: Coverage
    # self_only or family (X12 834 HD05); None: self-only for a one-person family
    coverage_level: str | None = None


@dataclass(frozen=True, slots=True)
class OtherCoverageChange:
    member_id: str
    coverage: OtherCoverage


@dataclass(frozen=True, slots=True)
class AuthorizationGrant:
    member_id: str
    authorization: PriorAuthorization


def identifier(field: str, value: str) -> str:
    if not value or len(value) > ID_LENGTH_MAX or not value.isprintable():
        raise InvalidRequest(field, f"must be 1-{ID_LENGTH_MAX} printable characters")
    return value


GROUP_ID_LENGTH_MAX = 15  # 301-C1 x(15): a longer group no claim could send


def required_date(field: str, value: str) -> dt.date:
    parsed = parse_ccyymmdd(value)
    if parsed is None:
        raise InvalidRequest(field, "must be a date CCYYMMDD")
    if not DATE_YEAR_MIN <= parsed.year <= DATE_YEAR_MAX:
        raise InvalidRequest(field, f"must be a date in {DATE_YEAR_MIN}-{DATE_YEAR_MAX}")
    return parsed


def optional_date(field: str, value: str) -> dt.date | None:
    return required_date(field, value) if value else None


def purse_funding(
    funding_id: str, purse_id: str, amount_cents: int, available_on: str, memo: str
) -> PurseFunding:
    if not 0 < amount_cents <= FUNDING_CENTS_MAX:
        raise InvalidRequest("amount_cents", f"must be 1-{FUNDING_CENTS_MAX}")
    if len(memo) > 200:
        raise InvalidRequest("memo", "must be at most 200 characters")
    if not memo.isprintable():  # a NUL was INTERNAL (the database refuses the byte)
        raise InvalidRequest("memo", "must be one line of printable characters")
    return PurseFunding(
        identifier("funding_id", funding_id),
        identifier("purse_id", purse_id),
        amount_cents,
        optional_date("available_on", available_on),
        memo,
    )


def coverage_conflict(
    new: Coverage, existing: Sequence[Coverage]
) -> InvalidRequest | PreconditionFailed | None:
    """Why the member's stored spans (``existing``) make ``new`` a mistake, or None. A span
    with ``new``'s plan and start is the one it replaces. Two spans of one plan may not
    overlap (claims take the first in force: the new one would never apply); two coverages in
    force together may not share a payer order (both would pay as that payer); Medicaid pays
    last (as `rx-gateway load` checks)."""
    for old in existing:
        if (old.plan_id, old.start) == (new.plan_id, new.start):
            continue
        overlap = old.start <= (new.end or old.start) and new.start <= (old.end or new.start)
        if not overlap:
            continue
        since = f"the member's {old.plan_id} coverage from {old.start:%Y%m%d}"
        if old.plan_id == new.plan_id:
            return PreconditionFailed(
                f"start_date: overlaps {since}: end that span, or change it by its start_date"
            )
        medicaid_new = new.line_of_business == MEDICAID
        if medicaid_new != (old.line_of_business == MEDICAID):
            medicaid, other = (new, old) if medicaid_new else (old, new)
            if medicaid.payer_order <= other.payer_order:
                return PreconditionFailed(
                    f"payer_order: Medicaid pays last: in force with {since}, its payer order"
                    f" ({medicaid.payer_order}) must come after the other's ({other.payer_order})"
                )
        elif old.payer_order == new.payer_order:
            return PreconditionFailed(
                f"payer_order: {since} is payer order {old.payer_order} on these dates too"
            )
    return None


def coverage_change(
    member_id: str,
    plan_id: str,
    group_id: str,
    start_date: str,
    end_date: str,
    end_reason: str,
    line_of_business: str,
    coverage_level: str = "",
    payer_order: int = 0,
    plans: Mapping[str, Plan] | None = None,
) -> CoverageChange:
    """A coverage span as asked; with ``plans``, its line of business must be its plan's (a
    claim is decided by the plan's, so another here would only mislead)."""
    start = required_date("start_date", start_date)
    end = optional_date("end_date", end_date)
    if end is not None and end < start:
        raise InvalidRequest("end_date", "must not be before start_date")
    reason: CoverageEndReason | None = None
    if end is not None:
        if end_reason not in set(CoverageEndReason):
            raise InvalidRequest("end_reason", "must be terminated or expired with an end_date")
        reason = CoverageEndReason(end_reason)
    elif end_reason:
        raise InvalidRequest("end_reason", "only with an end_date")
    if line_of_business not in LINES_OF_BUSINESS:
        raise InvalidRequest("line_of_business", f"must be one of {sorted(LINES_OF_BUSINESS)}")
    plan = plans.get(plan_id) if plans is not None else None
    if plan is not None and plan.line_of_business != line_of_business:
        raise InvalidRequest(
            "line_of_business", f"plan {plan_id} is {plan.line_of_business}, not {line_of_business}"
        )
    if coverage_level and coverage_level not in set(CoverageLevel):
        raise InvalidRequest("coverage_level", "must be self_only or family (or empty)")
    if not 0 <= payer_order <= PAYER_ORDER_MAX:
        raise InvalidRequest("payer_order", f"must be 1-{PAYER_ORDER_MAX} (0: primary)")
    change = CoverageChange(
        identifier("member_id", member_id),
        Coverage(
            identifier("plan_id", plan_id),
            _field_text("group_id", group_id, GROUP_ID_LENGTH_MAX, required=True),
            start,
            end,
            reason,
            line_of_business,
            payer_order=payer_order or 1,
        ),
        coverage_level or None,
    )
    if plans is not None and plan is None:  # the fields first, as for a known plan
        raise UnknownReference(f"unknown plan_id {plan_id!r}: no loaded plan has it")
    return change


def _field_text(
    field: str, value: str, length_max: int, *, required: bool = False, digits: bool = False
) -> str:
    """An NCPDP field's value: printable ASCII up to its width, not only spaces when required,
    only digits 0-9 for a numeric field."""
    what = "digits 0-9" if digits else "printable ASCII characters"
    if (required and not value.strip()) or len(value) > length_max:
        raise InvalidRequest(field, f"must be {'1' if required else '0'}-{length_max} {what}")
    if value and not (value.isascii() and value.isprintable()):
        raise InvalidRequest(field, f"must be {what}")
    if digits and value and not is_digits(value):
        raise InvalidRequest(field, f"must be {what}")
    return value


def other_coverage_change(
    member_id: str,
    payer_order: int,
    payer_name: str,
    bin: str,
    pcn: str,
    group_id: str,
    cardholder_id: str,
    person_code: str,
    help_desk_phone: str,
    start_date: str,
    end_date: str,
) -> OtherCoverageChange:
    """A coverage by another payer, field by field as the 41's other payer segment sends it."""
    if not 1 <= payer_order <= PAYER_ORDER_MAX:
        raise InvalidRequest("payer_order", f"must be 1-{PAYER_ORDER_MAX}")
    if len(bin) != 6 or not (bin.isascii() and bin.isdigit()):
        raise InvalidRequest("bin", "must be 6 digits")
    start = required_date("start_date", start_date)
    end = optional_date("end_date", end_date)
    if end is not None and end < start:
        raise InvalidRequest("end_date", "must not be before start_date")
    return OtherCoverageChange(
        identifier("member_id", member_id),
        OtherCoverage(
            payer_order=payer_order,
            payer_name=_field_text("payer_name", payer_name, 60, required=True),
            bin=bin,
            processor_control_number=_field_text("processor_control_number", pcn, 10),
            group_id=_field_text("group_id", group_id, 15),
            cardholder_id=_field_text("cardholder_id", cardholder_id, 20, required=True),
            person_code=_field_text("person_code", person_code, 3, digits=True),
            help_desk_phone=_field_text("help_desk_phone", help_desk_phone, 18, digits=True),
            start=start,
            end=end,
        ),
    )


def authorization_grant(
    pa_number: str,
    member_id: str,
    ndc: str,
    drug_group: str,
    start_date: str,
    end_date: str,
    quantity_thousandths: int,
    snapshot: ReferenceSnapshot | None = None,
) -> AuthorizationGrant:
    """A grant as the load checks one: with ``snapshot``, its NDC in the drug file or its
    group one a drug there has (a grant naming no drug applies to no claim, unseen until a
    claim asks for it); a quantity a claim could dispense."""
    if bool(ndc) == bool(drug_group):
        raise InvalidRequest("ndc", "give exactly one of ndc or drug_group")
    if ndc and (len(ndc) != 11 or not is_digits(ndc)):
        raise InvalidRequest("ndc", "must be 11 digits")
    if snapshot is not None:
        if ndc and ndc not in snapshot.drugs:
            raise InvalidRequest("ndc", "is not in the drug file")
        if drug_group and drug_group not in {d.drug_group for d in snapshot.drugs.values()}:
            raise InvalidRequest("drug_group", "no drug in the drug file is of this group")
    if not 0 <= quantity_thousandths <= QUANTITY_MAX_THOUSANDTHS:
        raise InvalidRequest(
            "quantity_thousandths",
            f"must be 0 (no quantity) to {QUANTITY_MAX_THOUSANDTHS:,} (442-E7's largest)",
        )
    start = required_date("start_date", start_date)
    end = required_date("end_date", end_date)
    if end < start:
        raise InvalidRequest("end_date", "must not be before start_date")
    return AuthorizationGrant(
        identifier("member_id", member_id),
        PriorAuthorization(
            ndc or None,
            identifier("drug_group", drug_group) if drug_group else None,
            start,
            end,
            identifier("pa_number", pa_number),
            quantity_thousandths or None,
        ),
    )


# A member's EOB file per call: a year of even a heavy user's fills, and a reply (about 8 kB an
# ExplanationOfBenefit) well under gRPC's 4 MB default a client receives.
EOB_CLAIMS_MAX = 300


@dataclass(frozen=True, slots=True)
class EobRequest:
    member_id: str
    date_from: dt.date | None  # first date of service; None: from the first claim
    date_to: dt.date | None  # last date of service; None: to the last claim


def eob_request(member_id: str, date_from: dt.date | None, date_to: dt.date | None) -> EobRequest:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise InvalidRequest("date_from", f"{date_from} is after date_to {date_to}")
    return EobRequest(identifier("member_id", member_id), date_from, date_to)


async def export_eob(
    source: EobSource, request: EobRequest, *, actor: str, generated_at: dt.datetime
) -> tuple[bytes, int]:
    """The member's claims in the range as a FHIR Bundle of CARIN BB pharmacy
    ExplanationOfBenefit resources (JSON), and how many; the read is audited as ``actor``."""
    facts = await source.eob_facts(
        request.member_id,
        request.date_from,
        request.date_to,
        claims_max=EOB_CLAIMS_MAX,
        actor=actor,
    )
    bundle = eob.bundle(facts.member, facts.claims, generated_at=generated_at)
    return eob.fhir_json(bundle), len(facts.claims)


class AdminCredentials:
    """Bearer tokens for the admin interface, each naming the operator it belongs to."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = dict(tokens)  # token → operator

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def operator(self, authorization: str | None) -> str:
        """The operator for an ``authorization`` header value, or Unauthenticated."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and token:
            for known, name in self._tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return name
        raise Unauthenticated("admin calls need 'authorization: Bearer <token>'")
