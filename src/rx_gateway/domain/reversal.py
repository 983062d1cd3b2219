"""B2 reversal: the mirror of a paid claim, or the answer when there is nothing to mirror (84,
a patient that does not match: 52/53, a repeated reversal: S)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rx_gateway.domain.accumulators import (
    accumulated_deductible,
    accumulator_view,
    apply_moves,
    remaining_deductible,
)
from rx_gateway.domain.claim import ReversalRequest
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.ledger import AccumulatorMove, JournalEntry, PurseMove
from rx_gateway.domain.member import Accumulators, PurseState, same_person_code
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.outcome import ClaimResponse, PurseLine, ResponseStatus, rejected
from rx_gateway.domain.reference import CoverageLevel, Plan
from rx_gateway.domain.rejects import Reject, RejectCode, ordered
from rx_gateway.domain.syntax import validate_reversal
from rx_gateway.domain.values import parse_ccyymmdd


@dataclass(frozen=True, slots=True)
class StoredClaim:
    """The latest claim the ledger holds under a claim key. A duplicate check needs its
    digest, response and whether it was reversed; a reversal also needs what it mirrors (its
    entry, purse and accumulator moves) and whom it was for."""

    claim_id: int
    response: ClaimResponse
    request_hash: str = ""
    reversed: bool = False
    entry: JournalEntry = field(default_factory=lambda: JournalEntry(()))
    purse_moves: tuple[PurseMove, ...] = ()
    accumulator_moves: tuple[AccumulatorMove, ...] = ()
    product_id: str = ""
    member_id: str = ""
    family_id: str = ""
    reversal_response: ClaimResponse | None = None
    accumulators_now: Accumulators = field(default_factory=Accumulators)
    cardholder_id: str = ""
    person_code: str = ""
    # the family's purses as they are when the reversal reads the claim (available: posted plus
    # allotments due by the claim's date of service), and the member's class (whose benefit
    # stack 128-UC sums): the reversal answers the balances after it
    purses_now: tuple[PurseState, ...] = ()
    class_code: str = ""
    # the family's version when the reversal read it: the write refuses a family changed
    # since (the answer's balances would be stale) and the reversal is read again
    family_version: int | None = None


@dataclass(frozen=True, slots=True)
class Reversal:
    response: ClaimResponse
    entry: JournalEntry
    purse_moves: tuple[PurseMove, ...]
    accumulator_moves: tuple[AccumulatorMove, ...]


def _reversal_member_mismatch(request: ReversalRequest, stored: StoredClaim) -> list[Reject]:
    """The B2's optional insurance segment, when sent, must name the claim's patient."""
    rejects = []
    if request.cardholder_id and request.cardholder_id != stored.cardholder_id:
        rejects.append(
            Reject(
                RejectCode.NON_MATCHED_CARDHOLDER,
                "Cardholder ID (302-C2) does not match the paid claim",
            )
        )
    elif request.person_code and not same_person_code(request.person_code, stored.person_code):
        rejects.append(
            Reject(
                RejectCode.NON_MATCHED_PERSON_CODE,
                "Person code (303-C3) does not match the paid claim",
            )
        )
    return rejects


def reverse(
    request: ReversalRequest,
    stored: StoredClaim | None,
    plan: Plan | None,
    *,
    authorization_number: str,
) -> Reversal | ClaimResponse:
    """B2: a mirror of the paid claim, or an answer (reject, or S for a repeated reversal),
    the syntax checked first."""
    syntax = validate_reversal(request)
    if syntax:
        return rejected(
            ordered(syntax), prescription_reference_number=request.prescription_reference_number
        )
    return reverse_checked(request, stored, plan, authorization_number=authorization_number)


def reverse_checked(
    request: ReversalRequest,
    stored: StoredClaim | None,
    plan: Plan | None,
    *,
    authorization_number: str,
) -> Reversal | ClaimResponse:
    """B2 for a request that passed its syntax checks (the claim path checks it once, before
    it reads the stored claim)."""
    if stored is None or (request.product_id and request.product_id != stored.product_id):
        return rejected(
            (Reject(RejectCode.CLAIM_NOT_PAID, "No paid claim matches this reversal"),),
            prescription_reference_number=request.prescription_reference_number,
        )
    mismatch = _reversal_member_mismatch(request, stored)
    if mismatch:
        return rejected(
            tuple(mismatch), prescription_reference_number=request.prescription_reference_number
        )
    if stored.reversal_response is not None:
        return stored.reversal_response.as_status(ResponseStatus.DUPLICATE_OF_APPROVED)
    original = stored.response
    if original.pricing is None or plan is None:
        msg = "a paid claim must carry pricing and a known plan"
        raise InvariantViolation(msg)
    accumulator_moves = tuple(m.negated() for m in stored.accumulator_moves)
    after = apply_moves(stored.accumulators_now, accumulator_moves)
    year = parse_ccyymmdd(original.accumulators.plan_year) if original.accumulators else None
    if year is None or original.accumulators is None:
        msg = "a paid claim must carry its plan year"
        raise InvariantViolation(msg)
    level = CoverageLevel(original.accumulators.coverage_level)
    limits = plan.limits(level)
    # A reward the claim credited is taken back with it (the write mirrors its entry), and
    # no longer counts toward its program's cap.
    rewards = tuple(
        replace(r, amount_cents=-r.amount_cents, earned_this_year=r.earned_this_year - 1)
        for r in original.rewards
    )
    after_reversal = _available_after(stored)
    response = ClaimResponse(
        transaction_response_status=ResponseStatus.APPROVED,
        authorization_number=authorization_number,
        message="Reversal accepted",
        additional_messages=tuple(
            f"Reward {r.program_id}: {format_cents(-r.amount_cents)} taken back" for r in rewards
        ),
        rewards=rewards,
        pricing=replace(
            original.pricing.negated(),
            accumulated_deductible_amount_cents=accumulated_deductible(limits, after),
            remaining_deductible_amount_cents=remaining_deductible(limits, after),
            spending_account_amount_remaining_cents=_spending_account_after(
                plan,
                stored,
                after_reversal,
                original.pricing.spending_account_amount_remaining_cents,
            ),
        ),
        purses=_restored_purses(stored, after_reversal),
        accumulators=accumulator_view(limits, level, year, after),
        internal_control_number=original.internal_control_number,
        plan_id=original.plan_id,
        reference_data_version=original.reference_data_version,
        rule_trace=("reversal: mirror of the original entry",),
        prescription_reference_number=original.prescription_reference_number,
    )
    return Reversal(
        response=response,
        entry=stored.entry.mirror(),
        purse_moves=tuple(PurseMove(m.purse_id, -m.amount_cents) for m in stored.purse_moves),
        accumulator_moves=accumulator_moves,
    )


def _available_after(stored: StoredClaim) -> dict[str, int]:
    """What each of the family's purses has available once the reversal is posted, as
    rx_post_reversal posts it: what the claim paid comes back, then each reward it credited is
    taken back, never below zero (what the member already spent of a reward is recovered from
    the member, not the purse); allotments due stay as they were."""
    posted = {purse.purse_id: purse.posted_cents for purse in stored.purses_now}
    for line in stored.response.purses:
        if line.purse_id in posted:
            posted[line.purse_id] += line.paid_cents
    for reward in sorted(stored.response.rewards, key=lambda r: (r.purse_id, r.program_id)):
        if reward.purse_id in posted:
            posted[reward.purse_id] = max(0, posted[reward.purse_id] - reward.amount_cents)
    return {
        purse.purse_id: posted[purse.purse_id] + purse.available_cents - purse.posted_cents
        for purse in stored.purses_now
    }


def _restored_purses(stored: StoredClaim, after: dict[str, int]) -> tuple[PurseLine, ...]:
    """The reversal's purse lines: what each purse gets back, and what it has available after
    the reversal (its balance now, not the one the claim saw: other claims may have spent since).
    A stored claim read without the purses (older readers) answers from the claim's own view."""
    return tuple(
        PurseLine(
            line.purse_id,
            line.kind,
            -line.paid_cents,
            after.get(line.purse_id, line.available_cents + line.paid_cents),
        )
        for line in stored.response.purses
    )


def _spending_account_after(
    plan: Plan, stored: StoredClaim, after: dict[str, int], before: int | None
) -> int | None:
    """128-UC after the reversal: what the purses of the member's benefit stack hold once it
    is posted (None when the claim answered none: ``before``, the claim's 128-UC)."""
    if before is None or not stored.purses_now:
        return before
    kinds = {rule.kind for rule in plan.purse_rules_for(stored.class_code)}
    held = [after[purse.purse_id] for purse in stored.purses_now if purse.kind in kinds]
    return sum(held) if held else None
