"""Rewards for lower-cost choices: a plan's incentive programs (``Plan.rewards``) credit a
member's purse when a paid fill makes the choice a program rewards (e.g. a maintenance drug
moved to a 90-day mail fill), at most so many times per member per plan year.

Pure: the claim's write posts each reward as its own balanced entry in the same transaction
(debit ``incentive_funding:{sponsor}``, credit ``purse:{id}``), and a reversal mirrors it.
The cap counts the member's rewards on paid, unreversed claims (``MemberState.rewards``), so a
reversal gives the reward back to the count as well as taking it back from the purse.
"""

from __future__ import annotations

import datetime as dt

from rx_gateway.domain.member import MemberState
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.outcome import RewardLine
from rx_gateway.domain.reference import Drug, PharmacyNetwork, Plan


def earn_rewards(
    plan: Plan,
    drug: Drug,
    tier: int,
    pharmacy_kind: str,
    network: PharmacyNetwork,
    days_supply: int,
    date_of_service: dt.date,
    state: MemberState,
) -> tuple[tuple[RewardLine, ...], list[str]]:
    """The rewards a paid fill earns, and the rule trace of every program it was weighed for."""
    lines: list[RewardLine] = []
    trace: list[str] = []
    year = plan.plan_year_start(date_of_service)
    for program in plan.rewards:
        why = program.refusal(
            drug_group=drug.drug_group,
            is_brand=drug.is_brand,
            tier=tier,
            pharmacy_kind=pharmacy_kind,
            network=network,
            days_supply=days_supply,
        )
        if why is not None:
            trace.append(f"reward {program.program_id}: {why}")
            continue
        earned = sum(
            1
            for r in state.rewards
            if r.program_id == program.program_id and r.plan_year_start == year
        )
        if earned >= program.per_year_max:
            trace.append(
                f"reward {program.program_id}: {program.per_year_max} per plan year already earned"
            )
            continue
        purse = next((p for p in state.purses if p.kind == program.purse_kind), None)
        if purse is None:
            trace.append(f"reward {program.program_id}: no {program.purse_kind} purse")
            continue
        lines.append(
            RewardLine(
                program.program_id,
                purse.purse_id,
                purse.kind,
                program.amount_cents,
                year.strftime("%Y%m%d"),
                earned + 1,
            )
        )
        trace.append(
            f"reward {program.program_id}: {format_cents(program.amount_cents)} to"
            f" {program.purse_kind} ({earned + 1} of {program.per_year_max} this plan year)"
        )
    return tuple(lines), trace


def reward_message(line: RewardLine) -> str:
    """The response's words for a reward (526-FQ)."""
    return (
        f"Reward {line.program_id}: {format_cents(line.amount_cents)} credited to your"
        f" {line.purse_kind} for a lower-cost choice"
    )


def quoted_reward_message(line: RewardLine) -> str:
    """A price check's words for the reward the claim would earn: nothing is credited yet."""
    return (
        f"Reward {line.program_id}: {format_cents(line.amount_cents)} would be credited to"
        f" your {line.purse_kind} for this lower-cost choice when the claim is paid"
    )
