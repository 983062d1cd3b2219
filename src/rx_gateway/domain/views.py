"""The read-only view of a member's benefits on a date (GetBenefits)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rx_gateway.domain.cost_share import remaining
from rx_gateway.domain.member import Coverage, MemberState
from rx_gateway.domain.reference import Plan, ReferenceSnapshot


@dataclass(frozen=True, slots=True)
class AccumulatorLine:
    kind: str
    level: str
    limit_cents: int | None
    met_cents: int

    @property
    def remaining_cents(self) -> int:
        return remaining(self.limit_cents, self.met_cents) or 0


@dataclass(frozen=True, slots=True)
class BenefitView:
    """What a member has on a date: the spans, the plan in force, its accumulators."""

    coverages: tuple[tuple[Coverage, bool], ...]
    plan: Plan | None
    plan_year_start: dt.date | None
    accumulators: tuple[AccumulatorLine, ...]


def benefit_view(state: MemberState, snapshot: ReferenceSnapshot, as_of: dt.date) -> BenefitView:
    """The member's coverage spans (flagged when in force), and for the plan in force every
    accumulator with its limit: deductible and out-of-pocket, individual and family."""
    spans = tuple((c, c.covers(as_of)) for c in state.coverages)
    active = next((c for c, in_force in spans if in_force and c.plan_id in snapshot.plans), None)
    if active is None:
        return BenefitView(spans, None, None, ())
    plan = snapshot.plans[active.plan_id]
    limits = plan.limits(active.level)
    year = plan.plan_year_start(as_of)
    met = state.accumulators_for(plan.plan_id, year)
    lines = (
        AccumulatorLine(
            "deductible",
            "individual",
            limits.deductible_individual_cents,
            met.deductible_individual_cents,
        ),
        AccumulatorLine(
            "deductible", "family", limits.deductible_family_cents, met.deductible_family_cents
        ),
        AccumulatorLine(
            "out_of_pocket",
            "individual",
            limits.out_of_pocket_individual_cents,
            met.out_of_pocket_individual_cents,
        ),
        AccumulatorLine(
            "out_of_pocket",
            "family",
            limits.out_of_pocket_family_cents,
            met.out_of_pocket_family_cents,
        ),
    )
    return BenefitView(spans, plan, year, lines)
