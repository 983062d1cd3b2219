"""`run_bench`: generate and load the data, start the gateway (its metrics on a listener of
its own), measure the bare floor, start the claim-shaped floor, search the rates for both
(interleaved), measure the bare floor open loop, the saturation of both (the hot-row check with
it), offer the gateway twice its capacity (overload), with `--front haproxy` measure HAProxy in
front of it (its capacity, the same overload), then write the report. The gateway's metrics are
scraped before and after each of its runs."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rx_gateway.bootstrap import Database
from rx_gateway.observability import scrape
from rx_gateway.tools.bench.load import SATURATION_CONCURRENCY, CommitFloor, Driver
from rx_gateway.tools.bench.meter import CpuMeter, RateResult, memory_mb
from rx_gateway.tools.bench.mix import Mix, Population, load_population
from rx_gateway.tools.bench.options import BenchOptions
from rx_gateway.tools.bench.report import write_report
from rx_gateway.tools.bench.search import (
    SETTLE_S,
    StepPlan,
    floor_rates,
    print_result,
    search_together,
    step_plan,
)
from rx_gateway.tools.bench.stack import (
    bench_database,
    floor_process,
    free_port,
    front_process,
    gateway_process,
    postmaster_pid,
    process_tree,
    worker_pids,
)
from rx_gateway.tools.bench.summary import (
    CAPACITY_FLOOR,
    CAPACITY_FRONT,
    CAPACITY_HOT,
    CAPACITY_NO_HOT,
    FLOOR_CLAIM,
    HOT,
    OVERLOAD,
    OVERLOAD_FRONT,
    add_deltas,
    mean_capacity,
    overload_rate,
    scrape_delta,
    step_metrics,
    summarize,
)
from rx_gateway.tools.synthetic.dataset import generate

WARM_UP_RATE = 100
WARM_UP_S = 2.0


@dataclass
class Side:
    """One server under test, as the load generator drives it: the gateway or the floor.
    ``metrics_url``: the server's Prometheus metrics (the gateway's), scraped before and after
    each of its runs; ``scrapes`` keeps each run's mix and what it added to the metrics."""

    driver: Driver
    meter: CpuMeter
    mix: Mix  # the claims of its rate steps and of its saturation runs
    label: str  # its steps' mix name in the results
    metrics_url: str | None = None
    scrapes: list[tuple[str, dict[str, float]]] = field(default_factory=list)

    async def step(self, rate: int, seconds: float, label: str | None = None) -> RateResult:
        return await self.scraped(
            self.driver.claims(self.mix, rate, seconds, self.meter, label or self.label)
        )

    async def capacity(
        self, mix: Mix, seconds: float, label: str, concurrency: int = SATURATION_CONCURRENCY
    ) -> RateResult:
        return await self.scraped(
            self.driver.capacity(mix, seconds, self.meter, label, concurrency)
        )

    async def warm_up(self, mix: Mix) -> None:
        await self.driver.claims(mix, WARM_UP_RATE, WARM_UP_S, self.meter, "warm-up")

    async def scraped(self, run: Awaitable[RateResult]) -> RateResult:
        """``run``'s result, with the batch sizes, pool waits and refusals its metrics say."""
        before = await self._scrape()
        result = await run
        after = await self._scrape()
        if before is None or after is None:
            return result
        delta = scrape_delta(before, after)
        self.scrapes.append((result.mix, delta))
        return replace(result, **asdict(step_metrics(delta)))

    async def _scrape(self) -> dict[str, float] | None:
        if self.metrics_url is None:
            return None
        try:
            return await asyncio.to_thread(scrape, self.metrics_url)
        except (OSError, ValueError) as error:  # the run goes on; its metrics columns stay empty
            print(f"bench: could not scrape {self.metrics_url}: {error}", file=sys.stderr)
            return None


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    plan = step_plan(options)
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-bench-"))
    began = time.perf_counter()
    results: list[RateResult] = []
    try:
        fixtures = generate(workdir / "data", members=options.members)
        async with bench_database(workdir) as dsn:
            database = Database(dsn)
            await database.migrate()
            await database.load(workdir / "data")
            population = load_population(workdir / "data", fixtures)
            postmaster = await postmaster_pid(dsn)
            port = free_port()
            metrics_port = free_port()
            with gateway_process(dsn, port, options.workers, workdir, metrics_port) as root:
                gateway = Side(
                    Driver(f"127.0.0.1:{port}"),
                    CpuMeter(
                        process_tree(root), postmaster, workers=worker_pids(root, options.workers)
                    ),
                    Mix(population, hot=True, seed=7, rx_start=10_000_000),
                    HOT,
                    metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                )
                try:
                    async with CommitFloor.open(dsn) as commit_floor:
                        echo = await gateway.driver.echo_saturation(plan.floor_seconds)
                        commit = await commit_floor.saturation(plan.floor_seconds)
                        await gateway.warm_up(
                            Mix(population, hot=True, seed=1, rx_start=90_000_000)
                        )
                        # a paid answer of the gateway's: the claim-shaped floor answers its size
                        sample = Mix(population, hot=False, seed=2, rx_start=95_000_000)
                        response = await gateway.driver.paid_response(sample)
                        floor_port = free_port()
                        with floor_process(
                            dsn, floor_port, options.workers, workdir, response
                        ) as floor_pids:
                            floor = Side(
                                Driver(f"127.0.0.1:{floor_port}"),
                                CpuMeter(floor_pids, postmaster, workers=floor_pids),
                                # the gateway's claims, less the reversals
                                Mix(
                                    population,
                                    hot=True,
                                    seed=7,
                                    rx_start=10_000_000,
                                    submits_only=True,
                                ),
                                FLOOR_CLAIM,
                            )
                            try:
                                await floor.warm_up(
                                    Mix(
                                        population,
                                        hot=True,
                                        seed=1,
                                        rx_start=90_000_000,
                                        submits_only=True,
                                    )
                                )
                                results += await _steps(gateway, floor, commit_floor, plan)
                                cold = Mix(population, hot=False, seed=8, rx_start=50_000_000)
                                results += await _saturation(gateway, floor, cold, plan)
                                results.append(await _overload(gateway, results, plan))
                            finally:
                                await floor.driver.close()
                        if options.front:
                            results += await _front(
                                gateway, population, (root, port), workdir, results, options
                            )
                finally:
                    await gateway.driver.close()
                peak_memory_mb = memory_mb(process_tree(root))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    at_1000 = next(r for r in results if r.mix == HOT and r.offered_per_s == 1_000)
    summary = summarize(
        results,
        echo=echo,
        commit=commit,
        at_1000=at_1000,
        peak_memory_mb=peak_memory_mb,
        workers=options.workers,
        quick=options.quick,
        capacity_metrics=add_deltas(d for mix, d in gateway.scrapes if mix == CAPACITY_HOT),
        front=(options.front_inflight, options.front_queue_ms) if options.front else None,
    )
    summary["duration_s"] = round(time.perf_counter() - began, 1)
    write_report(options.out, summary, results)
    return summary


async def _steps(
    gateway: Side, floor: Side, commit_floor: CommitFloor, plan: StepPlan
) -> list[RateResult]:
    """The open-loop rate steps: the gateway and the claim-shaped floor searched together
    (steps interleaved, the same rates, durations and generator), the gateway at 1,000/s if
    the search stopped before, then the bare floor (echo, commit) at floor_rates."""

    async def step(rate: int) -> RateResult:
        return await gateway.step(rate, plan.seconds)

    async def floor_step(rate: int) -> RateResult:
        return await floor.step(rate, plan.seconds)

    searched, floor_searched = await search_together(
        [step, floor_step], plan.rates, plan.bisections
    )
    results = searched + floor_searched
    if not any(r.offered_per_s == 1_000 for r in searched):
        results.append(await gateway.step(1_000, 2.0))
        await asyncio.sleep(SETTLE_S)
    for rate in floor_rates(searched):
        for measure in (gateway.driver.echo, commit_floor.at_rate):
            bare = await measure(rate, plan.floor_seconds, gateway.meter)
            print_result(bare)
            results.append(bare)
    return results


async def _saturation(gateway: Side, floor: Side, cold: Mix, plan: StepPlan) -> list[RateResult]:
    """Closed loop: the gateway's hot and no-hot mixes (the hot-row check) and the claim-shaped
    floor, alternately, twice each. The CPU per claim at saturation comes from these runs."""
    runs = (
        (CAPACITY_HOT, gateway, gateway.mix),
        (CAPACITY_NO_HOT, gateway, cold),
        (CAPACITY_FLOOR, floor, floor.mix),
    )
    results = []
    for label, side, mix in runs * 2:
        saturated = await side.capacity(mix, plan.capacity_seconds, label)
        print_result(saturated)
        results.append(saturated)
    return results


async def _overload(gateway: Side, results: list[RateResult], plan: StepPlan) -> RateResult:
    """Overload without collapse: the gateway offered twice its hot capacity (as measured
    above), open loop, with the hot mix and the same generator as its steps. What it admits
    should still finish in time; the rest is refused at once (RESOURCE_EXHAUSTED)."""
    rate = overload_rate(mean_capacity(results, CAPACITY_HOT))
    overloaded = await gateway.step(rate, plan.overload_seconds, OVERLOAD)
    print_result(overloaded)
    return overloaded


async def _front(
    gateway: Side,
    population: Population,
    server: tuple[int, int],
    workdir: Path,
    results: list[RateResult],
    options: BenchOptions,
) -> list[RateResult]:
    """HAProxy in front of the gateway (``server``: its root process and port), with the
    repository's deploy/haproxy/haproxy.cfg: closed loop through it with as many calls in
    flight as it lets into the gateway (twice, for its capacity), then the same overload as
    the gateway's own (twice the gateway's hot capacity, open loop). The CPU is the gateway's
    and HAProxy's together; HAProxy's alone is its one "worker" share."""
    plan = step_plan(options)
    root, gateway_port = server
    port = free_port()
    with front_process(
        port, gateway_port, options.front_inflight, options.front_queue_ms, workdir
    ) as haproxy:
        front = Side(
            Driver(f"127.0.0.1:{port}"),
            CpuMeter([*process_tree(root), haproxy], gateway.meter.postmaster, workers=[haproxy]),
            Mix(population, hot=True, seed=9, rx_start=70_000_000),
            HOT,
            metrics_url=gateway.metrics_url,
        )
        measured: list[RateResult] = []
        try:
            await front.warm_up(Mix(population, hot=True, seed=3, rx_start=80_000_000))
            for _ in range(2):
                saturated = await front.capacity(
                    front.mix, plan.capacity_seconds, CAPACITY_FRONT, options.front_inflight
                )
                print_result(saturated)
                measured.append(saturated)
            rate = overload_rate(mean_capacity(results, CAPACITY_HOT))
            await asyncio.sleep(SETTLE_S)
            overloaded = await front.step(rate, plan.overload_seconds, OVERLOAD_FRONT)
            print_result(overloaded)
            measured.append(overloaded)
        finally:
            await front.driver.close()
    return measured
