"""A synthetic year of claims with realistic utilization (issue 18), sent through the gateway:
every claim is answered, most are paid, the generic dispensing rate and the share of 90-day
fills land where the generator's shapes put them, and the same seed gives the same claims."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.utilization import year_fills, year_of_claims
from tests.support import TEST_SETTINGS


def _members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    return active_members(dataset[0])[735:800]  # members no other test bills for


async def test_a_year_of_claims_reads_like_a_plans_year(
    client: GatewayClient, dataset: tuple[Path, dict[str, Any]]
) -> None:
    directory, fixtures = dataset
    members = _members(dataset)
    requests = list(year_of_claims(directory, fixtures, members, seed=11))
    assert len(requests) > 5 * len(members)  # more than a handful of fills a member
    assert [r.header.date_of_service for r in requests] == sorted(
        r.header.date_of_service for r in requests
    )
    answers = []
    step = 16  # at once, under the admission's free in-flight count (32)
    for chunk in range(0, len(requests), step):  # claims of one card keep their order (turns)
        answers += await asyncio.gather(*(client.submit(r) for r in requests[chunk : chunk + step]))
    statuses = Counter(a.transaction_response_status for a in answers)
    assert set(statuses) <= {"P", "R"}, statuses
    assert statuses["P"] >= 0.7 * len(answers), statuses
    brands = {
        d["ndc"]
        for name, d in fixtures["drugs"].items()
        if isinstance(d, dict) and name in ("preferred_brand", "multi_source_brand")
    }
    paid = [
        r for r, a in zip(requests, answers, strict=True) if a.transaction_response_status == "P"
    ]
    ninety = sum(1 for r in paid if r.claim.days_supply == 90)
    assert ninety > 0
    names = {r.claim.product_id for r in paid}
    assert names - brands  # generics among them
    same = year_fills(directory, fixtures, members, seed=11)
    assert [f.drug["ndc"] for f in same] == [r.claim.product_id for r in requests]


def test_the_generic_dispensing_rate_and_mail_share_are_realistic(
    dataset: tuple[Path, dict[str, Any]],
) -> None:
    """Over the whole synthetic population (no gateway): generics 80-95% of fills, 90-day
    fills a few percent to a quarter, specialty rare."""
    directory, fixtures = dataset
    fills = year_fills(directory, fixtures, active_members(directory), seed=3)
    brands = set()
    with (directory / "drugs.csv").open() as handle:
        header = handle.readline().rstrip("\n").split(",")
        for line in handle:
            row = dict(zip(header, line.rstrip("\n").split(","), strict=True))
            if row["is_brand"] == "true":
                brands.add(row["ndc"])
    generic_rate = sum(1 for f in fills if f.drug["ndc"] not in brands) / len(fills)
    ninety = sum(1 for f in fills if f.days_supply == 90) / len(fills)
    specialty = sum(1 for f in fills if f.pharmacy == fixtures["pharmacies"]["specialty"])
    assert 0.80 <= generic_rate <= 0.97, generic_rate
    assert 0.02 <= ninety <= 0.25, ninety
    assert 0 < specialty < 0.05 * len(fills)


async def test_the_synthetic_year_replays_exactly(
    fresh_loaded_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Issue 18: replaying the synthetic year's stored claims under the unchanged design
    reproduces every stored amount (`rx-gateway simulate` prints the rate first), on a
    database that holds that year alone."""
    directory, fixtures = dataset
    dsn = await fresh_loaded_database()
    app = await build_app(replace(TEST_SETTINGS), dsn)
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            requests = list(year_of_claims(directory, fixtures, _members(dataset), seed=5))
            for chunk in range(0, len(requests), 16):
                await asyncio.gather(*(client.submit(r) for r in requests[chunk : chunk + 16]))
    finally:
        await app.stop()
    design = tmp_path / "design.json"
    design.write_text(
        json.dumps(
            {
                "name": "tier 1 at $5",
                "plans": {"COMM-HRA-2026": {"tiers": {"1": {"copay_cents": 500}}}},
            }
        )
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rx_gateway", "simulate", "--design", str(design),
        "--out", str(tmp_path / "report"),
        env=dict(os.environ, RX_GATEWAY_DATABASE_URL=dsn),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    first = out.decode().splitlines()[0]
    assert first.startswith("reproduction rate: 100.00%"), out.decode()
    assert (tmp_path / "report" / "report.json").exists()
    # a design that funds no HRA: the purses pay less, the members more, the plan the same
    # or more (nothing else changed)
    design.write_text(json.dumps({"name": "no HRA", "purse_funding": {"HRA": {"scale_bp": 0}}}))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rx_gateway", "simulate", "--design", str(design),
        "--out", str(tmp_path / "no-hra"),
        env=dict(os.environ, RX_GATEWAY_DATABASE_URL=dsn),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    overall = json.loads((tmp_path / "no-hra" / "report.json").read_text())["overall"]
    real, simulated = overall["real"], overall["simulated"]
    assert simulated["purse_paid_cents"] < real["purse_paid_cents"]
    assert simulated["member_paid_cents"] > real["member_paid_cents"]
    assert simulated["member_paid_cents"] - real["member_paid_cents"] >= real[
        "purse_paid_cents"
    ] - simulated["purse_paid_cents"] - (simulated["plan_paid_cents"] - real["plan_paid_cents"])
