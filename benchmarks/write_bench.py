"""What a batch's ledger write costs PostgreSQL (issue 16): backend CPU per claim of
``rx_post_batch`` at batch sizes 1, 2, 4, 8 and 16, on the gateway's own write payloads.

    [RX_GATEWAY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test] \\
        python benchmarks/write_bench.py [--claims 1500] [--runs 2]

It creates its own database on RX_GATEWAY_DATABASE_URL's server, or starts an embedded one
without it, and drops it at the end (the server must be on this machine: it reads the
backend's CPU from /proc/<pid>/schedstat). It loads the synthetic data, runs the
gateway in this process on 127.0.0.1 and sends it the benchmark's claim mix (8 in flight),
keeping every write payload the gateway sends to ``rx_post_batch``; then it posts those claims
again, under new claim keys and control numbers and each family's current version, batch by
batch (each batch one transaction, its families all different, as the card's turns make them),
measuring the backend's CPU per claim. The purses are funded first (through rx_fund_purse, the
ledger's own funding) so that no replayed claim finds its purse spent. Batch sizes alternate
between runs so that neither always meets the fuller tables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.claim_ledger import LedgerWrites
from rx_gateway.adapters.postgres.database import GENERIC_PLANS_SQL, init_connection
from rx_gateway.bootstrap import Database, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.config import Settings
from rx_gateway.tools.bench.mix import Mix, load_population
from rx_gateway.tools.bench.stack import bench_database
from rx_gateway.tools.synthetic import generate

SIZES = (1, 2, 4, 8, 16)
BUSINESS_DATE = dt.date(2026, 11, 23)  # the synthetic claims are dated before it


def backend_cpu_ns(pid: int) -> int:
    with Path(f"/proc/{pid}/schedstat").open() as handle:
        return int(handle.read().split()[0])


async def gateway_payloads(dsn: str, data: Path, fixtures: dict[str, Any], claims: int) -> list:
    """The write payloads of ``claims`` claims of the benchmark mix, as the gateway sent them."""
    captured: list[Any] = []
    write_batch = LedgerWrites.write_batch

    async def keep(self: LedgerWrites, writes: list[Any], deadline: float | None) -> Any:
        captured.extend(w for w in writes if w[0] == "claim")
        return await write_batch(self, writes, deadline)

    LedgerWrites.write_batch = keep  # type: ignore[method-assign]
    settings = replace(
        Settings(),
        listen_address="127.0.0.1:0",
        business_date=BUSINESS_DATE,
        dev_mode=True,
    )
    app = await build_app(settings, dsn)
    mix = Mix(
        load_population(data, fixtures), hot=False, seed=7, rx_start=7_000_000, submits_only=True
    )
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            slots = asyncio.Semaphore(8)

            async def one(request: Any) -> None:
                async with slots:
                    await client.submit(request)

            await asyncio.gather(*(one(mix.next()) for _ in range(claims)))
    finally:
        await app.stop()
        LedgerWrites.write_batch = write_batch  # type: ignore[method-assign]
    # the last write of each claim (a claim whose first write met a conflict was written again);
    # JSON round trip: the payloads as the pool's codec sends them
    last = {payload["claim_key"]: (kind, family, payload) for kind, family, payload in captured}
    return json.loads(json.dumps(list(last.values()), default=str))


async def replay(conn: asyncpg.Connection, payloads: list, size: int, tag: str) -> dict[str, Any]:
    pid = await conn.fetchval("SELECT pg_backend_pid()")
    versions = dict(await conn.fetch("SELECT family_id, version FROM family"))
    items = []
    for k, (kind, family, sent) in enumerate(payloads):
        payload = dict(sent, claim_key=f"{sent['claim_key']}~{tag}")
        payload["internal_control_number"] = f"{tag}{k}"
        items.append((kind, family, payload))
    batches: list[list[Any]] = [[]]
    for item in items:
        batch = batches[-1]
        if len(batch) == size or any(other[1] == item[1] for other in batch):
            batches.append([])
        batches[-1].append(item)
    outcomes: dict[str, int] = {}

    async def post(some: list[list[Any]]) -> None:
        for batch in some:
            for _, family, payload in batch:
                payload["family_version"] = versions[family]
            results = await conn.fetchval(
                "SELECT rx_post_batch($1, $2, $3)",
                [i[0] for i in batch],
                [i[1] for i in batch],
                [i[2] for i in batch],
            )
            for (_, family, _), result in zip(batch, results, strict=True):
                outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
                if result["outcome"] == "posted":
                    versions[family] += 1

    await post(batches[:3])  # warm: plans, caches
    measured = batches[3:]
    claims = sum(len(b) for b in measured)
    cpu, wall = backend_cpu_ns(pid), time.perf_counter()
    await post(measured)
    return {
        "batch_size": size,
        "claims": claims,
        "postgres_cpu_us_per_claim": round((backend_cpu_ns(pid) - cpu) / claims / 1000, 1),
        "wall_us_per_claim": round((time.perf_counter() - wall) / claims * 1e6, 1),
        "outcomes": outcomes,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1500, help="claims per batch size per run")
    parser.add_argument("--runs", type=int, default=2, help="runs over the batch sizes")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-write-bench-"))
    results = []
    try:
        # a new database on RX_GATEWAY_DATABASE_URL's server, or an embedded one (as the bench)
        async with bench_database(workdir) as dsn:
            fixtures = generate(workdir / "data", members=10_000)
            database = Database(dsn)
            await database.migrate()
            await database.load(workdir / "data")
            payloads = await gateway_payloads(dsn, workdir / "data", fixtures, args.claims)
            conn = await asyncpg.connect(dsn)
            try:
                await init_connection(conn)
                await conn.execute(GENERIC_PLANS_SQL)  # as the claim pool's connections
                await conn.execute(
                    "SELECT rx_fund_purse(family_id, 'write-bench-' || purse_id, purse_id,"
                    " 100000000, 'write-bench', 'write bench') FROM purse"
                )
                for run in range(args.runs):
                    sizes = SIZES if run % 2 == 0 else tuple(reversed(SIZES))
                    for size in sizes:
                        result = await replay(conn, payloads, size, f"r{run}b{size}")
                        print(json.dumps(result), flush=True)
                        results.append(result)
            finally:
                await conn.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        f"postgres_cpu_us_per_claim_at_{size}": statistics.median(
            r["postgres_cpu_us_per_claim"] for r in results if r["batch_size"] == size
        )
        for size in SIZES
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
