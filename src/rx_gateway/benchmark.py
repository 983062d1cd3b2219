"""`rx-gateway bench`: an honest open-loop benchmark against the floor of the same stack.

* The gateway runs as separate `rx-gateway serve` process(es) on a real database (the embedded
  PostgreSQL, or a fresh database on RX_GATEWAY_DATABASE_URL's server), loaded with the
  synthetic data. Traffic goes only to 127.0.0.1.
* Open loop: claims leave at a constant arrival rate whatever the replies do, and each latency
  is measured from the claim's *intended* send time (no coordinated omission), recorded in an
  HDR histogram.
* The mix: new claims across thousands of members and hundreds of pharmacies (HRA splits on the
  commercial plan, Part D, HDHP), retransmissions (D), reversals, and claims that reject (54).
  In the "hot" mix one employer's members send 70% of the claims.
* The floor, in the same run on the same stack: a bare gRPC unary call (grpc.health.v1 Check on
  the gateway's own server) and a bare one-statement commit through asyncpg on the same database.
* A step (and, in full mode, a bisection) over arrival rates finds the highest rate that holds
  p99 <= 10 ms with no errors. Each rate reports achieved claims/s, p50/p90/p99/p99.9/max, errors,
  statuses and reject codes, server CPU and peak memory.

Output: a Markdown report and a latency-versus-throughput PNG in --out, and one final JSON line
with claims_per_s_at_p99_10ms, p99_ms_at_1000, floor_echo_rps, floor_commit_tps,
ratio_to_floor and errors. --quick stays under 90 s; the full mode under 10 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rx_gateway.adapters.postgres.database import EmbeddedPostgres
from rx_gateway.bootstrap import Database
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.data.claims import claim_request
from rx_gateway.data.synthetic import generate
from rx_gateway.v1 import claims_pb2 as pb

TARGET_P99_MS = 10.0
DEADLINE_S = 2.0
HOT_EMPLOYER = "EMP2"  # a quarter of the members; the hot mix sends it 70% of the claims
HOT_SHARE = 0.7
BUSINESS_DATE = "2026-11-23"


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    rates: tuple[int, ...] = ()
    seconds: float = 0.0  # per rate; 0: the mode's default
    workers: int = 1
    out: Path = Path("bench-results")
    members: int = 10_000
    floor_seconds: float = 0.0


@dataclass
class RateResult:
    mix: str
    offered_per_s: int
    seconds: float
    sent: int
    completed: int
    achieved_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    server_cpu_percent: float = 0.0

    @property
    def holds_target(self) -> bool:
        return self.errors == 0 and self.p99_ms <= TARGET_P99_MS


# ------------------------------------------------------------------ the population and the mix


@dataclass
class Population:
    members: list[dict[str, Any]]
    hot: list[dict[str, Any]]
    drugs: list[dict[str, Any]]
    pharmacies: list[str]
    fixtures: dict[str, Any]


def load_population(data: Path, fixtures: dict[str, Any]) -> Population:
    coverage = {r["member_id"]: r for r in csv.DictReader((data / "coverages.csv").open())}
    members = []
    for m in csv.DictReader((data / "members.csv").open()):
        c = coverage[m["member_id"]]
        if c["end_reason"]:
            continue
        members.append(
            {
                "member_id": m["member_id"],
                "cardholder_id": m["cardholder_id"],
                "person_code": m["person_code"],
                "group_id": c["group_id"],
                "plan_id": c["plan_id"],
                "employer_id": m["employer_id"],
            }
        )
    open_entries = {
        (r["plan_id"], r["ndc"])
        for r in csv.DictReader((data / "formulary.csv").open())
        if r["status"] == "covered"
        and r["prior_authorization_required"] == "false"
        and not r["quantity_limit_thousandths"]
        and not r.get("period_days")
        and not r.get("step_therapy_molecule")
        and r["tier"] in {"1", "2", "3"}
    }
    plans = {p for p, _ in open_entries}
    drugs = [
        {"ndc": d["ndc"], "awp_unit_price_millicents": int(d["awp_unit_price_millicents"])}
        for d in csv.DictReader((data / "drugs.csv").open())
        if all((plan, d["ndc"]) in open_entries for plan in plans)
    ]
    pharmacies = [
        p["npi"]
        for p in csv.DictReader((data / "pharmacies.csv").open())
        if p["network"] != "out_of_network" and p["kind"] in {"retail", "mail"}
    ]
    hot = [m for m in members if m["employer_id"] == HOT_EMPLOYER]
    return Population(members, hot, drugs, pharmacies, fixtures)


class Mix:
    """The claim stream: mostly new claims, some retransmissions, reversals and rejects."""

    def __init__(self, population: Population, *, hot: bool, seed: int, rx_start: int) -> None:
        self.population = population
        self.hot = hot
        self.rng = random.Random(seed)
        self.rx = rx_start
        self.sent: list[pb.ClaimRequest] = []

    def _member(self) -> dict[str, Any]:
        p = self.population
        if self.hot and self.rng.random() < HOT_SHARE:
            return self.rng.choice(p.hot)
        return self.rng.choice(p.members)

    def next(self) -> pb.ClaimRequest | pb.ReversalRequest:
        roll = self.rng.random()
        if self.sent and roll < 0.04:
            return self.rng.choice(self.sent)  # a retransmission: D (or R/83 if reversed)
        if self.sent and roll < 0.07:
            return reversal_for(self.sent.pop(self.rng.randrange(len(self.sent))))
        self.rx += 1
        p = self.population
        drug = self.rng.choice(p.drugs)
        if roll < 0.10:
            drug = {"ndc": "99999999999", "awp_unit_price_millicents": 100_000}  # 54
        request = claim_request(
            p.fixtures,
            self._member(),
            drug,
            pharmacy=self.rng.choice(p.pharmacies),
            rx_number=self.rx,
            date_of_service=f"2026{self.rng.randrange(1, 11):02d}{self.rng.randrange(1, 29):02d}",
        )
        self.sent.append(request)
        if len(self.sent) > 5_000:
            self.sent.pop(0)
        return request


# ------------------------------------------------------------------ measurement helpers


def _histogram() -> Any:
    from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]  # noqa: PLC0415

    return HdrHistogram(1, 120_000_000, 3)  # microseconds, up to 2 minutes, 3 digits


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _peak_memory_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


def _server_pids(root: int) -> list[int]:
    """The server process and its children (the workers of `serve --workers`)."""
    pids = [root]
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(stat[1]) == root:
                        pids.append(int(entry.name))
    return pids


async def run_rate(
    client: GatewayClient, mix: Mix, rate: int, seconds: float, pids: list[int], label: str
) -> RateResult:
    """Send ``rate * seconds`` claims at a constant arrival rate; latency from intended time."""
    histogram = _histogram()
    statuses: dict[str, int] = {}
    errors = 0
    count = max(1, int(rate * seconds))
    requests = [mix.next() for _ in range(count)]
    cpu_before = _cpu_seconds(pids)
    start = time.perf_counter() + 0.05

    async def one(index: int, request: pb.ClaimRequest | pb.ReversalRequest) -> None:
        nonlocal errors
        intended = start + index / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            if isinstance(request, pb.ReversalRequest):
                response = await client.reverse(request, timeout_s=DEADLINE_S)
            else:
                response = await client.submit(request, timeout_s=DEADLINE_S)
        except grpc.aio.AioRpcError as error:
            errors += 1
            key = f"error/{error.code().name}"
            statuses[key] = statuses.get(key, 0) + 1
            return
        histogram.record_value(max(1, int((time.perf_counter() - intended) * 1_000_000)))
        key = response.transaction_response_status + "".join(
            "/" + r.code for r in response.rejects[:1]
        )
        statuses[key] = statuses.get(key, 0) + 1

    await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    elapsed = time.perf_counter() - start
    cpu = _cpu_seconds(pids) - cpu_before

    def ms(percentile: float) -> float:
        return round(float(histogram.get_value_at_percentile(percentile)) / 1000, 2)

    completed = histogram.get_total_count()
    return RateResult(
        mix=label,
        offered_per_s=rate,
        seconds=round(elapsed, 2),
        sent=count,
        completed=completed,
        achieved_per_s=round(completed / elapsed, 1),
        p50_ms=ms(50),
        p90_ms=ms(90),
        p99_ms=ms(99),
        p999_ms=ms(99.9),
        max_ms=round(histogram.get_max_value() / 1000, 2) if completed else 0.0,
        errors=errors,
        statuses=dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        server_cpu_percent=round(100 * cpu / elapsed, 1),
    )


async def floor_echo_rps(target: str, seconds: float, concurrency: int = 64) -> float:
    """The gRPC floor: bare unary calls (health Check) on the gateway's own server."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await stub.Check(request, timeout=DEADLINE_S)
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return round(done / (time.perf_counter() - began), 1)


async def floor_commit_tps(dsn: str, seconds: float, concurrency: int = 16) -> float:
    """The database floor: one-statement commits (an INSERT) through asyncpg."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, v bigint NOT NULL)"
        )
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            async with pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    await conn.execute("INSERT INTO bench_floor (v) VALUES ($1)", done)
                    done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return round(float(done) / (time.perf_counter() - began), 1)
    finally:
        await pool.close()


# ------------------------------------------------------------------ environment


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def bench_database(workdir: Path) -> AsyncIterator[str]:
    """A fresh database: on RX_GATEWAY_DATABASE_URL's server, or an embedded one."""
    url = os.environ.get("RX_GATEWAY_DATABASE_URL")
    if not url:
        embedded = EmbeddedPostgres(workdir / "pg")
        dsn = await asyncio.to_thread(embedded.start)
        try:
            yield dsn
        finally:
            embedded.stop()
        return
    name = f"rxgw_bench_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.contextmanager
def gateway_process(dsn: str, port: int, workers: int, workdir: Path) -> Iterator[int]:
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_DATA_DIR=str(workdir / "state"),
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE,  # the synthetic claims are dated in 2026
        RX_GATEWAY_ADMIN_TOKENS="",
        RX_GATEWAY_DEV_MODE="1",  # plaintext on 127.0.0.1: TLS would be measured separately
    )
    command = [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"]
    if workers > 1:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None  # noqa: S101 - PIPE above
        line = server.stdout.readline().decode()
        if not line.startswith("rx-gateway listening"):
            msg = f"the gateway did not start: {line!r}"
            raise RuntimeError(msg)
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


# ------------------------------------------------------------------ the run


def _plan(options: BenchOptions) -> tuple[tuple[int, ...], float, float]:
    rates: tuple[int, ...]
    if options.quick:
        rates, seconds, floor_s = (50, 100, 150, 200, 300), 5.0, 2.0
    else:
        rates, seconds, floor_s = (50, *range(100, 1_100, 100)), 10.0, 5.0
    return (
        options.rates or rates,
        options.seconds or seconds,
        options.floor_seconds or floor_s,
    )


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    rates, seconds, floor_s = _plan(options)
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
            port = _free_port()
            with gateway_process(dsn, port, options.workers, workdir) as root:
                pids = _server_pids(root)
                target = f"127.0.0.1:{port}"
                echo = await floor_echo_rps(target, floor_s)
                commit = await floor_commit_tps(dsn, floor_s)
                async with GatewayClient(target) as client:
                    warm = Mix(population, hot=True, seed=1, rx_start=90_000_000)
                    await run_rate(client, warm, 100, 2.0, pids, "warm-up")
                    mix = Mix(population, hot=True, seed=7, rx_start=10_000_000)
                    results += await _search(client, mix, rates, seconds, pids, options.quick)
                    at_1000 = await run_rate(client, mix, 1_000, 2.0, pids, "hot")
                    results.append(at_1000)
                    await asyncio.sleep(DEADLINE_S)  # let the backlog drain
                    saturation = max(r.achieved_per_s for r in results) * 1.5
                    cold = Mix(population, hot=False, seed=8, rx_start=50_000_000)
                    hot_cap = await run_rate(
                        client, mix, int(saturation), seconds / 2, pids, "hot capacity"
                    )
                    await asyncio.sleep(DEADLINE_S)
                    cold_cap = await run_rate(
                        client, cold, int(saturation), seconds / 2, pids, "no-hot capacity"
                    )
                    results += [hot_cap, cold_cap]
                memory_mb = _peak_memory_mb(_server_pids(root))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    good = [r for r in results if r.mix == "hot" and r.holds_target]
    best = max((r.achieved_per_s for r in good), default=0.0)
    floor = min(echo, commit)
    summary = {
        "claims_per_s_at_p99_10ms": best,
        "p99_ms_at_1000": at_1000.p99_ms,
        "errors_at_1000": at_1000.errors,
        "floor_echo_rps": echo,
        "floor_commit_tps": commit,
        "ratio_to_floor": round(best / floor, 3) if floor else 0.0,
        "errors": sum(r.errors for r in results if r.mix == "hot" and r.offered_per_s <= best),
        "hot_capacity_per_s": hot_cap.achieved_per_s,
        "no_hot_capacity_per_s": cold_cap.achieved_per_s,
        "hot_vs_no_hot": round(hot_cap.achieved_per_s / cold_cap.achieved_per_s, 3)
        if cold_cap.achieved_per_s
        else 0.0,
        "server_peak_memory_mb": memory_mb,
        "workers": options.workers,
        "mode": "quick" if options.quick else "full",
        "duration_s": round(time.perf_counter() - began, 1),
    }
    write_report(options.out, summary, results)
    return summary


async def _search(
    client: GatewayClient,
    mix: Mix,
    rates: tuple[int, ...],
    seconds: float,
    pids: list[int],
    quick: bool,
) -> list[RateResult]:
    """Step up the rates; stop after two misses. Full mode then bisects the last gap."""
    results: list[RateResult] = []
    misses = 0
    for rate in rates:
        result = await run_rate(client, mix, rate, seconds, pids, "hot")
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
        if not result.holds_target:
            misses += 1
            await asyncio.sleep(DEADLINE_S)  # drain before the next step
            if misses >= 2:
                break
    passing = [r.offered_per_s for r in results if r.holds_target]
    failing = [r.offered_per_s for r in results if not r.holds_target]
    low = max(passing, default=0)
    high = min((f for f in failing if f > low), default=0)
    for _ in range(0 if quick else 3):
        if not high or high - low <= 20:
            break
        middle = (low + high) // 2
        result = await run_rate(client, mix, middle, seconds, pids, "hot")
        results.append(result)
        print(json.dumps(asdict(result)), flush=True)
        if result.holds_target:
            low = middle
        else:
            high = middle
            await asyncio.sleep(DEADLINE_S)
    return results


def write_report(out: Path, summary: dict[str, Any], results: list[RateResult]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# rx-gateway benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}; load generator, gateway and PostgreSQL share it.",
        f"Mode: {summary['mode']}, {summary['workers']} server process(es),"
        f" {summary['duration_s']} s in all. Latency from each claim's intended send time.",
        "",
        "| mix | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms"
        " | errors | server CPU % | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.mix, r.offered_per_s)):
        top = ", ".join(f"{k} {v}" for k, v in list(r.statuses.items())[:5])
        lines.append(
            f"| {r.mix} | {r.offered_per_s} | {r.achieved_per_s} | {r.p50_ms} | {r.p90_ms}"
            f" | {r.p99_ms} | {r.p999_ms} | {r.max_ms} | {r.errors} | {r.server_cpu_percent}"
            f" | {top} |"
        )
    lines += ["", "```json", json.dumps(summary, indent=2), "```", ""]
    (out / "bench-report.md").write_text("\n".join(lines))
    (out / "bench-results.json").write_text(
        json.dumps({"summary": summary, "rates": [asdict(r) for r in results]}, indent=2)
    )
    _plot(out / "bench-latency.png", results)


def _plot(path: Path, results: list[RateResult]) -> None:
    import matplotlib as mpl  # noqa: PLC0415 - optional: rx-gateway[bench]

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    hot = sorted((r for r in results if r.mix == "hot"), key=lambda r: r.offered_per_s)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for attribute, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
        axes.plot(
            [r.achieved_per_s for r in hot],
            [max(0.1, getattr(r, attribute)) for r in hot],
            marker="o",
            label=label,
        )
    axes.axhline(TARGET_P99_MS, color="grey", linestyle="--", label="10 ms target")
    axes.set_yscale("log")
    axes.set_xlabel("claims/s achieved (open loop)")
    axes.set_ylabel("latency from intended send (ms)")
    axes.set_title("rx-gateway: latency versus throughput")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
