"""415-DF Number of Refills Authorized is "sent or not": 0 sent says the prescription has no
refills (a fill 403-D3 of 1 or more is 17 through both doors), not sent says nothing."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import request_transmission

NO_REFILLS = "Fill 1 (403-D3) is a refill, and 415-DF says no refills are authorized"


def _refill(fixtures: dict[str, Any], rx: int) -> pb.ClaimRequest:
    """A first refill (403-D3 = 1) with 415-DF left out."""
    member = fixtures["members"]["commercial_child"]
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service="20260811",  # no other test fills this drug for this member on it
    )
    request.claim.fill_number = 1
    assert not request.claim.HasField("number_of_refills_authorized")
    return request


async def test_a_refill_of_a_prescription_with_no_refills_is_17_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """415-DF = 0 sent with fill 1: 17, written as a grpcurl user writes it (JSON, the field
    set to 0) and as raw D.0 bytes with the field spliced in by hand; left out, the same refill
    is paid."""
    request = _refill(fixtures, rx_number())
    as_json = json_format.MessageToDict(request)
    as_json["claim"]["numberOfRefillsAuthorized"] = 0
    sent_zero = json_format.ParseDict(as_json, pb.ClaimRequest())
    answer = await client.submit(sent_zero)
    assert [r.code for r in answer.rejects] == ["17"]
    assert NO_REFILLS in (*answer.additional_messages, *(r.text for r in answer.rejects))

    raw = encode(request_transmission([request]))  # no DF in it
    fill = b"\x1cD301"
    assert raw.count(fill) == 1 and b"\x1cDF" not in raw
    with_df = raw.replace(fill, fill + b"\x1cDF0")
    decoded = decode_response(await client.transmit(with_df))
    status = next(s for s in decoded.transactions[0] if s.segment_id == "21")
    assert (status.get("AN"), status.all("FB")) == ("R", ["17"])
    blank_df = raw.replace(fill, fill + b"\x1cDF  ")  # blank: not sent
    decoded = decode_response(await client.transmit(blank_df))
    status = next(s for s in decoded.transactions[0] if s.segment_id == "21")
    assert status.get("AN") == "P", status.all("FB")
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"

    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", paid.rejects
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
