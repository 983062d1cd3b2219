"""The raw D.0 door (issue 6) over a real gRPC channel and the real ledger: the same claims
decide the same way as through the structured door; multi-transaction B1, duplicates, B2, an
atomic B3, E1, header-level rejects, and the `rx-gateway ncpdp` commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import Transmission, decode_money, decode_response, encode
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import (
    eligibility_transmission,
    request_transmission,
    reversal_transmission,
)


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial members no other test bills for."""
    return [m for m in active_members(dataset[0])[800:] if m["plan_id"] == "COMM-HRA-2026"][:6]


def _fill(
    fixtures: dict[str, Any], member: dict[str, Any], drug: str, rx: int, **kw: Any
) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=kw.pop("date_of_service", "20261105"),
        **kw,
    )


async def _send(client: GatewayClient, transmission: Transmission) -> Transmission:
    return decode_response(await client.transmit(encode(transmission)))


def _status(group: tuple[Any, ...]) -> tuple[str, list[str]]:
    status = next(s for s in group if s.segment_id == "21")
    return status.get("AN"), status.all("FB")


def _amounts(group: tuple[Any, ...]) -> dict[str, int]:
    pricing = next((s for s in group if s.segment_id == "23"), None)
    if pricing is None:
        return {}
    return {fid: decode_money(v) for fid, v in pricing.fields if fid not in {"FM", "MU", "MV"}}


def _structured_amounts(reply: pb.ClaimResponse) -> dict[str, int]:
    p = reply.pricing
    if not reply.HasField("pricing"):
        return {}
    return {
        "F5": p.patient_pay_amount_cents,
        "F6": p.ingredient_cost_paid_cents,
        "F7": p.dispensing_fee_paid_cents,
        "F9": p.total_amount_paid_cents,
        "FH": p.amount_applied_to_periodic_deductible_cents,
        "FI": p.amount_of_copay_cents,
        "4U": p.amount_of_coinsurance_cents,
        "UJ": p.amount_attributed_to_provider_network_selection_cents,
        "UD": p.health_plan_funded_assistance_amount_cents,
        "UN": p.amount_attributed_to_brand_non_preferred_formulary_cents,
    }


@pytest.mark.parametrize(
    ("drug", "kw"),
    [
        ("generic", {}),
        ("preferred_brand", {}),
        ("multi_source_brand", {"quantity_thousandths": 300_000}),
        ("insulin", {"quantity_thousandths": 10_000}),
        ("excluded", {}),
        ("prior_authorization", {}),
        ("quantity_limited", {"quantity_thousandths": 120_000}),
    ],
)
async def test_raw_and_structured_doors_decide_the_same(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    drug: str,
    kw: dict[str, Any],
) -> None:
    """Structured first; reverse it (state restored); the same claim as raw D.0 then gets the
    same status, rejects and amounts."""
    request = _fill(fixtures, members[0], drug, rx_number(), **kw)
    structured = await client.submit(request)
    if structured.transaction_response_status == "P":
        assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    raw = await _send(client, request_transmission([request]))
    assert raw.header.header_response_status == "A"  # type: ignore[union-attr]
    status, rejects = _status(raw.transactions[0])
    assert status == structured.transaction_response_status
    assert rejects == [r.code for r in structured.rejects]
    amounts = _amounts(raw.transactions[0])
    for field, value in _structured_amounts(structured).items():
        assert amounts[field] == value, field


async def test_multi_transaction_b1_duplicate_b2_and_repeat(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    member = members[1]
    first = _fill(fixtures, member, "generic", rx_number())
    second = _fill(fixtures, member, "preferred_brand", rx_number())
    transmission = request_transmission([first, second])
    reply = await _send(client, transmission)
    assert reply.header.transaction_count == "2"  # type: ignore[union-attr]
    assert [_status(g)[0] for g in reply.transactions] == ["P", "P"]
    again = await _send(client, transmission)  # the switch retransmits
    assert [_status(g)[0] for g in again.transactions] == ["D", "D"]
    auth = [next(s for s in g if s.segment_id == "21").get("F3") for g in reply.transactions]
    assert auth == [
        next(s for s in g if s.segment_id == "21").get("F3") for g in again.transactions
    ]
    reversal = reversal_transmission([reversal_for(first)])
    assert _status((await _send(client, reversal)).transactions[0])[0] == "A"
    assert _status((await _send(client, reversal)).transactions[0])[0] == "S"


async def test_b3_reverses_and_rebills_atomically(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    member = members[2]
    original = _fill(fixtures, member, "quantity_limited", rx_number(), quantity_thousandths=30_000)
    assert (await client.submit(original)).transaction_response_status == "P"
    key_claims = "SELECT count(*) FROM claim WHERE claim_key LIKE '%' || $1 || '%'"
    rx = original.claim.prescription_reference_number

    too_much = pb.ClaimRequest()
    too_much.CopyFrom(original)
    too_much.claim.quantity_dispensed_thousandths = 120_000  # over the 90-unit limit: 76
    rejected = await _send(client, request_transmission([too_much], code="B3"))
    assert _status(rejected.transactions[0]) == ("R", ["76"])
    assert await conn.fetchval(key_claims, rx) == 1  # nothing written: the original stays paid
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM claim_reversal r JOIN claim c USING (claim_id) WHERE c.claim_key LIKE '%' || $1 || '%'",
            rx,
        )
        == 0
    )

    more = pb.ClaimRequest()
    more.CopyFrom(original)
    more.claim.quantity_dispensed_thousandths = 60_000
    more.pricing.ingredient_cost_submitted_cents *= 2
    more.pricing.gross_amount_due_cents = (
        more.pricing.ingredient_cost_submitted_cents + more.pricing.dispensing_fee_submitted_cents
    )
    more.pricing.usual_and_customary_charge_cents *= 2
    rebilled = await _send(client, request_transmission([more], code="B3"))
    assert _status(rebilled.transactions[0])[0] == "P"
    assert await conn.fetchval(key_claims, rx) == 2  # the original (reversed) and generation 2
    # the same B3 again (the switch did not get the answer), alone and five at once: D with
    # the rebill's own answer, nothing reversed or billed again (each retransmission had
    # reversed the rebill and paid a new generation, priced anew)
    paid = next(s for s in rebilled.transactions[0] if s.segment_id == "21").get("F3")
    again = [_send(client, request_transmission([more], code="B3")) for _ in range(6)]
    for replayed in [await again[0], *await asyncio.gather(*again[1:])]:
        status = next(s for s in replayed.transactions[0] if s.segment_id == "21")
        assert (status.get("AN"), status.get("F3")) == ("D", paid)
        assert _amounts(replayed.transactions[0]) == _amounts(rebilled.transactions[0])
    assert await conn.fetchval(key_claims, rx) == 2
    assert (await client.reverse(reversal_for(more))).transaction_response_status == "A"
    # once reversed, the same B3 has nothing paid to replay: it bills again (its reversal leg
    # finds the reversal already made, S, as a repeated B2 does)
    after = await _send(client, request_transmission([more], code="B3"))
    assert _status(after.transactions[0]) == ("P", [])
    assert await conn.fetchval(key_claims, rx) == 3


async def test_e1_over_the_raw_door(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]]
) -> None:
    member = members[3]
    request = pb.EligibilityRequest(
        header=_fill(fixtures, member, "generic", 1).header,
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],
            person_code=member["person_code"],
        ),
    )
    reply = await _send(client, eligibility_transmission(request))
    assert _status(reply.transactions[0])[0] == "A"
    insurance = next(s for s in reply.segments if s.segment_id == "25")
    assert insurance.get("FO") == "COMM-HRA-2026"


def _header_variant(base: Transmission, **changes: str) -> bytes:
    return encode(replace(base, header=replace(base.header, **changes)))  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"version": "D1"}, "1R"),
        ({"transaction_code": "P1"}, "1S"),
        ({"bin": "123456"}, "01"),
        ({"processor_control_number": "NOPE"}, "04"),
        ({"transaction_count": "2"}, "1U"),
        ({"transaction_count": "X"}, "1U"),
    ],
)
async def test_header_level_rejects(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    change: dict[str, str],
    code: str,
) -> None:
    base = request_transmission([_fill(fixtures, members[4], "generic", 1)])
    reply = decode_response(await client.transmit(_header_variant(base, **change)))
    assert reply.header.header_response_status == "R"  # type: ignore[union-attr]
    assert _status(reply.transactions[0]) == ("R", [code])


async def test_unreadable_transmission_and_bad_fields(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]]
) -> None:
    reply = decode_response(await client.transmit(b"not a transmission"))
    assert reply.header.header_response_status == "R"  # type: ignore[union-attr]
    assert _status(reply.transactions[0]) == ("R", ["R8"])
    e1_twice = eligibility_transmission(
        pb.EligibilityRequest(header=_fill(fixtures, members[4], "generic", 1).header)
    )
    e1_twice = replace(
        e1_twice, header=replace(e1_twice.header, transaction_count="2"), transactions=((), ())
    )
    assert _status(decode_response(await client.transmit(encode(e1_twice))).transactions[0]) == (
        "R",
        ["1V"],
    )
    base = request_transmission([_fill(fixtures, members[4], "generic", 1)])
    claim = base.transactions[0][0]
    bad = replace(claim, fields=tuple((f, "12.5" if f == "E7" else v) for f, v in claim.fields))
    broken = replace(base, transactions=((bad, *base.transactions[0][1:]),))
    reply = decode_response(await client.transmit(encode(broken)))
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert _status(reply.transactions[0]) == ("R", ["E7"])


def test_ncpdp_decode_and_encode_commands(fixtures: dict[str, Any]) -> None:
    raw = encode(
        request_transmission(
            [
                _fill(
                    fixtures,
                    {
                        "cardholder_id": "C",
                        "person_code": "001",
                        "group_id": "G",
                        "plan_id": "COMM-HRA-2026",
                    },
                    "generic",
                    7,
                )
            ]
        )
    )
    decoded = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "decode"],
        input=raw,
        capture_output=True,
        check=True,
    )
    document = json.loads(decoded.stdout)
    assert document["kind"] == "request"
    assert document["header"]["bin"]["field"] == "101-A1 BIN Number"
    fields = {f["id"]: f for s in document["transactions"][0] for f in s["fields"]}
    assert fields["E7"]["value"] == 30_000 and fields["E7"]["unit"] == "thousandths"
    assert fields["DU"]["name"] == "Gross Amount Due"
    encoded = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "encode"],
        input=decoded.stdout,
        capture_output=True,
        check=True,
    )
    assert encoded.stdout == raw
    bad = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "decode"],
        input=b"xx",
        capture_output=True,
        check=False,
    )
    assert bad.returncode == 1
    assert b"request header is 56 bytes" in bad.stderr
    # a byte past ASCII: the debugging tool says where (the gateway answers that field's R8)
    accented = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "decode"],
        input=raw[:60] + "\u00e9".encode() + raw[60:],
        capture_output=True,
        check=False,
    )
    assert accented.returncode == 1 and accented.stdout == b""
    assert b"not ASCII at byte 60 (0xc3)" in accented.stderr, accented.stderr
    assert b"Traceback" not in accented.stderr
