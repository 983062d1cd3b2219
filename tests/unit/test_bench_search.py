"""The benchmark's rate search (pure): step up until two misses and a p90 miss, then bisect the
last gap, in quick mode as in full; several servers searched together, steps interleaved."""

from __future__ import annotations

from rx_gateway.tools.bench.meter import RateResult
from rx_gateway.tools.bench.options import BenchOptions
from rx_gateway.tools.bench.search import RateSearch, search_together, step_plan


def result(rate: int, *, p99: float, p90: float = 5.0, errors: int = 0) -> RateResult:
    return RateResult("hot", rate, 1.0, rate, rate, float(rate), 1.0, p90, p99, p99, p99, errors)


def holds_up_to(limit: int, rate: int) -> RateResult:
    """A server that holds p99 <= 10 ms up to ``limit`` claims/s, and p90 up to twice that."""
    return result(rate, p99=5.0 if rate <= limit else 50.0, p90=5.0 if rate <= 2 * limit else 20.0)


def run(search: RateSearch, limit: int) -> list[int]:
    ran = []
    while (rate := search.next_rate()) is not None:
        ran.append(rate)
        search.record(holds_up_to(limit, rate))
    return ran


def test_quick_mode_bisects_too() -> None:
    assert step_plan(BenchOptions(quick=True)).bisections >= 2
    assert step_plan(BenchOptions()).bisections >= 2


def test_steps_up_until_two_misses_and_a_p90_miss_then_bisects_the_gap() -> None:
    search = RateSearch((50, 100, 200, 300, 400, 600, 800), bisections=3)
    # 300 misses p99, 400 misses p99 but holds p90 (<= 500), 600 misses both: stepping stops;
    # then 250 holds, 275 misses, 262 misses
    assert run(search, 250) == [50, 100, 200, 300, 400, 600, 250, 275, 262]
    assert search.bracket() == (250, 262)


def test_bisections_bounded_by_the_count_and_by_a_narrow_gap() -> None:
    # 300 misses p99 and p90 (> 260): the second miss stops the steps
    assert run(RateSearch((100, 200, 300, 400), bisections=1), 130) == [100, 200, 300, 150]
    # the gap 100-120 is 20 wide: nothing to bisect
    assert run(RateSearch((100, 120, 140, 160, 400), bisections=3), 100) == [
        100,
        120,
        140,
        160,
        400,
    ]


def test_no_rate_held_bisects_below_the_first() -> None:
    search = RateSearch((50, 100, 200), bisections=2)
    assert run(search, 0) == [50, 100, 25, 12]
    assert search.bracket() == (0, 12)


def test_every_rate_held_nothing_to_bisect() -> None:
    assert run(RateSearch((50, 100), bisections=3), 1_000) == [50, 100]


def test_errors_are_a_miss() -> None:
    search = RateSearch((50, 100), bisections=0)
    search.record(result(50, p99=1.0, errors=1))
    assert search.bracket() == (0, 50)


async def test_servers_searched_together_interleave_and_stop_on_their_own() -> None:
    order: list[tuple[str, int]] = []

    def stepper(name: str, limit: int):
        async def step(rate: int) -> RateResult:
            order.append((name, rate))
            return holds_up_to(limit, rate)

        return step

    gateway, floor = await search_together(
        [stepper("gateway", 100), stepper("floor", 300)],
        (100, 200, 400, 800),
        bisections=1,
        settle_s=0,
    )
    assert order[:4] == [("gateway", 100), ("floor", 100), ("gateway", 200), ("floor", 200)]
    assert [r.offered_per_s for r in gateway] == [100, 200, 400, 150]
    assert [r.offered_per_s for r in floor] == [100, 200, 400, 800, 300]
