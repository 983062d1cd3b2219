"""The benefit inquiry over gRPC, and eligibility changes seen by a running gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from rx_gateway.bootstrap import Database
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import benefit_request


def _lines(reply: pb.BenefitResponse) -> dict[tuple[str, str], pb.AccumulatorLine]:
    return {(a.kind, a.level): a for a in reply.accumulators}


async def test_benefits_follow_a_paid_claim_and_a_coverage_change(
    client: GatewayClient, fixtures: dict[str, Any], loaded_dsn: str, tmp_path: Path, rx_number: Any
) -> None:
    """Accumulators and the HRA move by exactly the claim's amounts; a loaded termination
    shows at once and the next claim is rejected 69, with no restart."""
    member = fixtures["members"]["commercial_woman"]
    ask = benefit_request(fixtures, member, "20261110")
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
    assert [(p.kind, p.purse_id) for p in after.purses][:1] == [("HRA", "")]  # no purse ID
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


async def test_unknown_member_and_bad_date(client: GatewayClient, fixtures: dict[str, Any]) -> None:
    """NOT_FOUND for nobody; INVALID_ARGUMENT naming the field for a bad or missing one."""
    member = fixtures["members"]["commercial_woman"]
    nobody = benefit_request(fixtures, member, "20261101", cardholder_id="NOBODY")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.get_benefits(nobody)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    for field, value in (
        ("as_of_date", "2026-11-01"),
        ("bin", ""),
        ("processor_control_number", ""),
        ("date_of_birth", ""),
        ("cardholder_id", "AB\x00CD"),
        ("person_code", "\u0661"),  # an Arabic-Indic digit is not a digit here
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.get_benefits(
                benefit_request(fixtures, member, "20261101", **{field: value})
            )
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in (caught.value.details() or ""), field


async def test_benefits_are_scoped_to_the_bin_pcn_and_the_date_of_birth(
    client: GatewayClient, fixtures: dict[str, Any]
) -> None:
    """A wrong date of birth, another payer's BIN/PCN, or a plan the member is not covered
    under: each answers exactly as for a member who does not exist (no oracle)."""
    member = fixtures["members"]["commercial_single"]
    assert (await client.get_benefits(benefit_request(fixtures, member, "20261110"))).plan_id
    part_d = fixtures["plans"]["PARTD-STD-2026"]
    answers = []
    for overrides in (
        {"cardholder_id": "NOBODY"},
        {"date_of_birth": "19000101"},
        {"bin": part_d["bin"], "processor_control_number": part_d["pcn"]},
        {"processor_control_number": "NOSUCHPCN"},
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await client.get_benefits(benefit_request(fixtures, member, "20261110", **overrides))
        answers.append((caught.value.code(), caught.value.details()))
    assert len(set(answers)) == 1
    assert answers[0][0] is grpc.StatusCode.NOT_FOUND


async def test_benefits_without_a_person_code_match_on_the_date_of_birth(
    client: GatewayClient, fixtures: dict[str, Any]
) -> None:
    """303-C3 may be left out: the date of birth tells the member apart on the card."""
    member = fixtures["members"]["commercial_single"]
    with_code = await client.get_benefits(benefit_request(fixtures, member, "20261110"))
    without = await client.get_benefits(
        benefit_request(fixtures, member, "20261110", person_code="")
    )
    assert without == with_code
