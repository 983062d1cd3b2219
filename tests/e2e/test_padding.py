"""Trailing spaces are padding on both doors (D.0's text fields are left-justified and
space-filled); a leading space is content, which the field's checks answer on both."""

from __future__ import annotations

from typing import Any

import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import generic_fill
from tests.support_d0 import request_transmission

DAY = "20260527"  # no other test fills the generic for this member near it


async def _both_doors(client: GatewayClient, request: pb.ClaimRequest, fid: bytes, sent: str):
    """The claim through Submit with the field as ``sent``, and as raw D.0 bytes with the
    field's value spliced in by hand: each door's status and reject codes."""
    structured = await client.submit(request)
    plain = pb.ClaimRequest()
    plain.CopyFrom(request)
    value = sent.strip(" ")
    for segment, name in (
        ("insurance", "cardholder_id"),
        ("insurance", "group_id"),
        ("insurance", "person_code"),
        ("claim", "prior_authorization_number"),
    ):
        if getattr(getattr(plain, segment), name) == sent:
            setattr(getattr(plain, segment), name, value)
    raw = encode(request_transmission([plain]))
    field = b"\x1c" + fid + value.encode()
    assert raw.count(field) == 1
    answer = decode_response(
        await client.transmit(raw.replace(field, b"\x1c" + fid + sent.encode()))
    )
    status = next(s for s in answer.transactions[0] if s.segment_id == "21")
    return (
        (structured.transaction_response_status, [r.code for r in structured.rejects]),
        (status.get("AN"), status.all("FB")),
    )


@pytest.mark.parametrize(
    ("segment", "name", "fid", "pad", "expected"),
    [
        ("insurance", "cardholder_id", b"C2", "{} ", ("P", [])),
        ("insurance", "cardholder_id", b"C2", "{}      ", ("P", [])),
        ("insurance", "group_id", b"C1", "{}  ", ("P", [])),
        ("insurance", "person_code", b"C3", " {}", ("R", ["08"])),
        ("insurance", "cardholder_id", b"C2", " {}", ("R", ["07"])),
    ],
    ids=[
        "cardholder-trailing",
        "cardholder-full-width",
        "group-trailing",
        "person-leading",
        "cardholder-leading",
    ],
)
async def test_padding_means_the_same_through_both_doors(
    client: GatewayClient,
    fixtures: dict[str, Any],
    rx_number: Any,
    segment: str,
    name: str,
    fid: bytes,
    pad: str,
    expected: tuple[str, list[str]],
) -> None:
    request = generic_fill(fixtures, fixtures["members"]["commercial_single"], rx_number(), DAY)
    value = getattr(getattr(request, segment), name)
    assert value, name
    setattr(getattr(request, segment), name, pad.format(value))
    structured, raw = await _both_doors(client, request, fid, pad.format(value))
    assert structured == expected
    # paid: the raw door's claim is the same claim (D, the stored answer); else the same reject
    assert raw == (("D", []) if expected[0] == "P" else expected)
    if expected[0] == "P":
        reversal = reversal_for(request)
        reversal.insurance.cardholder_id = reversal.insurance.cardholder_id.strip(" ")
        assert (await client.reverse(reversal)).transaction_response_status == "A"


async def test_a_header_field_with_a_leading_space_is_refused_on_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """104-A4 " RXG..." (a leading space inside the fixed-width header): 04 on both doors (the
    raw door stripped it and paid)."""
    request = generic_fill(fixtures, fixtures["members"]["commercial_single"], rx_number(), DAY)
    pcn = request.header.processor_control_number
    raw = bytearray(encode(request_transmission([request])))
    assert raw[10:20].decode() == pcn.ljust(10)  # 101-A1, 102-A2, 103-A3, then 104-A4
    raw[10:20] = f" {pcn}".ljust(10).encode()
    request.header.processor_control_number = f" {pcn}"
    structured = await client.submit(request)
    assert [r.code for r in structured.rejects] == ["04"]
    answer = decode_response(await client.transmit(bytes(raw)))
    codes = [
        code
        for group in (answer.segments, *answer.transactions)
        for segment in group
        if segment.segment_id == "21"
        for code in segment.all("FB")
    ]
    assert codes == ["04"], codes


async def test_a_dur_code_padded_with_a_space_means_the_code(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """440-E5 "M0 " on the raw door is the code M0, as "M0 " is on the structured door."""
    request = generic_fill(fixtures, fixtures["members"]["commercial_single"], rx_number(), DAY)
    request.dur_services.add(reason_for_service="ER", professional_service="M0 ")
    structured = await client.submit(request)
    reversal = reversal_for(request)
    if structured.transaction_response_status == "P":
        assert (await client.reverse(reversal)).transaction_response_status == "A"
    raw = encode(request_transmission([request]))
    answer = decode_response(await client.transmit(raw))
    status = next(s for s in answer.transactions[0] if s.segment_id == "21")
    assert (status.get("AN"), status.all("FB")) == (
        structured.transaction_response_status,
        [r.code for r in structured.rejects],
    )
    if status.get("AN") == "P":
        assert (await client.reverse(reversal)).transaction_response_status == "A"
