"""Purse routing: the member's benefit stack spends their purses on their share, within each
rule's tiers, drug groups, networks, per-fill and per-period caps and fill counts."""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.member import MemberState
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.outcome import PurseLine
from rx_gateway.domain.reference import Drug, PharmacyNetwork, Plan, PurseRule


def _period_room(
    rule: PurseRule, plan: Plan, state: MemberState, purse_id: str, day: dt.date
) -> tuple[int | None, str]:
    """What a purse may still pay in the period holding ``day`` (None: no cap), or 0 with why."""
    if not rule.has_period_rules:
        return None, ""
    start = plan.period_start(rule.period, day)
    spends = [
        s
        for s in state.purse_spends
        if s.purse_id == purse_id and plan.period_start(rule.period, s.date_of_service) == start
    ]
    if rule.fills_per_period_max is not None and len(spends) >= rule.fills_per_period_max:
        return 0, f"{rule.fills_per_period_max} fills per {rule.period.value} already paid"
    if rule.per_period_max_cents is None:
        return None, ""
    room = max(0, rule.per_period_max_cents - sum(s.paid_cents for s in spends))
    cap = format_cents(rule.per_period_max_cents)
    return room, f"{cap} per {rule.period.value}, {format_cents(room)} left"


def route_purses(
    plan: Plan,
    tier: int,
    drug: Drug,
    state: MemberState,
    responsibility_cents: int,
    network: PharmacyNetwork,
    date_of_service: dt.date,
) -> tuple[list[PurseLine], list[str]]:
    """Spend the member's purses in the benefit stack of their class on their share."""
    lines: list[PurseLine] = []
    trace: list[str] = []
    left = responsibility_cents
    spent: dict[str, int] = {}
    for rule in plan.purse_rules_for(state.member.class_code):
        if left == 0:
            break
        refusal = rule.allows(tier, drug.drug_group, network)
        if refusal is not None:
            trace.append(f"purse {rule.kind}: {refusal}")
            continue
        for purse in state.purses:
            if purse.kind != rule.kind or left == 0:
                continue
            balance = purse.available_cents - spent.get(purse.purse_id, 0)
            pay = min(left, balance)
            if rule.per_fill_max_cents is not None:
                pay = min(pay, rule.per_fill_max_cents)
            room, why = _period_room(rule, plan, state, purse.purse_id, date_of_service)
            if room is not None:
                pay = min(pay, room)
                trace.append(f"purse {purse.kind}: {why}")
            if pay <= 0:
                continue
            spent[purse.purse_id] = spent.get(purse.purse_id, 0) + pay
            left -= pay
            lines.append(PurseLine(purse.purse_id, purse.kind, pay, balance - pay))
            trace.append(f"purse {purse.kind}: paid {format_cents(pay)}")
    return lines, trace


def spending_account_left(plan: Plan, state: MemberState, lines: list[PurseLine]) -> int | None:
    """128-UC: what the member's purses in their benefit stack hold after this claim, whether
    or not one paid; None when the member has no such purse."""
    kinds = {rule.kind for rule in plan.purse_rules_for(state.member.class_code)}
    spent = {line.purse_id: line.paid_cents for line in lines}
    held = [
        purse.available_cents - spent.get(purse.purse_id, 0)
        for purse in state.purses
        if purse.kind in kinds
    ]
    return sum(held) if held else None
