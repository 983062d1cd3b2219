"""Deductibles by coverage level over gRPC: the HSA-qualified HDHP ($1,700 self-only coverage;
an aggregate $3,400 for family coverage, so no member of a family meets less than $3,400) and
the commercial plan's embedded family deductible ($250 individual inside $500 family)."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic.claims import claim_request

SELF_ONLY, FAMILY = 170_000, 340_000
COMMERCIAL_INDIVIDUAL, COMMERCIAL_FAMILY = 25_000, 50_000


async def _pa_for_family(conn: asyncpg.Connection, family_id: str) -> None:
    await conn.execute(  # the specialty drug needs a PA on file for each family member
        "INSERT INTO prior_authorization"
        " (family_id, pa_number, member_id, drug_group, start_date, end_date)"
        " SELECT family_id, 'PA-FAM-' || member_id, member_id, 'specialty', '2026-01-01',"
        " '2026-12-31' FROM member WHERE family_id = $1 ON CONFLICT DO NOTHING",
        family_id,
    )


def _specialty(fixtures: dict[str, Any], member: dict[str, Any], rx: int, month: int) -> Any:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"]["specialty"],
        pharmacy=fixtures["pharmacies"]["specialty"],
        rx_number=rx,
        date_of_service=f"2026{month:02d}15",
        quantity_thousandths=1_000,
    )


async def _stored_deductibles(
    conn: asyncpg.Connection, plan_id: str, family_id: str, members: list[str]
) -> dict[tuple[str, str], int]:
    return {
        (r["level"], r["subject_id"]): r["amount_cents"]
        for r in await conn.fetch(
            "SELECT level, subject_id, amount_cents FROM accumulator WHERE kind = 'deductible'"
            " AND plan_id = $1 AND (subject_id = $2 OR subject_id = ANY($3::text[]))",
            plan_id,
            family_id,
            members,
        )
    }


async def test_hsa_family_deductible_is_aggregate(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """One member of an HDHP family pays deductible past $1,700, up to the family's $3,400;
    then nobody in the family pays deductible. 512-FC reports the family's accumulation and
    513-FD what is left of it; the accumulators equal the claims' sums."""
    family = fixtures["members"]["hdhp_family"]
    family_id = family[0]["family_id"]
    await _pa_for_family(conn, family_id)
    head, others = family[0], family[1:]
    paid: dict[str, int] = {}
    month, response = 1, None
    while response is None or response.pricing.remaining_deductible_amount_cents > 0:
        assert month <= 12
        response = await client.submit(_specialty(fixtures, head, rx_number(), month))
        assert response.transaction_response_status == "P", response.rejects
        pricing = response.pricing
        paid[head["member_id"]] = (
            paid.get(head["member_id"], 0) + pricing.amount_applied_to_periodic_deductible_cents
        )
        assert pricing.HasField("accumulated_deductible_amount_cents")
        assert pricing.accumulated_deductible_amount_cents == paid[head["member_id"]]
        assert (
            pricing.remaining_deductible_amount_cents
            == FAMILY - pricing.accumulated_deductible_amount_cents
        )
        month += 2
    assert paid[head["member_id"]] == FAMILY  # one member met the whole aggregate deductible
    # an aggregate deductible has no individual limit: its remaining amount is not sent
    acc = response.accumulators
    assert not acc.HasField("deductible_individual_remaining_cents")
    assert (acc.HasField("deductible_family_remaining_cents"), acc.deductible_family_met_cents) == (
        True,
        FAMILY,
    )
    for member in others:
        after = await client.submit(_specialty(fixtures, member, rx_number(), 2))
        assert after.transaction_response_status == "P", after.rejects
        assert after.pricing.amount_applied_to_periodic_deductible_cents == 0
        assert after.pricing.remaining_deductible_amount_cents == 0
    stored = await _stored_deductibles(
        conn, "HDHP-2026", family_id, [m["member_id"] for m in family]
    )
    assert stored[("family", family_id)] == FAMILY
    assert stored[("individual", head["member_id"])] == FAMILY


async def test_hsa_self_only_deductible(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Self-only coverage on the HDHP meets its deductible at $1,700."""
    member = fixtures["members"]["hdhp_single"]
    await _pa_for_family(conn, member["family_id"])
    total, month, response = 0, 1, None
    while response is None or response.pricing.remaining_deductible_amount_cents > 0:
        assert month <= 12
        response = await client.submit(_specialty(fixtures, member, rx_number(), month))
        assert response.transaction_response_status == "P", response.rejects
        total += response.pricing.amount_applied_to_periodic_deductible_cents
        month += 2
    assert total == SELF_ONLY
    # no family limit on self-only coverage: not sent (it read 0, as if met)
    acc = response.accumulators
    assert not acc.HasField("deductible_family_remaining_cents")
    assert not acc.HasField("out_of_pocket_family_remaining_cents")
    assert acc.HasField("deductible_individual_remaining_cents")
    assert acc.deductible_individual_remaining_cents == 0  # the limit is there, and met
    assert acc.out_of_pocket_individual_remaining_cents > 0


async def test_embedded_family_deductible(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """The commercial plan embeds $250 per person in a $500 family deductible: one member
    stops at $250; the others meet the rest; then nobody pays deductible."""
    head = fixtures["members"]["commercial_family_head"]
    family_id = head["family_id"]
    members = [
        dict(head, member_id=r["member_id"], person_code=r["person_code"])
        for r in await conn.fetch(
            "SELECT member_id, person_code FROM member WHERE family_id = $1 ORDER BY person_code",
            family_id,
        )
    ]
    brand = fixtures["drugs"]["preferred_brand"]
    paid: dict[str, int] = {}
    day = 1
    for member in members * 3:
        request = claim_request(
            fixtures,
            member,
            brand,
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=f"202603{day:02d}",
        )
        day += 1
        response = await client.submit(request)
        if response.transaction_response_status != "P":
            continue  # refill too soon for the same molecule: another member's turn
        applied = response.pricing.amount_applied_to_periodic_deductible_cents
        paid[member["member_id"]] = paid.get(member["member_id"], 0) + applied
    assert all(amount <= COMMERCIAL_INDIVIDUAL for amount in paid.values())
    stored = await _stored_deductibles(
        conn, "COMM-HRA-2026", family_id, [m["member_id"] for m in members]
    )
    assert stored[("family", family_id)] == sum(paid.values()) <= COMMERCIAL_FAMILY
    for member_id, amount in paid.items():
        assert stored.get(("individual", member_id), 0) == amount
