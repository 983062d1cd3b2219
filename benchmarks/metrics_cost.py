"""What the metrics cost (issue 16): the gateway's CPU per claim with metrics off, on, and on
with multiprocess files (what each worker of `serve --workers N` pays), in alternating runs;
first, the metrics code's own CPU per call, measured alone (the first JSON line).

    RX_GATEWAY_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/metrics_cost.py [--runs 3] [--claims 2000] [--concurrency 16]

Each run starts `rx-gateway serve` on 127.0.0.1, warms it, then sends a fixed number of B1
claims (closed loop, ``--concurrency`` in flight, every claim for a member no other claim of the
benchmark bills, so no run inherits another's history) and reads the server process's CPU
(user + system, all threads, from /proc) before and after. It creates its own database on
RX_GATEWAY_DATABASE_URL's server and drops it at the end; it sends only to 127.0.0.1 and stops
by itself. Modes: ``off`` (no RX_GATEWAY_METRICS_LISTEN: the claim counters are still updated,
in memory, with nobody reading them), ``on`` (the listener, the RPC interceptor, one scrape
after the measured claims) and ``files`` (the same, values in PROMETHEUS_MULTIPROC_DIR files).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc

from rx_gateway.bootstrap import Database
from rx_gateway.observability import record_claim, scrape
from rx_gateway.observability.interceptor import MetricsInterceptor
from rx_gateway.tools.synthetic import active_members, generate
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc

BUSINESS_DATE = "2026-11-23"
MODES = ("off", "on", "files")
WARM_CLAIMS = 200
MEMBERS_MAX = 34_000
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU of a process and all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


async def send(target: str, requests: list[pb.ClaimRequest], concurrency: int) -> dict[str, int]:
    """Every request once, ``concurrency`` at a time over a few channels; statuses counted."""
    statuses: dict[str, int] = {}
    channels = [grpc.aio.insecure_channel(target) for _ in range(4)]
    stubs = [pb_grpc.ClaimServiceStub(channel) for channel in channels]
    queue = iter(enumerate(requests))

    async def worker() -> None:
        for index, request in queue:
            reply = await stubs[index % len(stubs)].Submit(request, timeout=30)
            status = reply.transaction_response_status
            statuses[status] = statuses.get(status, 0) + 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        for channel in channels:
            await channel.close()
    return statuses


async def one_run(
    mode: str, dsn: str, warm: list[pb.ClaimRequest], measured: list[pb.ClaimRequest], args: Any
) -> dict[str, Any]:
    port, metrics_port = free_port(), free_port()
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_DEV_MODE="1",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE,
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_ADMIN_TOKENS="",
    )
    for name in ("RX_GATEWAY_METRICS_LISTEN", "PROMETHEUS_MULTIPROC_DIR", "RX_GATEWAY_OTEL"):
        env.pop(name, None)
    files = None
    if mode != "off":
        env["RX_GATEWAY_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    if mode == "files":
        files = tempfile.mkdtemp(prefix="rxgw-metrics-cost-")
        env["PROMETHEUS_MULTIPROC_DIR"] = files
    server = subprocess.Popen(
        [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        if not line.startswith("rx-gateway listening"):
            msg = f"the gateway did not start: {line!r}"
            raise RuntimeError(msg)
        target = f"127.0.0.1:{port}"
        await send(target, warm, args.concurrency)
        cpu_before, wall_before = cpu_s(server.pid), time.perf_counter()
        statuses = await send(target, measured, args.concurrency)
        cpu_after, wall_after = cpu_s(server.pid), time.perf_counter()
        scraped = 0
        if mode != "off":
            samples = await asyncio.to_thread(scrape, f"http://127.0.0.1:{metrics_port}/metrics")
            scraped = int(sum(v for k, v in samples.items() if k.startswith("rxgw_claims_total{")))
    finally:
        server.terminate()
        server.wait(timeout=30)
        if files is not None:
            shutil.rmtree(files, ignore_errors=True)
    claims = len(measured)
    return {
        "mode": mode,
        "claims": claims,
        "cpu_ms_per_claim": round((cpu_after - cpu_before) * 1000 / claims, 4),
        "claims_per_s": round(claims / (wall_after - wall_before), 1),
        "statuses": statuses,
        "claims_counted_by_scrape": scraped,
    }


class _Context:
    """What the interceptor reads of a grpc.aio servicer context."""

    def code(self) -> None:
        return None

    def time_remaining(self) -> float:
        return 5.0


async def _micro(calls: int) -> dict[str, float]:
    """In this process: CPU per call of a bare unary handler, with and without the metrics
    interceptor's wrapper (intercept_service runs per call too) and a record_claim."""

    async def handler(request: Any, context: Any) -> Any:
        return request

    class Details:
        method = "/rx_gateway.v1.ClaimService/Submit"

    async def continuation(details: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(handler)

    interceptor = MetricsInterceptor()
    context = _Context()

    async def bare() -> None:
        handled = await continuation(Details())
        await handled.unary_unary(None, context)

    async def measured() -> None:
        handled = await interceptor.intercept_service(continuation, Details())  # type: ignore[arg-type]
        await handled.unary_unary(None, context)
        record_claim("B1", "P", ())

    result = {}
    for name, call in (("bare", bare), ("metrics", measured)):
        for _ in range(1000):
            await call()
        started = time.process_time()
        for _ in range(calls):
            await call()
        result[name] = (time.process_time() - started) * 1e6 / calls
    return {"metrics_us_per_call": round(result["metrics"] - result["bare"], 2)}


def micro(calls: int = 200_000) -> dict[str, float]:
    """The interceptor and claim counter's own CPU, in-memory values and multiprocess files
    (each in a fresh interpreter: prometheus_client picks its mode at import)."""
    out: dict[str, float] = {}
    for mode in ("on", "files"):
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        files = tempfile.mkdtemp(prefix="rxgw-metrics-micro-") if mode == "files" else None
        if files is not None:
            env["PROMETHEUS_MULTIPROC_DIR"] = files
        try:
            line = subprocess.run(
                [sys.executable, __file__, "--micro-child", str(calls)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            ).stdout
        finally:
            if files is not None:
                shutil.rmtree(files, ignore_errors=True)
        out[f"metrics_us_per_call_{mode}"] = json.loads(line)["metrics_us_per_call"]
    return out


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (alternating)")
    parser.add_argument("--claims", type=int, default=2500, help="measured claims per run")
    parser.add_argument("--concurrency", type=int, default=16, help="claims in flight")
    parser.add_argument("--modes", default=",".join(MODES), help="of: " + ", ".join(MODES))
    parser.add_argument("--micro-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.micro_child:
        print(json.dumps(await _micro(args.micro_child)))
        return 0
    print(json.dumps(micro()), flush=True)
    modes = [m for m in args.modes.split(",") if m]
    url = os.environ.get("RX_GATEWAY_DATABASE_URL")
    if not url:
        print("set RX_GATEWAY_DATABASE_URL to a PostgreSQL server", file=sys.stderr)
        return 2
    runs = args.runs * len(modes)
    needed = runs * (WARM_CLAIMS + args.claims)
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-metrics-cost-"))
    name = f"rxgw_metrics_cost_{os.getpid()}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    try:
        # past about 35,000 the generator's cardholder IDs start to repeat
        fixtures = generate(workdir / "data", members=min(int(needed * 1.3) + 1000, MEMBERS_MAX))
        database = Database(dsn)
        await database.migrate()
        await database.load(workdir / "data")
        members = active_members(workdir / "data")
        if len(members) < needed:
            msg = f"{len(members)} members for {needed} claims: use fewer --claims or --runs"
            raise RuntimeError(msg)
        requests = [
            claim_request(
                fixtures,
                member,
                fixtures["drugs"]["generic"],
                pharmacy=fixtures["pharmacies"]["preferred"],
                rx_number=700_000 + index,
                date_of_service="20261110",
            )
            for index, member in enumerate(members[:needed])
        ]
        results = []
        for run in range(args.runs):
            # alternate the order too, so neither mode always runs on the fuller database
            order = modes if run % 2 == 0 else list(reversed(modes))
            for mode in order:
                chunk, requests = (
                    requests[: WARM_CLAIMS + args.claims],
                    requests[WARM_CLAIMS + args.claims :],
                )
                result = await one_run(mode, dsn, chunk[:WARM_CLAIMS], chunk[WARM_CLAIMS:], args)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        admin = await asyncpg.connect(url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        shutil.rmtree(workdir, ignore_errors=True)
    summary: dict[str, Any] = {}
    for mode in modes:
        values = [r["cpu_ms_per_claim"] for r in results if r["mode"] == mode]
        summary[f"cpu_ms_per_claim_{mode}_median"] = round(statistics.median(values), 4)
        summary[f"cpu_ms_per_claim_{mode}_runs"] = values
    if "off" in modes:
        base = summary["cpu_ms_per_claim_off_median"]
        for mode in modes:
            if mode != "off":
                ratio = summary[f"cpu_ms_per_claim_{mode}_median"] / base
                summary[f"{mode}_vs_off"] = round(ratio, 4)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
