"""The benefit inquiry over gRPC, and eligibility changes seen by a running gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from rx_gateway.bootstrap import Database
from rx_gateway.client import GatewayClient
from rx_gateway.data.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb


def _lines(reply: pb.BenefitResponse) -> dict[tuple[str, str], pb.AccumulatorLine]:
    return {(a.kind, a.level): a for a in reply.accumulators}


async def test_benefits_follow_a_paid_claim_and_a_coverage_change(
    client: GatewayClient, fixtures: dict[str, Any], loaded_dsn: str, tmp_path: Path, rx_number: Any
) -> None:
    """Accumulators and the HRA move by exactly the claim's amounts; a loaded termination
    shows at once and the next claim is rejected 69, with no restart."""
    member = fixtures["members"]["commercial_woman"]
    ask = pb.BenefitRequest(
        cardholder_id=member["cardholder_id"],
        person_code=member["person_code"],
        as_of_date="20261110",
    )
    before = await client.get_benefits(ask)
    assert before.plan_id == "COMM-HRA-2026"
    assert before.plan_year == "20260101"
    assert [c.in_force for c in before.coverages] == [True]
    deductible = _lines(before)[("deductible", "individual")]
    assert (deductible.has_limit, deductible.limit_cents) == (True, 25_000)

    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["preferred_brand"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261105",
    )
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P"
    after = await client.get_benefits(ask)
    moved = paid.pricing.amount_applied_to_periodic_deductible_cents
    assert _lines(after)[("deductible", "individual")].met_cents == deductible.met_cents + moved
    assert (
        _lines(after)[("deductible", "individual")].remaining_cents
        == deductible.remaining_cents - moved
    )
    hra_before = before.purses[0].available_cents
    assert (
        after.purses[0].available_cents
        == hra_before + paid.pricing.health_plan_funded_assistance_amount_cents
    )

    (tmp_path / "coverages.csv").write_text(
        "member_id,plan_id,group_id,start_date,end_date,end_reason,line_of_business\n"
        f"{member['member_id']},COMM-HRA-2026,{member['group_id']},2025-01-01,2026-11-06,terminated,COMMERCIAL\n"
    )
    await Database(loaded_dsn).load(tmp_path)
    terminated = await client.get_benefits(ask)
    assert [c.in_force for c in terminated.coverages] == [False]
    assert terminated.plan_id == ""
    request.claim.prescription_reference_number = f"{rx_number():012d}"
    request.header.date_of_service = "20261110"
    rejected = await client.submit(request)
    assert [r.code for r in rejected.rejects] == ["69"]


async def test_unknown_member_and_bad_date(client: GatewayClient) -> None:
    """NOT_FOUND for nobody; INVALID_ARGUMENT naming as_of_date for a bad date."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.get_benefits(
            pb.BenefitRequest(cardholder_id="NOBODY", person_code="001", as_of_date="20261101")
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.get_benefits(
            pb.BenefitRequest(cardholder_id="NOBODY", person_code="001", as_of_date="2026-11-01")
        )
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "as_of_date" in (caught.value.details() or "")
