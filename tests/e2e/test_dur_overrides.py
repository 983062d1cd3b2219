"""Refill overrides and DUR through both doors (issue 15): the same claim answers the same
through Submit and through a raw D.0 Transmit (420-DK in the claim segment, segment 08 in the
request, segment 24 in the response)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import Segment, decode_response, encode
from rx_gateway.tools.synthetic import active_members
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import generic_fill
from tests.support_d0 import request_transmission


@pytest.fixture(scope="module")
def people(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial members no other test bills for."""
    members = active_members(dataset[0])
    return [m for m in members[1500:] if m["plan_id"] == "COMM-HRA-2026"][:6]


def _fill(fixtures: dict[str, Any], member: dict[str, Any], drug: str, rx: int, day: str) -> Any:
    return generic_fill(fixtures, member, rx, day, drug=drug)


async def _raw(client: GatewayClient, request: pb.ClaimRequest) -> tuple[str, list[str], Any]:
    reply = decode_response(await client.transmit(encode(request_transmission([request]))))
    group = reply.transactions[0]
    status = next(s for s in group if s.segment_id == "21")
    dur = next((s for s in group if s.segment_id == "24"), Segment("24"))
    return status.get("AN"), status.all("FB"), dur


async def test_a_vacation_supply_overrides_a_refill_too_soon_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    member = people[0]
    first = _fill(fixtures, member, "generic_copay", rx_number(), "20261101")
    assert (await client.submit(first)).transaction_response_status == "P"
    early = _fill(fixtures, member, "generic_copay", rx_number(), "20261110")
    assert [r.code for r in (await client.submit(early)).rejects] == ["79"]
    assert (await _raw(client, early))[:2] == ("R", ["79"])
    early.claim.submission_clarification_codes.append(3)  # vacation supply
    raw = await _raw(client, early)
    assert raw[0] == "P", raw
    assert (await client.reverse(reversal_for(early))).transaction_response_status == "A"
    structured = await client.submit(early)
    assert structured.transaction_response_status == "P"
    lost = _fill(fixtures, member, "generic_copay", rx_number(), "20261111")
    lost.claim.submission_clarification_codes.append(7)  # medically necessary: not this plan's
    refused = await client.submit(lost)
    assert [r.code for r in refused.rejects] == ["79"]
    assert "420-DK 7 (medically necessary) is not accepted" in refused.rejects[0].text or any(
        "is not accepted" in m for m in (refused.message, *refused.additional_messages)
    )


async def test_a_therapeutic_duplication_is_88_until_the_pharmacist_overrides_it(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    member = people[1]
    first = _fill(fixtures, member, "duplicate_a", rx_number(), "20261101")
    assert (await client.submit(first)).transaction_response_status == "P"
    second = _fill(fixtures, member, "duplicate_b", rx_number(), "20261105")
    refused = await client.submit(second)
    assert [r.code for r in refused.rejects] == ["88"]
    (conflict,) = refused.dur_responses
    assert (conflict.reason_for_service, conflict.previous_date_of_fill) == ("TD", "20261101")
    assert conflict.other_pharmacy_indicator == "1"
    status, rejects, dur = await _raw(client, second)
    assert (status, rejects) == ("R", ["88"])
    assert (dur.get("E4"), dur.get("FU"), dur.get("FT")) == ("TD", "20261101", "1")
    second.dur_services.add(
        reason_for_service="TD", professional_service="M0", result_of_service="1G"
    )
    raw = await _raw(client, second)
    assert raw[0] == "P" and raw[2].get("E4") == "TD"  # paid, the conflict reported
    assert (await client.reverse(reversal_for(second))).transaction_response_status == "A"
    paid = await client.submit(second)
    assert paid.transaction_response_status == "P"
    assert [c.reason_for_service for c in paid.dur_responses] == ["TD"]


async def test_an_interaction_is_88_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    member = people[2]
    first = _fill(fixtures, member, "interacting_a", rx_number(), "20261101")
    assert (await client.submit(first)).transaction_response_status == "P"
    second = _fill(fixtures, member, "interacting_b", rx_number(), "20261103")
    structured = await client.submit(second)
    assert [r.code for r in structured.rejects] == ["88"]
    assert structured.dur_responses[0].reason_for_service == "DD"
    assert structured.dur_responses[0].clinical_significance == "1"
    status, rejects, dur = await _raw(client, second)
    assert (status, rejects, dur.get("E4"), dur.get("FS")) == ("R", ["88"], "DD", "1")


async def test_vacation_overrides_are_counted_per_plan_year_from_the_stored_fills(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    """The plan allows two vacation supplies a plan year: the count comes from the claims the
    database holds (each paid override is kept with its claim), so the third is refused with
    the count, through both doors, and a reversed override no longer counts."""
    member = people[3]
    day = iter(["20261101", "20261103", "20261105", "20261107"])
    assert (
        await client.submit(_fill(fixtures, member, "generic_copay", rx_number(), next(day)))
    ).transaction_response_status == "P"
    vacations = []
    for _ in range(2):
        early = _fill(fixtures, member, "generic_copay", rx_number(), next(day))
        early.claim.submission_clarification_codes.append(3)
        assert (await client.submit(early)).transaction_response_status == "P"
        vacations.append(early)
    third = _fill(fixtures, member, "generic_copay", rx_number(), next(day))
    third.claim.submission_clarification_codes.append(3)
    refused = await client.submit(third)
    assert [r.code for r in refused.rejects] == ["79"]
    said = (refused.message, *refused.additional_messages)
    assert any("420-DK 3 (vacation supply) used 2 of 2 times this plan year" in m for m in said)
    assert (await _raw(client, third))[:2] == ("R", ["79"])
    assert (await client.reverse(reversal_for(vacations[1]))).transaction_response_status == "A"
    assert (await _raw(client, third))[0] == "P"
