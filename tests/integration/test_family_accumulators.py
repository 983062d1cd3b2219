"""A family on the embedded-deductible HDHP ($1,700 individual / $3,400 family), over gRPC."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.client import GatewayClient
from rx_gateway.data.claims import claim_request

INDIVIDUAL, FAMILY = 170_000, 340_000


async def test_embedded_family_deductible(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """One member meets the individual deductible; then the family meets the family amount
    across the others; after that nobody pays deductible; accumulators equal the claims' sums."""
    family = fixtures["members"]["hdhp_family"]
    family_id = family[0]["family_id"]
    paid_deductible: dict[str, int] = {}

    async def fill(member: dict[str, Any], month: int) -> Any:
        request = claim_request(
            fixtures,
            member,
            fixtures["drugs"]["specialty"],
            pharmacy=fixtures["pharmacies"]["specialty"],
            rx_number=rx_number(),
            date_of_service=f"2026{month:02d}15",
            quantity_thousandths=1_000,
        )
        response = await client.submit(request)
        assert response.transaction_response_status == "P", response.rejects
        paid_deductible[member["member_id"]] = (
            paid_deductible.get(member["member_id"], 0)
            + response.pricing.amount_applied_to_periodic_deductible_cents
        )
        return response

    await conn.execute(  # the specialty drug needs a PA on file for each family member
        "INSERT INTO prior_authorization (pa_number, member_id, drug_group, start_date, end_date)"
        " SELECT 'PA-FAM-' || member_id, member_id, 'specialty', '2026-01-01', '2026-12-31'"
        " FROM member WHERE family_id = $1 ON CONFLICT DO NOTHING",
        family_id,
    )
    head, others = family[0], family[1:]
    month = 1
    response = await fill(head, month)
    while response.accumulators.deductible_individual_remaining_cents > 0:
        month += 2
        assert month <= 12
        response = await fill(head, month)
    month += 1
    assert response.accumulators.deductible_individual_remaining_cents == 0
    assert paid_deductible[head["member_id"]] == INDIVIDUAL  # never more than the embedded limit
    assert (await fill(head, month)).pricing.amount_applied_to_periodic_deductible_cents == 0
    month = 1
    last = response
    while last.accumulators.deductible_family_remaining_cents > 0:
        for member in others:
            last = await fill(member, month)
        month += 2
        assert month <= 12
    assert last.accumulators.deductible_family_remaining_cents == 0
    assert sum(paid_deductible.values()) == FAMILY
    assert all(v <= INDIVIDUAL for v in paid_deductible.values())
    after = await fill(others[0], month)
    assert after.pricing.amount_applied_to_periodic_deductible_cents == 0

    stored = {
        (r["level"], r["subject_id"]): r["amount_cents"]
        for r in await conn.fetch(
            "SELECT level, subject_id, amount_cents FROM accumulator"
            " WHERE kind = 'deductible' AND plan_id = 'HDHP-2026' AND (subject_id = $1 OR subject_id = ANY($2::text[]))",
            family_id,
            [m["member_id"] for m in family],
        )
    }
    assert stored[("family", family_id)] == FAMILY
    for member_id, amount in paid_deductible.items():
        assert stored.get(("individual", member_id), 0) == amount
