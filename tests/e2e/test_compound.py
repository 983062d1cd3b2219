"""Compounds through both doors (issue 15): 406-D6 2 with the Compound segment answers the
same through Submit and through a raw D.0 Transmit (segment 10); a non-covered ingredient is
rejected by its position, or dropped with 420-DK 8; a compound travels alone (1W); the
segment's counts are checked (P3, 4M)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.eob import PostgresEob
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import Segment, decode_money, decode_response, encode
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request, make_compound
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import request_transmission


@pytest.fixture(scope="module")
def people(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial members no other test bills for."""
    members = active_members(dataset[0])
    return [m for m in members[1600:] if m["plan_id"] == "COMM-HRA-2026"][:4]


def _compound(
    fixtures: dict[str, Any], member: dict[str, Any], rx: int, *, with_base: bool = True
) -> pb.ClaimRequest:
    actives, base = fixtures["drugs"]["compound_ingredients"], fixtures["drugs"]["compound_base"]
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service="20261104",
        quantity_thousandths=100_000,
    )
    ingredients = [(actives[0], 30_000, 1_200), (actives[1], 60_000, 4_500)]
    ingredients += [(base, 10_000, 2_000)] if with_base else []
    make_compound(request, ingredients)
    return request


async def _raw(client: GatewayClient, requests: list[pb.ClaimRequest]) -> list[dict[str, Segment]]:
    reply = decode_response(await client.transmit(encode(request_transmission(requests))))
    return [{s.segment_id: s for s in group} for group in reply.transactions]


async def test_a_compound_pays_the_same_through_both_doors(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    rx_number: Any,
    loaded_dsn: str,
) -> None:
    request = _compound(fixtures, people[0], rx_number())
    request.claim.submission_clarification_codes.append(8)  # pay the approved ingredients
    request.dur_services.add(level_of_effort=13)  # the plan's $10.00 compounding fee
    structured = await client.submit(request)
    assert structured.transaction_response_status == "P", structured.rejects
    p = structured.pricing
    # ketoprofen 30 g and lidocaine 60 g at AWP − 18% (7.38 and 39.36, under what was
    # billed); the base (20.00) dropped; fee 1.00 + 10.00 (level of effort 13)
    assert (p.ingredient_cost_paid_cents, p.dispensing_fee_paid_cents) == (738 + 3_936, 1_100)
    assert p.basis_of_reimbursement_determination == "08"
    assert any(
        m.startswith("Ingredient 3 not paid (420-DK 8)") for m in structured.additional_messages
    )
    conn = await asyncpg.connect(loaded_dsn)
    try:
        stored = await conn.fetchrow(
            "SELECT product_id, molecule, response->'compound_ingredients' AS ingredients"
            " FROM claim WHERE internal_control_number = $1",
            structured.internal_control_number,
        )
    finally:
        await conn.close()
    assert (stored["product_id"], stored["molecule"]) == ("0", "ketoprofen+lidocaine")
    assert '"51927100202"' in stored["ingredients"]  # the largest first: the 835's SVC NDC
    # the member's EOB names each covered ingredient with the quantity billed for it (CARIN:
    # item.detail.quantity is Must Support); the dropped base is not there
    billed = {i.product_id: i.quantity_thousandths for i in request.compound.ingredients}
    pool = await asyncpg.create_pool(loaded_dsn, min_size=1, max_size=1, init=init_connection)
    try:
        facts = await PostgresEob(pool).eob_facts(
            people[0]["member_id"], None, None, claims_max=1_000, actor="test"
        )
    finally:
        await pool.close()
    (eob,) = [
        c for c in facts.claims if c.internal_control_number == structured.internal_control_number
    ]
    assert len(eob.compound_ingredients) == 2
    assert eob.compound_ingredients[0][0] == "51927100202"
    assert all(quantity == billed[ndc] for ndc, quantity in eob.compound_ingredients)
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    (raw,) = await _raw(client, [request])
    assert raw["21"].get("AN") == "P", raw["21"]
    for field_id, cents in (
        ("F6", p.ingredient_cost_paid_cents),
        ("F7", p.dispensing_fee_paid_cents),
        ("F5", p.patient_pay_amount_cents),
        ("F9", p.total_amount_paid_cents),
    ):
        assert decode_money(raw["23"].get(field_id)) == cents, field_id
    assert raw["23"].get("FM") == "08"
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


async def test_an_excluded_ingredient_is_70_by_position_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    request = _compound(fixtures, people[1], rx_number())
    refused = await client.submit(request)
    assert [(r.code, r.occurrence) for r in refused.rejects] == [("70", 3)]
    assert refused.message.startswith("Ingredient 3 (NDC 38779014503)")
    (raw,) = await _raw(client, [request])
    assert (raw["21"].get("AN"), raw["21"].all("FB")) == ("R", ["70"])
    # 546-4F: the reject is about the third ingredient, right after its 511-FB
    fields = [f for f in raw["21"].fields if f[0] in {"FA", "FB", "4F"}]
    assert fields == [("FA", "1"), ("FB", "70"), ("4F", "3")], raw["21"]


async def test_a_compound_travels_alone(
    client: GatewayClient, fixtures: dict[str, Any], people: list[dict[str, Any]], rx_number: Any
) -> None:
    """In a two-transaction B1 the compound is 1W; its neighbour is answered on its own."""
    neighbour = claim_request(
        fixtures,
        people[2],
        fixtures["drugs"]["generic_copay"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261104",
    )
    compound = _compound(fixtures, people[2], rx_number(), with_base=False)
    first, second = await _raw(client, [neighbour, compound])
    assert first["21"].get("AN") == "P"
    assert (second["21"].get("AN"), second["21"].all("FB")) == ("R", ["1W"])
    assert (await client.reverse(reversal_for(neighbour))).transaction_response_status == "A"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda fields: [f if f[0] != "EC" else ("EC", "3") for f in fields], "P3"),
        (lambda fields: [*fields[:3], ("TE", "51927100101"), *fields[3:]], "RE"),
        (lambda fields: [*fields, ("2G", "2"), ("2H", "AB")], "4M"),
        (lambda fields: [f if f[0] != "EE" else ("EE", "12X") for f in fields], "EE"),
        (lambda fields: [f for f in fields if f[0] != "EF"], "EF"),
    ],
)
async def test_the_compound_segment_is_read_field_by_field(
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    rx_number: Any,
    edit: Any,
    expected: str,
) -> None:
    request = _compound(fixtures, people[3], rx_number(), with_base=False)
    transmission = request_transmission([request])
    segments = tuple(
        Segment("10", tuple(edit(list(s.fields)))) if s.segment_id == "10" else s
        for s in transmission.transactions[0]
    )
    changed = type(transmission)(transmission.header, transmission.segments, (segments,))
    reply = decode_response(await client.transmit(encode(changed)))
    status = next(s for s in reply.transactions[0] if s.segment_id == "21")
    assert (status.get("AN"), status.all("FB")) == ("R", [expected]), status
