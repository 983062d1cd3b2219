"""The search over arrival rates: the mode's steps, stepping up until a server misses, then
bisecting the last gap (quick and full mode alike); where to measure the floor open loop.
Several servers (the gateway and the claim-shaped floor) are searched together, their steps
interleaved rate by rate, so that a slow window of the machine falls on both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
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
    overload_seconds: float  # the gateway offered twice its hot capacity, open loop


def step_plan(options: BenchOptions) -> StepPlan:
    if options.quick:
        plan = StepPlan((50, 100, 200, 300, 400, 600, 800, 1_000), 4.0, 2.0, 2, 3.0, 4.0)
    else:
        plan = StepPlan((50, *range(100, 1_600, 100)), 10.0, 5.0, 3, 5.0, 10.0)
    seconds = options.seconds or plan.seconds
    return StepPlan(
        options.rates or plan.rates,
        seconds,
        options.floor_seconds or plan.floor_seconds,
        plan.bisections,
        min(plan.capacity_seconds, seconds),
        min(plan.overload_seconds, seconds),
    )


def print_result(result: RateResult) -> None:
    print(json.dumps(asdict(result)), flush=True)


Step = Callable[[int], Awaitable[RateResult]]
BISECTION_GAP_MIN = 20  # claims/s: a gap this narrow is not bisected further


class RateSearch:
    """One server's search (pure: it says which rate to run next and learns from each result).

    Step up the rates until two have missed p99 <= 10 ms and the last also missed p90 <= 10 ms
    (or the rates run out). Then bisect the gap between the highest rate that held and the
    lowest rate above it that missed, ``bisections`` times at most, until it is
    BISECTION_GAP_MIN or narrower."""

    def __init__(self, rates: Sequence[int], bisections: int) -> None:
        self.rates = tuple(rates)
        self.bisections_left = bisections
        self.results: list[RateResult] = []
        self._next_step = 0  # index into rates; len(rates) once stepping is over
        self._misses = 0

    def bracket(self) -> tuple[int, int]:
        """(highest rate that held, lowest rate above it that missed; 0 if none missed)."""
        passing = [r.offered_per_s for r in self.results if r.holds_target]
        failing = [r.offered_per_s for r in self.results if not r.holds_target]
        low = max(passing, default=0)
        return low, min((f for f in failing if f > low), default=0)

    def next_rate(self) -> int | None:
        if self._next_step < len(self.rates):
            return self.rates[self._next_step]
        low, high = self.bracket()
        if self.bisections_left <= 0 or not high or high - low <= BISECTION_GAP_MIN:
            return None
        return (low + high) // 2

    def record(self, result: RateResult) -> None:
        self.results.append(result)
        if self._next_step >= len(self.rates):
            self.bisections_left -= 1
            return
        self._next_step += 1
        if not result.holds_target:
            self._misses += 1
            if self._misses >= 2 and not result.holds_p90:
                self._next_step = len(self.rates)


async def search_together(
    steps: Sequence[Step], rates: tuple[int, ...], bisections: int, settle_s: float = SETTLE_S
) -> list[list[RateResult]]:
    """Each step function's RateSearch, run in rounds: every search that has a rate left runs
    one step per round, in order. After a missed step, ``settle_s`` for the server to finish
    what the deadlines cancelled. The results, one list per step function."""
    searches = [RateSearch(rates, bisections) for _ in steps]
    while True:
        ran = False
        for run_step, state in zip(steps, searches, strict=True):
            rate = state.next_rate()
            if rate is None:
                continue
            ran = True
            result = await run_step(rate)
            state.record(result)
            print_result(result)
            if not result.holds_target and settle_s:
                await asyncio.sleep(settle_s)
        if not ran:
            return [state.results for state in searches]


async def search(step: Step, rates: tuple[int, ...], bisections: int) -> list[RateResult]:
    """One server's search (see RateSearch)."""
    return (await search_together([step], rates, bisections))[0]


def floor_rates(searched: list[RateResult]) -> list[int]:
    """Where to measure the floor open loop: the first rate the gateway missed (its highest,
    if it missed none) and 1,000/s. Does the bare stack itself hold p99 there?"""
    missed = sorted(r.offered_per_s for r in searched if not r.holds_target)
    return sorted({missed[0] if missed else max(r.offered_per_s for r in searched), 1_000})
