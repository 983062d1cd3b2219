"""The search over arrival rates: the mode's steps, stepping up until the gateway misses,
then (full mode) bisecting the last gap; where to measure the floor open loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from rx_gateway.tools.bench.meter import RateResult
from rx_gateway.tools.bench.options import BenchOptions

# After a missed step: every call of a step has completed or hit its deadline before the step
# returns (no backlog is carried over); this lets the server finish what the deadlines cancelled.
SETTLE_S = 0.5


@dataclass(frozen=True)
class StepPlan:
    rates: tuple[int, ...]
    seconds: float  # per rate step
    floor_seconds: float
    bisections: int
    capacity_seconds: float


def step_plan(options: BenchOptions) -> StepPlan:
    if options.quick:
        plan = StepPlan((50, 100, 200, 300, 400, 600, 800, 1_000), 4.0, 2.0, 0, 3.0)
    else:
        plan = StepPlan((50, *range(100, 1_600, 100)), 10.0, 5.0, 3, 5.0)
    seconds = options.seconds or plan.seconds
    return StepPlan(
        options.rates or plan.rates,
        seconds,
        options.floor_seconds or plan.floor_seconds,
        plan.bisections,
        min(plan.capacity_seconds, seconds),
    )


def print_result(result: RateResult) -> None:
    print(json.dumps(asdict(result)), flush=True)


async def search(
    step: Callable[[int], Awaitable[RateResult]], rates: tuple[int, ...], bisections: int
) -> list[RateResult]:
    """Step up the rates until two have missed p99 <= 10 ms and the last also missed p90 <= 10
    ms. Full mode then bisects the last p99 gap."""
    results: list[RateResult] = []
    misses = 0
    for rate in rates:
        result = await step(rate)
        results.append(result)
        print_result(result)
        if not result.holds_target:
            misses += 1
            await asyncio.sleep(SETTLE_S)
            if misses >= 2 and not result.holds_p90:
                break
    passing = [r.offered_per_s for r in results if r.holds_target]
    failing = [r.offered_per_s for r in results if not r.holds_target]
    low = max(passing, default=0)
    high = min((f for f in failing if f > low), default=0)
    for _ in range(bisections):
        if not high or high - low <= 20:
            break
        middle = (low + high) // 2
        result = await step(middle)
        results.append(result)
        print_result(result)
        if result.holds_target:
            low = middle
        else:
            high = middle
            await asyncio.sleep(SETTLE_S)
    return results


def floor_rates(searched: list[RateResult]) -> list[int]:
    """Where to measure the floor open loop: the first rate the gateway missed (its highest,
    if it missed none) and 1,000/s. Does the bare stack itself hold p99 there?"""
    missed = sorted(r.offered_per_s for r in searched if not r.holds_target)
    return sorted({missed[0] if missed else max(r.offered_per_s for r in searched), 1_000})
