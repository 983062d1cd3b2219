"""How long a pay cycle of 100,000 claims takes to close, and what the close does to claims
that keep arriving meanwhile (issue 14).

    python benchmarks/settle_bench.py                 # 100,000 claims, under 5 minutes
    python benchmarks/settle_bench.py --claims 20000  # quicker

1. A fresh database (on RX_GATEWAY_DATABASE_URL's server, or embedded) with the synthetic data,
   and a gateway in a process of its own (the close runs in this one, as `rx-gateway settle`
   runs beside a serving gateway).
2. A few hundred claims are paid through the gateway; they are cloned in SQL (claim rows, their
   journal entries and postings, purse spending) until the week holds ``--claims`` claims, with
   received times spread over the week.
3. Claims are sent at a steady rate for a baseline (latency p50/p99), then again while the
   week's pay cycle and billing cycle close, then the close alone is timed again on a second
   week. The close's own time, its rate (claims per second), and the claims' p99 during the
   close as a ratio to the baseline are printed and written to benchmarks/reports/.

On a shared 2-core machine absolute times are noise: read the ratio, and run it more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.bootstrap import Database
from rx_gateway.client import GatewayClient
from rx_gateway.tools.bench.stack import bench_database, free_port, gateway_process
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.tools.synthetic.dataset import active_members, generate

BUSINESS_DATE = dt.date(2026, 11, 23)
SEED_CLAIMS = 300

CLONE_SQL = """
CREATE TEMPORARY TABLE clone AS
SELECT g, s.claim_id AS source, s.family_id, s.entry_id AS source_entry,
       nextval('journal_entry_entry_id_seq') AS entry_id,
       nextval('claim_claim_id_seq') AS claim_id,
       $2::timestamptz + (random() * interval '6 days 23 hours') AS received_at
FROM generate_series(1, $1::int) g
JOIN LATERAL (SELECT * FROM claim ORDER BY claim_id OFFSET (g % $3::int) LIMIT 1) s ON true;
"""
COPY_SQL = (
    "INSERT INTO journal_entry (family_id, entry_id, kind, created_at)"
    " SELECT family_id, entry_id, 'claim', received_at FROM clone",
    "INSERT INTO posting (family_id, entry_id, account_key, amount_cents)"
    " SELECT c.family_id, c.entry_id, p.account_key, p.amount_cents FROM clone c"
    " JOIN posting p ON p.family_id = c.family_id AND p.entry_id = c.source_entry",
    "INSERT INTO claim (family_id, claim_id, claim_key, generation, request_hash,"
    " internal_control_number, authorization_number, member_id, plan_id, service_provider_id,"
    " product_id, molecule, date_of_service, days_supply, quantity_thousandths, entry_id,"
    " reference_data_version, response, gross_amount_due_cents, created_at)"
    " SELECT c.family_id, c.claim_id, s.claim_key || '#' || c.g, 1, s.request_hash,"
    " s.internal_control_number || 'X' || c.g, s.authorization_number, s.member_id, s.plan_id,"
    " s.service_provider_id, s.product_id, s.molecule, s.date_of_service, s.days_supply,"
    " s.quantity_thousandths, c.entry_id, s.reference_data_version,"
    " jsonb_set(s.response, '{internal_control_number}',"
    "           to_jsonb(s.internal_control_number || 'X' || c.g)),"
    " s.gross_amount_due_cents, c.received_at"
    " FROM clone c JOIN claim s ON s.family_id = c.family_id AND s.claim_id = c.source",
    "INSERT INTO claim_purse_spend (family_id, claim_id, purse_id, date_of_service, paid_cents)"
    " SELECT c.family_id, c.claim_id, p.purse_id, p.date_of_service, p.paid_cents FROM clone c"
    " JOIN claim_purse_spend p ON p.family_id = c.family_id AND p.claim_id = c.source",
)
# Claims and reversals are append-only: the triggers stay on; the clones are plain inserts.


@contextlib.asynccontextmanager
async def pool_for(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


PROFILE: list[str] = []  # --profile DIR: each command under cProfile, its stats written there


async def _command(dsn: str, command: str, through: dt.date, workdir: Path) -> tuple[float, str]:
    """`rx-gateway settle|invoice` in a process of its own, as an operator runs it: its wall
    time (interpreter start included) and its output."""
    started = time.perf_counter()
    profiler = ["-m", "cProfile", "-o", f"{PROFILE[0]}/{command}.prof"] if PROFILE else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, *profiler, "-m", "rx_gateway", command, "--through", f"{through}",
        "--out", str(workdir / "settlement"),
        env={**os.environ, "RX_GATEWAY_DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    if process.returncode != 0:
        msg = f"rx-gateway {command} failed: {err.decode()}"
        raise RuntimeError(msg)
    return time.perf_counter() - started, out.decode()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _stream(
    client: GatewayClient,
    requests: list[object],
    rate_per_s: float,
    stop: asyncio.Event,
    latencies: list[float],
) -> None:
    """Open loop at ``rate_per_s`` until ``stop`` or the requests run out."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pending: set[asyncio.Task[None]] = set()

    async def one(request: object, due: float) -> None:
        await client.submit(request)  # type: ignore[arg-type]
        latencies.append((loop.time() - due) * 1000)

    for n, request in enumerate(requests):
        if stop.is_set():
            break
        due = start + n / rate_per_s
        await asyncio.sleep(max(0.0, due - loop.time()))
        task = asyncio.create_task(one(request, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)


async def run(claims: int, rate: float, out_dir: Path) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-settle-bench-"))
    async with bench_database(workdir) as dsn:
        database = Database(dsn)
        await database.migrate()
        fixtures = generate(workdir / "data", members=10_000)
        await database.load(workdir / "data")
        members = active_members(workdir / "data")
        port = free_port()
        gateway = gateway_process(dsn, port, 1, workdir)
        gateway.__enter__()  # a process of its own, as in production: the close runs here
        rx = iter(range(10_000_000, 10**9))

        def request(member: dict[str, str]) -> object:
            return claim_request(
                fixtures,
                member,
                fixtures["drugs"]["generic"],
                pharmacy=fixtures["pharmacies"]["preferred"],
                rx_number=next(rx),
                date_of_service=f"{BUSINESS_DATE:%Y%m%d}",
            )

        report: dict[str, object] = {"claims": claims, "rate_per_s": rate}
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3, init=init_connection)
        try:
            async with GatewayClient(f"127.0.0.1:{port}") as client:
                for member in members[:SEED_CLAIMS]:
                    await client.submit(request(member))  # type: ignore[arg-type]
                async with pool.acquire() as conn:
                    week_start = (await conn.fetchval("SELECT now()")) - dt.timedelta(days=7)
                    clone_start = time.perf_counter()
                    async with conn.transaction():
                        await conn.execute(CLONE_SQL, claims, week_start, SEED_CLAIMS)
                        for statement in COPY_SQL:
                            await conn.execute(statement)
                        await conn.execute("DROP TABLE clone")
                    report["clone_s"] = round(time.perf_counter() - clone_start, 2)
                    await conn.execute("ANALYZE")
                plans = list((await PostgresReferenceLoader(pool).load_snapshot()).plans.values())
                store = PostgresSettlement(pool)
                today = (await store.now()).date()
                through = min(p.pay_schedule.period_end(today) for p in plans)
                fresh = iter(members[SEED_CLAIMS:])
                baseline: list[float] = []
                await _stream(
                    client, [request(next(fresh)) for _ in range(int(rate * 5))], rate,
                    asyncio.Event(), baseline,
                )  # fmt: skip
                during: list[float] = []
                stop = asyncio.Event()
                meanwhile = [request(next(fresh)) for _ in range(int(rate * 30))]
                flow = asyncio.create_task(_stream(client, meanwhile, rate, stop, during))
                await asyncio.sleep(1.0)
                settle_s, paid = await _command(dsn, "settle", through, workdir)
                invoice_s, _ = await _command(dsn, "invoice", through, workdir)
                stop.set()
                await flow
        finally:
            await pool.close()
            gateway.__exit__(None, None, None)
        async with pool_for(dsn) as conn:
            lines = await conn.fetchval("SELECT count(*) FROM remittance_item")
            invoice_lines = await conn.fetchval("SELECT count(*) FROM invoice_item")
        report |= {
            "remittance_lines": lines,
            "invoice_lines": invoice_lines,
            "settle_output": paid.splitlines()[0] if paid else "",
            "settle_s": round(settle_s, 2),
            "settle_lines_per_s": round(lines / settle_s),
            "invoice_s": round(invoice_s, 2),
            "baseline_p50_ms": round(_percentile(baseline, 0.5), 2),
            "baseline_p99_ms": round(_percentile(baseline, 0.99), 2),
            "during_close_p50_ms": round(_percentile(during, 0.5), 2),
            "during_close_p99_ms": round(_percentile(during, 0.99), 2),
            "claims_during_close": len(during),
        }
        report["p99_ratio_during_close"] = round(
            float(report["during_close_p99_ms"]) / max(float(report["baseline_p99_ms"]), 0.01),
            2,  # type: ignore[arg-type]
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    text = "\n".join(f"| {k} | {v} |" for k, v in report.items())
    (out_dir / f"settlement-{stamp}.md").write_text(
        f"# Settlement close, {stamp} UTC\n\n| measure | value |\n|---|---|\n{text}\n"
    )
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0, help="claims/s sent meanwhile")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reports"))
    parser.add_argument("--profile", type=Path, help="profile the commands (cProfile) into DIR")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        PROFILE.append(str(args.profile))
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415

        uvloop.install()
    report = asyncio.run(run(args.claims, args.rate, args.out))
    for key, value in report.items():
        print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
