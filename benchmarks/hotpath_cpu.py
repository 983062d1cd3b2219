"""The gateway's own Python per claim, stage by stage, without gRPC or a database round trip
(issue 16): what a paid B1 costs in this process from the request's bytes to the answer's.

    [RX_GATEWAY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test] \\
        python benchmarks/hotpath_cpu.py [--claims 2000] [--runs 5]

It creates its own database on RX_GATEWAY_DATABASE_URL's server, or starts an embedded one
without it (dropped or stopped at the end), loads the synthetic data, and takes the benchmark's
claim mix (new claims only). For each claim it reads the member's rows once (the batched read's
statement, as the gateway sends it); then, with nothing else running, it times each stage over
every claim, ``--runs`` times, with the process's CPU clock:

- ``parse``: the request's bytes into the protobuf message (what grpc's deserializer does);
- ``translate``: the message into the domain request (translate.claim_request_from_pb);
- ``validate``: the syntax checks (validate_claim);
- ``rows``: the read's rows into the member's state (member_lookup_from_rows);
- ``decide``: the adjudication (ClaimProcessor.decide);
- ``payload``: the paid claim's write payload, as JSON bytes (claim_payload and the jsonb codec);
- ``answer``: the response into protobuf bytes (claim_response_to_pb and serializing).

Then ``service``: the same claims (other Rx numbers) submitted straight to the gateway's
ClaimProcessor, built as `rx-gateway serve` builds it (batching, pool, warm-up) but with no gRPC
server, 32 in flight: this process's CPU per claim is the gateway's less the RPC machinery (the
domain stages above included; the database's own CPU is not in it).

It prints one line per stage (median and best microseconds per claim over the runs) and a final
JSON line. A CPU clock is far steadier than wall time on a shared machine, but not exact:
compare runs of the same build, several runs each.
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
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway.adapters.postgres.claim_ledger import LedgerWrites
from rx_gateway.adapters.postgres.database import _encode_jsonb, create_pool
from rx_gateway.adapters.postgres.member_reader import MEMBER_STATES_SQL, member_lookup_from_rows
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.bootstrap import Database, build_app
from rx_gateway.config import PoolLimits, Settings
from rx_gateway.domain.adjudication import Paid
from rx_gateway.domain.syntax import validate_claim
from rx_gateway.grpc_api import translate
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.service_layer.reference import ReferenceHolder
from rx_gateway.tools.bench.mix import Mix, load_population
from rx_gateway.tools.bench.stack import bench_database
from rx_gateway.tools.synthetic import generate
from rx_gateway.v1 import claims_pb2 as pb

BUSINESS_DATE = dt.date(2026, 11, 23)  # the synthetic claims are dated before it
STAGES = ("parse", "translate", "validate", "rows", "decide", "payload", "answer")


async def _inputs(dsn: str, data: Path, fixtures: dict[str, Any], claims: int) -> tuple[Any, ...]:
    """The claims' bytes, each claim's read rows, and the reference snapshot."""
    mix = Mix(load_population(data, fixtures), hot=True, seed=7, rx_start=10_000_000)
    mix.submits_only = True
    wires = [m.SerializeToString() for m in (mix.next() for _ in range(claims))]
    pool = await create_pool(dsn, PoolLimits(size_min=1, size_max=2))
    try:
        snapshot = await PostgresReferenceLoader(pool).load_snapshot()
        rows: list[list[Any]] = []
        async with pool.acquire() as connection:
            for wire in wires:
                request = translate.claim_request_from_pb(pb.ClaimRequest.FromString(wire))
                read = await connection.fetch(
                    MEMBER_STATES_SQL,
                    [None],
                    [request.cardholder_id],
                    [request.person_code],
                    [request.service_date],
                    [request.key.as_text()],
                )
                rows.append([r[1:] for r in read])
    finally:
        await pool.close()
    return wires, rows, snapshot


def _timed(each: Callable[[int], object], count: int) -> float:
    """CPU seconds for ``each`` over every claim."""
    began = time.process_time()
    for k in range(count):
        each(k)
    return time.process_time() - began


def measure(wires: list[bytes], rows: list[list[Any]], snapshot: Any, runs: int) -> dict[str, Any]:
    processor = ClaimProcessor(
        store=None,  # type: ignore[arg-type] - decide() reads nothing
        reference=ReferenceHolder(snapshot),
        business_date=lambda: BUSINESS_DATE,
    )
    writes = LedgerWrites.__new__(LedgerWrites)
    writes._actor = "gateway"
    messages = [pb.ClaimRequest.FromString(w) for w in wires]
    requests = [translate.claim_request_from_pb(pb.ClaimRequest.FromString(w)) for w in wires]
    lookups = [
        member_lookup_from_rows(r, q.service_date) for r, q in zip(rows, requests, strict=True)
    ]
    decisions = [
        processor.decide(
            q, snapshot, lk.state, authorization_number="1", internal_control_number="A"
        )
        for q, lk in zip(requests, lookups, strict=True)
    ]
    paid = [k for k, d in enumerate(decisions) if isinstance(d, Paid)]
    versions = [lk.state.family_version if lk.state else 0 for lk in lookups]

    def payload(k: int) -> object:
        k = paid[k % len(paid)]
        return _encode_jsonb(writes.claim_payload(requests[k], decisions[k], versions[k]))  # type: ignore[arg-type]

    stage_calls: dict[str, Callable[[int], object]] = {
        "parse": lambda k: pb.ClaimRequest.FromString(wires[k]),
        "translate": lambda k: translate.claim_request_from_pb(
            pb.ClaimRequest.FromString(wires[k])
        ),
        "validate": lambda k: validate_claim(requests[k]),
        "rows": lambda k: member_lookup_from_rows(rows[k], requests[k].service_date),
        "decide": lambda k: processor.decide(
            requests[k],
            snapshot,
            lookups[k].state,
            authorization_number="1",
            internal_control_number="A",
        ),
        "payload": payload,
        "answer": lambda k: translate.claim_response_to_pb(
            decisions[k].response
        ).SerializeToString(),
    }
    del messages
    per_claim: dict[str, list[float]] = {s: [] for s in STAGES}
    count = len(wires)
    for _ in range(runs):
        for stage in STAGES:
            seconds = _timed(stage_calls[stage], count)
            if stage == "translate":  # less the parse it repeats
                seconds -= _timed(stage_calls["parse"], count)
            per_claim[stage].append(seconds / count * 1e6)
    result: dict[str, Any] = {
        "claims": count,
        "paid": len(paid),
        "runs": runs,
        "us_per_claim_median": {s: round(statistics.median(v), 1) for s, v in per_claim.items()},
        "us_per_claim_best": {s: round(min(v), 1) for s, v in per_claim.items()},
    }
    result["us_per_claim_total_median"] = round(sum(result["us_per_claim_median"].values()), 1)
    return result


async def service_cpu(dsn: str, wires: list[bytes], runs: int) -> list[float]:
    """CPU microseconds of this process per claim, ClaimProcessor.submit with 32 in flight,
    once per run (after a warm-up of 500 claims)."""
    settings = replace(Settings.from_env({"RX_GATEWAY_DEV_MODE": "1"}), business_date=BUSINESS_DATE)
    app = await build_app(settings, dsn, start=False)
    try:
        loop = asyncio.get_running_loop()

        async def one(wire: bytes) -> None:
            request = translate.claim_request_from_pb(pb.ClaimRequest.FromString(wire))
            answer = await app.processor.submit(request, deadline=loop.time() + 5)
            translate.claim_response_to_pb(answer).SerializeToString()

        async def in_flight(batch: list[bytes]) -> None:
            pending = iter(batch)

            async def worker() -> None:
                for wire in pending:
                    await one(wire)

            await asyncio.gather(*(worker() for _ in range(32)))

        await in_flight(wires[:500])
        per_claim = []
        share = (len(wires) - 500) // runs
        for run in range(runs):
            batch = wires[500 + run * share : 500 + (run + 1) * share]
            began = time.process_time()
            await in_flight(batch)
            per_claim.append((time.process_time() - began) / len(batch) * 1e6)
        return per_claim
    finally:
        await app.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=10_000)
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-hotpath-"))
    try:
        fixtures = generate(workdir / "data", members=options.members)
        async with bench_database(workdir) as dsn:
            database = Database(dsn)
            await database.migrate()
            await database.load(workdir / "data")
            wires, rows, snapshot = await _inputs(dsn, workdir / "data", fixtures, options.claims)
            result = measure(wires, rows, snapshot, options.runs)
            # the same claims under other Rx numbers (so none is a duplicate of the reads')
            mix = Mix(load_population(workdir / "data", fixtures), hot=True, seed=9, rx_start=1)
            mix.submits_only = True
            service = [m.SerializeToString() for m in (mix.next() for _ in range(6_500))]
            service_us = await service_cpu(dsn, service, options.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["service_us_per_claim"] = [round(us, 1) for us in service_us]
    result["service_us_per_claim_median"] = round(statistics.median(service_us), 1)
    for stage in STAGES:
        median = result["us_per_claim_median"][stage]
        best = result["us_per_claim_best"][stage]
        print(f"{stage:10} {median:8.1f} us/claim (best {best:.1f})")
    print(f"{'total':10} {result['us_per_claim_total_median']:8.1f} us/claim")
    print(f"{'service':10} {result['service_us_per_claim_median']:8.1f} us/claim (no gRPC)")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
