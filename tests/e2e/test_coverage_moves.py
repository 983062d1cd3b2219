"""One person across lines of business and plan years (issue 3: members across coverages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rx_gateway.bootstrap import Database
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb


async def test_claims_follow_the_coverage_in_force_and_its_plan_year(
    client: GatewayClient,
    dataset: tuple[Path, dict[str, Any]],
    loaded_dsn: str,
    tmp_path: Path,
    rx_number: Any,
) -> None:
    """Commercial through 2026-06-30, then Part D: each date of service adjudicates under the
    plan in force; the other plan's BIN/PCN is refused; a December 2025 deductible counts in
    2025, not in 2026."""
    fixtures = dataset[1]
    member = active_members(dataset[0])[600]  # a member no other test bills for
    member_id = member["member_id"]
    (tmp_path / "coverages.csv").write_text(
        "member_id,plan_id,group_id,start_date,end_date,end_reason,line_of_business\n"
        f"{member_id},HDHP-2026,HD-1,2025-01-01,2026-06-30,expired,COMMERCIAL\n"
        f"{member_id},PARTD-STD-2026,PD-1,2026-07-01,,,MEDICARE_PART_D\n"
    )
    await Database(loaded_dsn).load(tmp_path)
    hdhp = member | {"plan_id": "HDHP-2026", "group_id": "HD-1"}
    part_d = member | {"plan_id": "PARTD-STD-2026", "group_id": "PD-1"}

    def fill(who: dict[str, Any], date: str) -> pb.ClaimRequest:
        return claim_request(
            fixtures,
            who,
            fixtures["drugs"]["preferred_brand"],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=date,
        )

    december = await client.submit(fill(hdhp, "20251215"))
    assert december.transaction_response_status == "P"
    assert december.plan_id == "HDHP-2026"
    assert december.accumulators.plan_year == "20250101"
    january = await client.submit(fill(hdhp, "20260120"))
    assert january.accumulators.plan_year == "20260101"
    # the new plan year starts from zero: January's deductible is not reduced by December's
    assert january.accumulators.deductible_individual_met_cents == (
        january.pricing.amount_applied_to_periodic_deductible_cents
    )
    late_commercial = await client.submit(fill(hdhp, "20260801"))
    assert [r.code for r in late_commercial.rejects] == ["68"]
    part_d_claim = await client.submit(fill(part_d, "20260801"))
    assert part_d_claim.transaction_response_status == "P"
    assert part_d_claim.plan_id == "PARTD-STD-2026"
    assert next(s.qualifier for s in part_d_claim.pricing.benefit_stages) == "01"
    early_part_d = await client.submit(fill(part_d, "20260301"))
    assert [r.code for r in early_part_d.rejects] == ["67"]
