"""Issue 3's period rules against the real database and a real gRPC channel: the stored
quantity drives 9G, scheduled allotments are released by the claim that spends them, purse
frequency limits and class caps read the family's claims, and 136-UN is reported."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import benefit_request


def _paid_by(reply: pb.ClaimResponse) -> dict[str, int]:
    # the deprecated balance_remaining_cents is kept equal to available_cents
    assert all(line.balance_remaining_cents == line.available_cents for line in reply.purses)
    return {line.kind: line.paid_cents for line in reply.purses}


def _copay_fill(
    fixtures: dict[str, Any], member: dict[str, Any], rx: int, day: str, days_supply: int = 30
) -> pb.ClaimRequest:
    """A tier-1 generic the member pays a copay for (not the $0 statin program)."""
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic_copay"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=day,
        days_supply=days_supply,
    )


def _owed(reply: pb.ClaimResponse) -> int:
    """The member's share before purses: what the patient pays plus what purses paid."""
    return reply.pricing.patient_pay_amount_cents + sum(p.paid_cents for p in reply.purses)


async def test_rolling_quantity_limit_counts_stored_fills(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """18 units per 30 days: 12 paid, then 12 more is 9G naming the 6 still allowed; after
    the first fill is reversed the same 12 pay."""
    member = fixtures["members"]["commercial_single"]
    drug = fixtures["drugs"]["period_limited"]
    pharmacy = fixtures["pharmacies"]["preferred"]

    def fill(day: str, quantity: int) -> pb.ClaimRequest:
        return claim_request(
            fixtures,
            member,
            drug,
            pharmacy=pharmacy,
            rx_number=rx_number(),
            date_of_service=day,
            quantity_thousandths=quantity,
            days_supply=10,
        )

    first = fill("20261101", 12_000)
    assert (await client.submit(first)).transaction_response_status == "P"
    second = await client.submit(fill("20261110", 12_000))
    assert [r.code for r in second.rejects] == ["9G"]
    assert second.message == (
        "Quantity limit 18 per 30 days; 12 already filled, submitted 12."
        " Up to 6 may be dispensed now"
    )
    assert (await client.submit(fill("20261110", 6_000))).transaction_response_status == "P"
    assert [r.code for r in (await client.submit(fill("20261118", 12_000))).rejects] == ["9G"]
    reversed_ = await client.reverse(reversal_for(first))
    assert reversed_.transaction_response_status == "A"
    assert (await client.submit(fill("20261118", 12_000))).transaction_response_status == "P"


async def test_wellness_allotments_and_frequency_limit(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, conn: asyncpg.Connection
) -> None:
    """The wellness purse has four 2026 quarterly allotments due and one 2027 allotment
    pending. The first claim releases the due ones into the ledger; the purse pays at most
    two fills a month; a brand (tier 3) is not allowed and reports 136-UN."""
    member = fixtures["members"]["commercial_wellness"]
    ask = benefit_request(fixtures, member, "20261101")
    before = {p.kind: p for p in (await client.get_benefits(ask)).purses}
    assert (before["WELLNESS"].posted_cents, before["WELLNESS"].available_cents) == (0, 12_000)
    assert before["WELLNESS"].pending_cents == 3_000

    replies = []
    for day in ("20261101", "20261106", "20261111"):
        replies.append(await client.submit(_copay_fill(fixtures, member, rx_number(), day, 5)))
    assert [r.transaction_response_status for r in replies] == ["P", "P", "P"]
    first, second, third = replies
    assert _owed(first) > 0
    assert _paid_by(first) == {"WELLNESS": _owed(first)}
    assert _paid_by(second) == {"WELLNESS": _owed(second)}
    assert "WELLNESS" not in _paid_by(third)  # 2 fills per month already paid
    assert any("2 fills per month already paid" in t for t in third.rule_trace)

    released = await conn.fetch(
        "SELECT funding_id FROM purse_funding WHERE purse_id = 'WELL-F900001' ORDER BY 1"
    )
    assert [r[0] for r in released] == [
        "ALLOT-WELL-F900001-2026Q1",
        "ALLOT-WELL-F900001-2026Q2",
        "ALLOT-WELL-F900001-2026Q3",
        "ALLOT-WELL-F900001-2026Q4",
    ]
    after = {p.kind: p for p in (await client.get_benefits(ask)).purses}
    spent = _owed(first) + _owed(second)
    assert after["WELLNESS"].posted_cents == 12_000 - spent
    assert after["WELLNESS"].available_cents == 12_000 - spent
    assert after["WELLNESS"].pending_cents == 3_000

    brand = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["multi_source_brand"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261112",
        quantity_thousandths=300_000,
    )
    reply = await client.submit(brand)
    assert reply.transaction_response_status == "P"
    assert "WELLNESS" not in _paid_by(reply)
    assert reply.pricing.amount_attributed_to_brand_non_preferred_formulary_cents == 2_500
    assert reply.pricing.amount_attributed_to_non_preferred_formulary_cents == 0


async def test_part_time_class_has_a_quarterly_hra_cap(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Part-time employees' HRA pays at most $150 a quarter; the next quarter starts fresh."""
    member = fixtures["members"]["commercial_part_time"]
    pharmacy = fixtures["pharmacies"]["preferred"]
    big = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["preferred_brand"],
        pharmacy=pharmacy,
        rx_number=rx_number(),
        date_of_service="20261102",
        quantity_thousandths=300_000,
    )
    first = await client.submit(big)
    assert _owed(first) > 15_000
    assert _paid_by(first) == {"HRA": 15_000}
    second = await client.submit(_copay_fill(fixtures, member, rx_number(), "20261103"))
    assert second.transaction_response_status == "P"
    assert _paid_by(second) == {}
    assert any("$150.00 per quarter, $0.00 left" in t for t in second.rule_trace)
    september = await client.submit(_copay_fill(fixtures, member, rx_number(), "20260915"))
    assert _paid_by(september) == {"HRA": _owed(september)}
