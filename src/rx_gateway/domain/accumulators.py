"""Accumulators: the view a response carries (met and remaining, individual and family), the
deductible fields 512-FC/513-FD, the moves a paid claim makes and their application."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.cost_share import ShareBreakdown, remaining
from rx_gateway.domain.ledger import AccumulatorMove
from rx_gateway.domain.member import (
    AccumulatorKind,
    AccumulatorLevel,
    Accumulators,
    MemberState,
)
from rx_gateway.domain.outcome import AccumulatorView
from rx_gateway.domain.reference import CoverageLevel, Limits, Plan
from rx_gateway.domain.values import format_ccyymmdd


def accumulator_view(
    limits: Limits, level: CoverageLevel, plan_year_start: dt.date, acc: Accumulators
) -> AccumulatorView:
    left = remaining  # None: no limit at that level

    return AccumulatorView(
        plan_year=format_ccyymmdd(plan_year_start),
        deductible_individual_met_cents=acc.deductible_individual_cents,
        deductible_individual_remaining_cents=left(
            limits.deductible_individual_cents, acc.deductible_individual_cents
        ),
        deductible_family_met_cents=acc.deductible_family_cents,
        deductible_family_remaining_cents=left(
            limits.deductible_family_cents, acc.deductible_family_cents
        ),
        out_of_pocket_individual_met_cents=acc.out_of_pocket_individual_cents,
        out_of_pocket_individual_remaining_cents=left(
            limits.out_of_pocket_individual_cents, acc.out_of_pocket_individual_cents
        ),
        out_of_pocket_family_met_cents=acc.out_of_pocket_family_cents,
        out_of_pocket_family_remaining_cents=left(
            limits.out_of_pocket_family_cents, acc.out_of_pocket_family_cents
        ),
        coverage_level=level.value,
    )


def accumulated_deductible(limits: Limits, acc: Accumulators) -> int | None:
    """512-FC: what has been applied toward the deductible that applies to this member: the
    member's own when there is an individual deductible, else the family's (an aggregate
    family deductible); None when the plan has no deductible for this coverage."""
    if limits.deductible_individual_cents:
        return acc.deductible_individual_cents
    if limits.deductible_family_cents:
        return acc.deductible_family_cents
    return None


def remaining_deductible(limits: Limits, acc: Accumulators) -> int | None:
    """513-FD: the least of what is left of the deductibles that apply; None without one."""
    left = [
        value
        for limit, met in (
            (limits.deductible_individual_cents, acc.deductible_individual_cents),
            (limits.deductible_family_cents, acc.deductible_family_cents),
        )
        if limit
        for value in (max(0, limit - met),)
    ]
    return min(left) if left else None


def accumulator_moves(
    plan: Plan,
    plan_year_start: dt.date,
    state: MemberState,
    share: ShareBreakdown,
    *,
    not_out_of_pocket_cents: int = 0,
) -> tuple[AccumulatorMove, ...]:
    """The claim's moves: the deductible and the out-of-pocket it counts, less
    ``not_out_of_pocket_cents`` of the latter (what others paid of the member's share that the
    plan's out-of-pocket does not count: on Part D, an employer purse, PLRO, is not TrOOP)."""
    member, family = state.member.member_id, state.member.family_id
    out_of_pocket = max(0, share.counted_toward_out_of_pocket_cents - not_out_of_pocket_cents)
    moves = []
    for kind, amount in (
        (AccumulatorKind.DEDUCTIBLE, share.deductible_cents),
        (AccumulatorKind.OUT_OF_POCKET, out_of_pocket),
    ):
        if amount:
            for level, subject in (
                (AccumulatorLevel.INDIVIDUAL, member),
                (AccumulatorLevel.FAMILY, family),
            ):
                moves.append(
                    AccumulatorMove(level, subject, plan.plan_id, plan_year_start, kind, amount)
                )
    return tuple(moves)


def apply_moves(acc: Accumulators, moves: tuple[AccumulatorMove, ...]) -> Accumulators:
    values = {
        (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.DEDUCTIBLE): acc.deductible_individual_cents,
        (AccumulatorLevel.FAMILY, AccumulatorKind.DEDUCTIBLE): acc.deductible_family_cents,
        (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.OUT_OF_POCKET): (
            acc.out_of_pocket_individual_cents
        ),
        (AccumulatorLevel.FAMILY, AccumulatorKind.OUT_OF_POCKET): acc.out_of_pocket_family_cents,
    }
    for move in moves:
        values[(move.level, move.kind)] += move.amount_cents
    return Accumulators(
        deductible_individual_cents=values[
            (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.DEDUCTIBLE)
        ],
        deductible_family_cents=values[(AccumulatorLevel.FAMILY, AccumulatorKind.DEDUCTIBLE)],
        out_of_pocket_individual_cents=values[
            (AccumulatorLevel.INDIVIDUAL, AccumulatorKind.OUT_OF_POCKET)
        ],
        out_of_pocket_family_cents=values[(AccumulatorLevel.FAMILY, AccumulatorKind.OUT_OF_POCKET)],
    )
