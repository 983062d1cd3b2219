"""A retransmission is the same claim whichever way it is written: 406-D6 "1, not a compound"
(what a switch sends) and 406-D6 left out (what a structured client often does) are one claim."""

from __future__ import annotations

from typing import Any

import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import generic_fill
from tests.support_d0 import request_transmission

DAY = "20260529"  # no other test fills the generic for this member near it


async def test_a_claim_sent_with_and_without_406_d6_1_is_one_claim(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Paid through Submit without 406-D6, then sent raw with D6=1 spliced in by hand, and
    structured with compound_code 1: D each time (it was 83, another claim under the key)."""
    request = generic_fill(fixtures, fixtures["members"]["commercial_woman"], rx_number(), DAY)
    assert request.claim.compound_code == 0
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects

    raw = encode(request_transmission([request]))
    assert b"\x1cD6" not in raw
    fill = b"\x1cD300"
    assert raw.count(fill) == 1
    answer = decode_response(await client.transmit(raw.replace(fill, fill + b"\x1cD61")))
    status = next(s for s in answer.transactions[0] if s.segment_id == "21")
    assert (status.get("AN"), status.all("FB")) == ("D", [])

    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


@pytest.mark.parametrize(
    "field",
    [
        "compound_code",  # 406-D6 1, not a compound
        "number_of_refills_authorized",  # 415-DF 0 on an original fill: stored claims read so
    ],
)
async def test_a_structured_retransmission_written_another_way_is_the_same_claim(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, field: str
) -> None:
    """Paid without the field, sent again with it (1, or 0): D with the paid claim's 993-A7."""
    request = generic_fill(fixtures, fixtures["members"]["commercial_woman"], rx_number(), DAY)
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    again = pb.ClaimRequest()
    again.CopyFrom(request)
    setattr(again.claim, field, 1 if field == "compound_code" else 0)
    assert again.SerializeToString() != request.SerializeToString()  # the field is on the wire
    duplicate = await client.submit(again)
    assert duplicate.transaction_response_status == "D"
    assert duplicate.internal_control_number == paid.internal_control_number
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
