"""A first open-loop benchmark of the gateway: real server process, real gRPC, real database.

Claims leave at a constant arrival rate whatever the replies do, and each latency is measured
from the claim's *intended* send time, so a slow reply cannot hide the queue behind it
(coordinated omission). The server runs as a separate `rx-gateway serve` process on an embedded
PostgreSQL (or RX_GATEWAY_DATABASE_URL) loaded with the synthetic data. Traffic goes only to
127.0.0.1; every run is bounded in count and time.

    python benchmarks/open_loop.py --rates 200,400,600 --seconds 10

The full benchmark of issue 4 (HDR histogram, floor measurement, rate search, report and plot)
builds on this.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rx_gateway.client import GatewayClient
from rx_gateway.data.claims import claim_request
from rx_gateway.data.synthetic import active_members, generate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _population(data: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    members = active_members(data)
    open_entries = {
        r["ndc"]
        for r in csv.DictReader((data / "formulary.csv").open())
        if r["status"] == "covered"
        and r["prior_authorization_required"] == "false"
        and not r["quantity_limit_thousandths"]
        and r["tier"] in {"1", "2", "3"}
    }
    drugs = [
        {"ndc": d["ndc"], "awp_unit_price_millicents": int(d["awp_unit_price_millicents"])}
        for d in csv.DictReader((data / "drugs.csv").open())
        if d["ndc"] in open_entries
    ]
    pharmacies = [
        p["npi"]
        for p in csv.DictReader((data / "pharmacies.csv").open())
        if p["network"] != "out_of_network"
    ]
    return members, drugs, pharmacies


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def _run_rate(
    client: GatewayClient,
    fixtures: dict[str, Any],
    population: Any,
    rate: int,
    seconds: float,
    rx_start: int,
    rng: random.Random,
) -> dict[str, Any]:
    members, drugs, pharmacies = population
    count = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    start = time.perf_counter() + 0.2

    async def one(index: int) -> None:
        nonlocal errors
        intended = start + index / rate
        request = claim_request(
            fixtures,
            rng.choice(members),
            rng.choice(drugs),
            pharmacy=rng.choice(pharmacies),
            rx_number=rx_start + index,
            date_of_service=f"2026{rng.randrange(1, 11):02d}{rng.randrange(1, 29):02d}",
        )
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            response = await client.submit(request, timeout_s=5.0)
        except Exception:
            errors += 1
            return
        latencies.append(time.perf_counter() - intended)
        key = response.transaction_response_status + "".join(
            "/" + r.code for r in response.rejects[:1]
        )
        statuses[key] = statuses.get(key, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    ms = [v * 1000 for v in latencies]
    return {
        "rate": rate,
        "sent": count,
        "achieved_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(ms, 0.50), 2),
        "p90_ms": round(_percentile(ms, 0.90), 2),
        "p99_ms": round(_percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1] if ms else 0.0, 2),
        "errors": errors,
        "statuses": dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
    }


async def main(rates: list[int], seconds: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-bench-"))
    env = dict(
        os.environ,
        RX_GATEWAY_DATA_DIR=str(workdir / "state"),
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_BUSINESS_DATE="2026-11-23",  # the synthetic claims are dated in 2026
    )
    port = _free_port()
    server = None
    try:
        fixtures = generate(workdir / "data")
        subprocess.run(
            [sys.executable, "-m", "rx_gateway", "load", str(workdir / "data")],
            env=env,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert server.stdout is not None
        server.stdout.readline()  # "rx-gateway listening on port N"
        population = _population(workdir / "data")
        rng = random.Random(7)
        async with GatewayClient(f"127.0.0.1:{port}") as client:
            await _run_rate(client, fixtures, population, 100, 2, 10_000_000, rng)  # warm-up
            for number, rate in enumerate(rates, 1):
                result = await _run_rate(
                    client, fixtures, population, rate, seconds, number * 1_000_000, rng
                )
                print(json.dumps(result), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="200,400,600")
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    asyncio.run(main([int(r) for r in arguments.rates.split(",")], min(arguments.seconds, 60.0)))
