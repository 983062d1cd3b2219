"""A synthetic year of claims with realistic utilization (issue 18), sent through the gateway:
every claim is answered, most are paid, the generic dispensing rate and the share of 90-day
fills land where the generator's shapes put them, and the same seed gives the same claims."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.utilization import year_fills, year_of_claims


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
