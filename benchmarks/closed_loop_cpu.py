"""The gateway's CPU per claim at saturation, closed loop, nothing else measured (issue 16): a
quick, repeatable figure to compare two builds of the server side by side.

    [RX_GATEWAY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test] \\
        python benchmarks/closed_loop_cpu.py [--rounds 3] [--claims 4000] [--metrics]

It creates its own database on RX_GATEWAY_DATABASE_URL's server, or starts an embedded one
without it (dropped or stopped at the end), loads the synthetic data, starts `rx-gateway serve`
as the benchmark does (``--metrics``: with its Prometheus listener on, as `rx-gateway bench`
runs it), sends 2,000 claims of the benchmark's mix (new claims only) to warm it, then, round by
round, ``--claims`` more with 32 in flight over one channel, and prints the gateway process's
CPU per claim (/proc/<pid>/stat) and the claims per second of each round, then a JSON line.

To compare builds, run it with each on PYTHONPATH (say a worktree of the older commit's
``src``), alternating, several times: one round's figure moves by a few percent with whatever
else the machine does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import grpc

from rx_gateway.bootstrap import Database
from rx_gateway.tools.bench.meter import _proc_cpu_seconds
from rx_gateway.tools.bench.mix import SUBMIT, Mix, load_population
from rx_gateway.tools.bench.stack import bench_database, free_port, gateway_process
from rx_gateway.tools.synthetic import generate

IN_FLIGHT = 32
WARM_UP = 2_000


async def _drive(port: int, wires: list[bytes]) -> int:
    """Send ``wires`` with IN_FLIGHT calls in flight; the calls that failed."""
    failed = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(SUBMIT)
        pending = iter(wires)

        async def worker() -> None:
            nonlocal failed
            for wire in pending:
                try:
                    await call(wire, timeout=5)
                except grpc.aio.AioRpcError:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return failed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--claims", type=int, default=4_000)
    parser.add_argument("--metrics", action="store_true", help="the Prometheus listener on")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-closed-loop-"))
    rounds: list[dict[str, float]] = []
    try:
        fixtures = generate(workdir / "data", members=10_000)
        async with bench_database(workdir) as dsn:
            database = Database(dsn)
            await database.migrate()
            await database.load(workdir / "data")
            mix = Mix(load_population(workdir / "data", fixtures), hot=True, seed=7, rx_start=1)
            mix.submits_only = True
            wires = [
                m.SerializeToString()
                for m in (mix.next() for _ in range(WARM_UP + options.rounds * options.claims))
            ]
            port = free_port()
            metrics_port = free_port() if options.metrics else None
            with gateway_process(dsn, port, 1, workdir, metrics_port) as pid:
                await _drive(port, wires[:WARM_UP])
                for number in range(options.rounds):
                    start = WARM_UP + number * options.claims
                    batch = wires[start : start + options.claims]
                    cpu_began, began = _proc_cpu_seconds(pid), time.perf_counter()
                    failed = await _drive(port, batch)
                    seconds = time.perf_counter() - began
                    cpu_ms = 1000 * (_proc_cpu_seconds(pid) - cpu_began) / len(batch)
                    rounds.append(
                        {
                            "claims_per_s": round(len(batch) / seconds, 1),
                            "cpu_ms_per_claim": round(cpu_ms, 3),
                            "failed": failed,
                        }
                    )
                    print(
                        f"round {number + 1}: {len(batch) / seconds:7.1f} claims/s,"
                        f" gateway CPU {cpu_ms:.3f} ms/claim, {failed} failed",
                        flush=True,
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cpu = [r["cpu_ms_per_claim"] for r in rounds]
    print(
        json.dumps(
            {
                "metrics": options.metrics,
                "rounds": rounds,
                "cpu_ms_per_claim_median": round(statistics.median(cpu), 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
