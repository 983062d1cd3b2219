"""The plan and eligibility groups (01/04, 52, 08, 06/51, 65/67/68/69), timely filing (81/82),
and the E1 eligibility check built from them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain import syntax as claim_rules
from rx_gateway.domain.accumulators import accumulator_view
from rx_gateway.domain.checks import CheckFailed, fail
from rx_gateway.domain.claim import EligibilityRequest
from rx_gateway.domain.member import Coverage, CoverageEndReason, MemberState
from rx_gateway.domain.outcome import AccumulatorView, ResponseStatus
from rx_gateway.domain.reference import Plan, ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode, ordered
from rx_gateway.domain.values import parse_ccyymmdd


def resolve_coverage(
    bin: str,
    pcn: str,
    group_id: str,
    date_of_service: dt.date,
    snapshot: ReferenceSnapshot,
    state: MemberState | None,
    person_code: str = "",
    *,
    group_required: bool = True,
) -> tuple[Plan, Coverage, MemberState]:
    """Plan (BIN/PCN) and eligibility groups: which coverage adjudicates this date of service,
    and the member's state (found). A claim must send its group (06 otherwise); an E1 may
    leave it out and learn it from the answer (301-C1), a group sent is checked either way."""
    plans = snapshot.plans_by_bin_pcn.get((bin, pcn))
    if not plans:
        code = RejectCode.MI_PCN if snapshot.known_bin(bin) else RejectCode.MI_BIN
        fail("plan", [Reject(code, "BIN/PCN is not processed by this gateway")])
    if state is None:
        fail(
            "eligibility",
            [Reject(RejectCode.NON_MATCHED_CARDHOLDER, "Cardholder ID and person code not found")],
        )
    if not group_id and group_required:
        fail("eligibility", [Reject(RejectCode.MI_GROUP_ID, "Group ID (301-C1) is required")])
    plan_ids = {p.plan_id for p in plans}
    spans = [c for c in state.coverages if c.plan_id in plan_ids]
    if not spans:
        fail(
            "eligibility",
            [Reject(RejectCode.PATIENT_NOT_COVERED, "No coverage under this BIN/PCN")],
        )
    active = [c for c in spans if c.covers(date_of_service)]
    if not active:
        ended = [c for c in spans if c.end is not None and c.end < date_of_service]
        if not ended:
            first = min(c.start for c in spans)
            reject = Reject(
                RejectCode.BEFORE_COVERAGE_EFFECTIVE,
                f"Coverage starts {first.isoformat()}",
            )
        else:
            last = max(ended, key=lambda c: c.end or dt.date.min)
            code = (
                RejectCode.AFTER_COVERAGE_TERMINATED
                if last.end_reason is CoverageEndReason.TERMINATED
                else RejectCode.AFTER_COVERAGE_EXPIRED
            )
            reject = Reject(code, f"Coverage ended {last.end}")
        fail("eligibility", [reject])
    coverage = active[0]
    if group_id and coverage.group_id != group_id:
        fail(
            "eligibility",
            [Reject(RejectCode.NON_MATCHED_GROUP, "Group ID does not match the member's coverage")],
        )
    plan = snapshot.plans[coverage.plan_id]
    if plan.person_code_required and not person_code:
        fail(
            "eligibility",
            [
                Reject(
                    RejectCode.MI_PERSON_CODE, "Person code (303-C3) is missing: the plan needs it"
                )
            ],
        )
    return plan, coverage, state


def check_patient(
    date_of_birth: str, gender_code: int, plan: Plan, state: MemberState, date_of_service: dt.date
) -> None:
    """304-C4 and 305-C5, when sent, must be the member's (09, 10): the person code names who
    is on the card, the date of birth and gender confirm it. A newborn (a date of birth within
    the plan's ``newborn_match_days`` before the date of service) billed on a parent's card is
    not matched."""
    born = parse_ccyymmdd(date_of_birth)
    if born is not None and 0 <= (date_of_service - born).days <= plan.newborn_match_days:
        return
    rejects = []
    if born is not None and born != state.member.date_of_birth:
        rejects.append(
            Reject(
                RejectCode.MI_DATE_OF_BIRTH,
                "Date of birth (304-C4) does not match the member's",
            )
        )
    if gender_code in (1, 2) and gender_code != state.member.gender_code:
        rejects.append(
            Reject(RejectCode.MI_GENDER, "Gender code (305-C5) does not match the member's")
        )
    if rejects:
        fail("eligibility", rejects)


def check_filing(date_of_service: dt.date, plan: Plan, business_date: dt.date) -> None:
    """82 for a date of service in the future; 81 past the plan's timely-filing window."""
    if date_of_service > business_date:
        fail(
            "filing",
            [Reject(RejectCode.CLAIM_POST_DATED, f"Date of service is after {business_date}")],
        )
    window = plan.timely_filing_days
    if window is not None and (business_date - date_of_service).days > window:
        fail(
            "filing",
            [
                Reject(
                    RejectCode.CLAIM_TOO_OLD,
                    f"Claims must be filed within {window} days of the date of service",
                )
            ],
        )


@dataclass(frozen=True, slots=True)
class Eligibility:
    transaction_response_status: ResponseStatus
    rejects: tuple[Reject, ...]
    plan: Plan | None = None
    coverage: Coverage | None = None
    accumulators: AccumulatorView | None = None

    @property
    def message(self) -> str:
        """504-F4: the first reject's message, or that the member is covered."""
        return self.rejects[0].message if self.rejects else "Member is covered"


def check_eligibility(
    request: EligibilityRequest, snapshot: ReferenceSnapshot, state: MemberState | None
) -> Eligibility:
    """E1: the syntax checks, then the plan and eligibility groups; approved (A) or rejected
    (R)."""
    syntax = claim_rules.validate_eligibility(request)
    if syntax:
        return Eligibility(ResponseStatus.REJECTED, ordered(syntax))
    return check_eligibility_checked(request, snapshot, state)


def check_eligibility_checked(
    request: EligibilityRequest, snapshot: ReferenceSnapshot, state: MemberState | None
) -> Eligibility:
    """E1 for a request that passed its syntax checks. A date of birth or gender that is not
    the member's answers 09 or 10, as a claim for that member would (check_patient)."""
    service_date = request.service_date
    try:
        plan, coverage, member_state = resolve_coverage(
            request.header.bin,
            request.header.processor_control_number,
            request.group_id,
            service_date,
            snapshot,
            state,
            request.person_code,
            group_required=False,
        )
        check_patient(request.date_of_birth, request.gender_code, plan, member_state, service_date)
    except CheckFailed as stop:
        return Eligibility(ResponseStatus.REJECTED, ordered(stop.rejects))
    year = plan.plan_year_start(service_date)
    view = accumulator_view(
        plan.limits(coverage.level),
        coverage.level,
        year,
        member_state.accumulators_for(plan.plan_id, year),
    )
    return Eligibility(ResponseStatus.APPROVED, (), plan, coverage, view)
