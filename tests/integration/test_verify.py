"""`verify`: the ledger of a busy database passes; a tampered one fails, naming the problem."""

from __future__ import annotations

from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.verify import run_checks, verify_ledger
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request


def insulin_claim(fixtures: dict[str, Any], rx: int, date_of_service: str) -> Any:
    """An insulin fill for the single commercial member: paid with an HRA split."""
    return claim_request(
        fixtures,
        fixtures["members"]["commercial_single"],
        fixtures["drugs"]["insulin"],
        pharmacy=fixtures["pharmacies"]["standard"],
        rx_number=rx,
        date_of_service=date_of_service,
        quantity_thousandths=10_000,
    )


async def test_ledger_verifies_after_claims_and_reversals(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Paid claims, an HRA split and a reversal: every invariant holds."""
    request = insulin_claim(fixtures, rx_number(), "20261010")
    assert (await client.submit(request)).transaction_response_status == "P"
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    results = await verify_ledger(conn)
    assert [r.name for r in results if not r.passed] == []
    assert len(results) == 20  # 11 of the claims ledger, 9 of settlement


async def test_tampering_is_named(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """A purse balance, an accumulator, a claim's purse spending and the member directory
    changed behind the ledger's back are each reported."""
    purse_id = f"HRA-{fixtures['members']['commercial_single']['family_id']}"
    paid = await client.submit(insulin_claim(fixtures, rx_number(), "20261011"))
    assert paid.transaction_response_status == "P"
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "UPDATE purse SET posted_cents = posted_cents + 1 WHERE purse_id = $1", purse_id
        )
        await conn.execute(  # a member the directory files under another family
            "UPDATE member_key SET family_id = 'F-ELSEWHERE'"
            " WHERE member_id = (SELECT min(member_id) FROM member_key)"
        )
        await conn.execute(
            "INSERT INTO claim_purse_spend (claim_id, family_id, purse_id, date_of_service,"
            " paid_cents) SELECT claim_id, family_id, 'WELLNESS-X', date_of_service, 500"
            " FROM claim WHERE internal_control_number = $1",
            paid.internal_control_number,
        )
        await conn.execute(
            "UPDATE accumulator SET amount_cents = amount_cents + 7 WHERE ctid = (SELECT ctid FROM accumulator LIMIT 1)"
        )
        failed = {}
        for result in await run_checks(conn):
            if not result.passed:
                failed[result.name] = result.problems
    finally:
        await tx.rollback()
    assert any(purse_id in p for p in failed["every purse balance equals the sum of its postings"])
    assert failed["every accumulator equals the sum of its moves"]
    assert "F-ELSEWHERE" in failed["every member is in the directory under its own family"][0]
    assert failed["each claim's purse spending equals its purse postings"] == (
        f"claim {paid.internal_control_number} purse WELLNESS-X: spending 500 but postings 0",
    )
