"""Taxes, incentive and other amounts through both doors (issue 15): the same claim gets the
same amounts from Submit and from a raw D.0 Transmit, 509-F9 follows its full formula, and a
478-H7 that does not count its pairs rejects its own transaction."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import Segment, decode_money, decode_response, encode
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support_d0 import request_transmission


def _taxed(fixtures: dict[str, Any], rx: int) -> pb.ClaimRequest:
    request = claim_request(
        fixtures,
        fixtures["members"]["commercial_woman"],
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service="20261112",
    )
    pr = request.pricing
    pr.flat_sales_tax_amount_submitted_cents = 25
    pr.percentage_sales_tax_rate_submitted = 62_500  # 6.25%
    pr.percentage_sales_tax_basis_submitted = "03"
    drug = pr.ingredient_cost_submitted_cents + pr.dispensing_fee_submitted_cents
    pr.percentage_sales_tax_amount_submitted_cents = drug * 62_500 // 1_000_000
    pr.other_amounts_claimed.add(qualifier="01", amount_cents=450)  # delivery
    pr.patient_paid_amount_submitted_cents = 1_000
    pr.gross_amount_due_cents = drug + 25 + pr.percentage_sales_tax_amount_submitted_cents + 450
    return request


def _f9_formula(p: pb.PricingResponse) -> int:
    return (
        p.ingredient_cost_paid_cents
        + p.dispensing_fee_paid_cents
        + p.flat_sales_tax_amount_paid_cents
        + p.percentage_sales_tax_amount_paid_cents
        + p.incentive_amount_paid_cents
        + sum(o.amount_cents for o in p.other_amounts_paid)
        - p.patient_pay_amount_cents
    )


async def test_a_taxed_claim_pays_the_same_through_both_doors(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    request = _taxed(fixtures, rx_number())
    structured = await client.submit(request)
    assert structured.transaction_response_status == "P", structured.rejects
    recorded = await conn.fetchval(
        "SELECT detail->>'patient_paid_amount_submitted_cents' FROM audit_log"
        " WHERE internal_control_number = $1 AND action = 'B1'",
        structured.internal_control_number,
    )
    assert recorded == "1000"  # 433-DX kept with the claim
    p = structured.pricing
    assert p.flat_sales_tax_amount_paid_cents == 25
    assert (
        p.percentage_sales_tax_amount_paid_cents
        == ((p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents) * 62_500 + 500_000)
        // 1_000_000
    )  # 6.25% of what was paid for the drug, half up
    assert p.total_amount_paid_cents == _f9_formula(p)
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    raw = decode_response(await client.transmit(encode(request_transmission([request]))))
    group = raw.transactions[0]
    status = next(s for s in group if s.segment_id == "21")
    assert status.get("AN") == "P", status.fields
    pricing = next(s for s in group if s.segment_id == "23")
    assert decode_money(pricing.get("F9")) == p.total_amount_paid_cents
    assert decode_money(pricing.get("AW")) == 25
    assert decode_money(pricing.get("AX")) == p.percentage_sales_tax_amount_paid_cents
    assert decode_money(pricing.get("2Y")) == 25 + p.percentage_sales_tax_amount_paid_cents
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


async def test_an_other_amount_count_that_does_not_count_rejects_h7(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    request = _taxed(fixtures, rx_number())
    transmission = request_transmission([request])
    group = transmission.transactions[0]
    broken = tuple(
        Segment(s.segment_id, tuple((f, "2" if f == "H7" else v) for f, v in s.fields))
        if s.segment_id == "11"
        else s
        for s in group
    )
    raw = encode(transmission.__class__(transmission.header, transmission.segments, (broken,)))
    reply = decode_response(await client.transmit(raw))
    status = next(s for s in reply.transactions[0] if s.segment_id == "21")
    assert (status.get("AN"), status.all("FB")) == ("R", ["H7"])
