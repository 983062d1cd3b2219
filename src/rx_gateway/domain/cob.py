"""Coordination of benefits: who pays first, what a secondary claim carries, and what this plan
pays after the others.

A member may hold several coverages at once, each with a payer order (1 primary, 2 secondary
...): the plans this gateway processes (coverage rows) and plans it does not (other coverage,
e.g. from a Medicaid third-party-liability file). Medicaid always pays last, whatever the
orders say. A claim to a plan with a payer ahead of it must come as a secondary claim: 308-C8
other coverage code and the COB/Other Payments segment (AM05), one occurrence per other payer:

    338-5C coverage type · 339-6C / 340-7C payer ID qualifier and ID · 443-E8 date
    341-HB count, then 342-HC qualifier / 431-DV amount paid (OPAP)
    471-5E count, then 472-6E the other payer's reject codes
    353-NR count, then 351-NP qualifier / 352-NQ patient responsibility (OPPRA)

The plan's COB method decides what it pays (shared/reference/switch-claims.md section 2):

- standard: the lesser of (allowed − what the others paid) and what the plan would pay alone;
- non_duplication: the lesser of (allowed − others) and (what it would pay alone − others):
  the member pays at least what they would have paid with this plan alone;
- patient_responsibility (Medicaid): the lesser of the patient responsibility the other payers
  left (the last one's OPPRA, less what later payers paid; without one, as standard) and
  what is left of the allowed amount, up to what the plan would pay alone.

566-J5 (other payer amount recognized) is what the others are taken to have covered (their
payments, and under a patient responsibility their contract's adjustment too), so that
509-F9 = F6 + F7 + additional − F5 − J5 holds on every response.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from rx_gateway.domain.checks import fail
from rx_gateway.domain.claim import ClaimRequest
from rx_gateway.domain.cost_share import ShareBreakdown
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.member import Coverage, MemberState
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.other_payments import (
    DENIED_CODES,
    NO_OTHER_COVERAGE,
    NOT_SPECIFIED,
    PATIENT_RESPONSIBILITY_ONLY,
    SECONDARY_CODES,
    OtherPayer,
    OtherPayment,
)
from rx_gateway.domain.reference import CobMethod, Plan, ReferenceSnapshot
from rx_gateway.domain.rejects import Reject, RejectCode
from rx_gateway.domain.values import format_ccyymmdd

MEDICAID = "MEDICAID"  # the line of business that pays last
PAYERS_AHEAD_MAX = 9  # 338-5C names the first nine (01-09)
# 522-FM 14: paid on the other payer's patient responsibility amount
BASIS_OTHER_PAYER_RESPONSIBILITY = "14"


# The other payer's rejects a pharmacy can resolve with that payer: a claim they rejected with
# one of these (308-C8 3) is not this plan's to pay yet (41), with what to do about it.
CURABLE_REJECTS = {
    "75": "ask the other payer for a prior authorization",
    "76": "bill within the other payer's plan limits",
    "79": "wait until the other payer's refill date",
    "88": "answer the other payer's DUR edit",
    "7X": "bill within the other payer's days supply limit",
    "9G": "bill within the other payer's quantity limit",
    "AG": "bill within the other payer's days supply limit",
    "AJ": "dispense the generic the other payer requires",
    "608": "try the drug the other payer's step therapy requires first",
}


def _order(payer_order: int, line_of_business: str) -> tuple[bool, int]:
    """Who pays first: Medicaid always last, then by payer order."""
    return (line_of_business == MEDICAID, payer_order)


def payers_ahead(
    coverage: Coverage, plan: Plan, state: MemberState, snapshot: ReferenceSnapshot, on: dt.date
) -> tuple[OtherPayer, ...]:
    """The payers that pay before ``coverage`` on the date of service, first payer first: the
    member's other coverages (this gateway's plans and others'), in force on that date, that
    come earlier in the payer order (Medicaid never does: it pays last)."""
    mine = _order(coverage.payer_order, plan.line_of_business)
    ahead: list[tuple[tuple[bool, int], OtherPayer]] = []
    member = state.member
    for other in state.coverages:
        key = _order(other.payer_order, other.line_of_business)
        other_plan = snapshot.plans.get(other.plan_id)
        if other is coverage or other_plan is None or not other.covers(on) or not key < mine:
            continue
        ahead.append(
            (
                key,
                OtherPayer(
                    coverage_type="",
                    payer_id=other_plan.bin,
                    processor_control_number=other_plan.pcn,
                    cardholder_id=member.cardholder_id,
                    group_id=other.group_id,
                    person_code=member.person_code,
                    help_desk_phone="",
                    effective_date=format_ccyymmdd(other.start),
                    termination_date=format_ccyymmdd(other.end) if other.end else "",
                    name=other_plan.name,
                ),
            )
        )
    for external in state.other_coverages:
        key = _order(external.payer_order, "")
        if not external.covers(on) or not key < mine:
            continue
        ahead.append(
            (
                key,
                OtherPayer(
                    coverage_type="",
                    payer_id=external.bin,
                    processor_control_number=external.processor_control_number,
                    cardholder_id=external.cardholder_id,
                    group_id=external.group_id,
                    person_code=external.person_code,
                    help_desk_phone=external.help_desk_phone,
                    effective_date=format_ccyymmdd(external.start),
                    termination_date=format_ccyymmdd(external.end) if external.end else "",
                    name=external.payer_name,
                ),
            )
        )
    ahead.sort(key=lambda pair: pair[0])
    return tuple(
        replace(payer, coverage_type=f"{position:02d}")
        for position, (_, payer) in enumerate(ahead[:PAYERS_AHEAD_MAX], start=1)
    )


def check_cob(
    request: ClaimRequest,
    plan: Plan,
    coverage: Coverage,
    state: MemberState,
    snapshot: ReferenceSnapshot,
) -> tuple[OtherPayer, ...]:
    """The COB group: a claim billed before a payer ahead of this plan is 41, with those
    payers in the response; so is one the other payer rejected for a reason the pharmacy can
    resolve there (308-C8 3, 5 or 6 with such a 472-6E). Returns the payers ahead."""
    ahead = payers_ahead(coverage, plan, state, snapshot, request.service_date)
    code = request.other_coverage_code
    if ahead and code in (NOT_SPECIFIED, NO_OTHER_COVERAGE):
        first = ahead[0]
        fail(
            "cob",
            [
                Reject(
                    RejectCode.SUBMIT_TO_OTHER_PAYER,
                    f"Bill {first.name} (BIN {first.payer_id}, PCN"
                    f" {first.processor_control_number or 'none'}) first: it pays before this"
                    " plan; then send 308-C8 and the COB segment",
                )
            ],
            other_payers=ahead,
        )
    if code in DENIED_CODES:
        for payment in request.other_payments:
            for reject in payment.reject_codes:
                if reject in CURABLE_REJECTS:
                    fail(
                        "cob",
                        [
                            Reject(
                                RejectCode.SUBMIT_TO_OTHER_PAYER,
                                f"The other payer's reject {reject} can be resolved there:"
                                f" {CURABLE_REJECTS[reject]}, then bill it again",
                            )
                        ],
                        other_payers=ahead,
                    )
    return ahead


@dataclass(frozen=True, slots=True)
class Coordination:
    """What the other payers are taken to have paid (566-J5) and what is left to the member
    (before purses) once this plan has paid its part."""

    other_payer_amount_recognized_cents: int
    member_cents: int


def coordinate(
    method: CobMethod,
    other_coverage_code: int,
    payments: tuple[OtherPayment, ...],
    *,
    allowed_cents: int,
    member_alone_cents: int,
) -> Coordination | Reject:
    """This plan's part of a secondary claim (308-C8 2, 4 or 8), or 74 when the others left
    nothing to pay. Any other code: a primary claim (nothing recognized, the member's share as
    the plan alone sets it). ``member_alone_cents``: the member's share with this plan alone."""
    if other_coverage_code not in SECONDARY_CODES:
        return Coordination(0, member_alone_cents)
    paid = min(sum(p.paid_cents for p in payments), allowed_cents)
    left = responsibility_left(payments)
    if other_coverage_code == PATIENT_RESPONSIBILITY_ONLY or (
        method is CobMethod.PATIENT_RESPONSIBILITY and left is not None
    ):
        # the lesser of what the patient was left and what the others left of this plan's
        # allowed amount
        recognized = allowed_cents - max(0, min(left or 0, allowed_cents - paid))
    else:
        recognized = paid
    gap = allowed_cents - recognized
    if gap == 0:
        return Reject(
            RejectCode.OTHER_PAYMENT_MEETS_PAYABLE,
            f"The other payers left nothing to pay: {format_cents(recognized)} recognized of"
            f" this plan's allowed {format_cents(allowed_cents)}",
        )
    alone = allowed_cents - member_alone_cents
    pays = min(gap, max(0, alone - recognized) if method is CobMethod.NON_DUPLICATION else alone)
    return Coordination(recognized, gap - pays)


def responsibility_left(payments: tuple[OtherPayment, ...]) -> int | None:
    """What the other payers left the patient: the patient responsibility reported by the
    last payer that reported one (in the payer order, 338-5C), less what the payers after it
    paid; None when no payer reported one."""
    ordered = sorted(payments, key=lambda p: p.coverage_type)
    reported = [i for i, p in enumerate(ordered) if p.patient_responsibility_cents is not None]
    if not reported:
        return None
    last = reported[-1]
    left = ordered[last].patient_responsibility_cents or 0
    return max(0, left - sum(p.paid_cents for p in ordered[last + 1 :]))


def member_paid(
    share: ShareBreakdown, tax_cents: int, paid_cents: int
) -> tuple[ShareBreakdown, int]:
    """The member's share when, after the other payers, they owe ``paid_cents`` of it: the
    amount goes to the parts in order (deductible, coinsurance, copay, network, non-preferred,
    brand, tax), so the accumulators count what the member paid. Returns the share and tax."""
    parts = [
        share.deductible_cents,
        share.coinsurance_cents,
        share.copay_cents,
        share.network_cents,
        share.non_preferred_cents,
        share.brand_penalty_cents,
        tax_cents,
    ]
    left = paid_cents
    kept = []
    for amount in parts:
        take = min(amount, left)
        kept.append(take)
        left -= take
    if left:
        msg = f"the member owes {paid_cents}, more than their share {sum(parts)}"
        raise InvariantViolation(msg)
    deductible, coinsurance, copay, network, non_preferred, brand, tax = kept
    return (
        replace(
            share,
            deductible_cents=deductible,
            coinsurance_cents=coinsurance,
            copay_cents=copay,
            network_cents=network,
            non_preferred_cents=non_preferred,
            brand_penalty_cents=brand,
        ),
        tax,
    )
