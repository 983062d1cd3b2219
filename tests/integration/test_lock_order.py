"""One lock order: funding and claims of one family at the same time never deadlock."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc

from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic.claims import claim_request


async def _deadlocks(conn: asyncpg.Connection) -> int:
    await asyncio.sleep(1.1)  # backends flush their statistics at most once a second
    count: int = await conn.fetchval(
        "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    )
    return count


async def test_funding_and_claims_of_one_family_never_deadlock(
    client: GatewayClient,
    loaded_dsn: str,
    dataset: tuple[Any, dict[str, Any]],
    rx_number: Any,
) -> None:
    """rx_fund_purse used to lock the purse, then the family; a claim locks the family, then
    the purse. Twenty fundings (as the admin role) race twenty claims of the same family: every
    funding is applied, every claim is answered, and PostgreSQL counts no deadlock."""
    fixtures = dataset[1]
    watcher = await asyncpg.connect(loaded_dsn)
    rows = await watcher.fetch(
        "SELECT m.member_id, m.cardholder_id, m.person_code, m.family_id, c.group_id, c.plan_id"
        " FROM member m JOIN coverage c USING (member_id)"
        " WHERE m.family_id = (SELECT m2.family_id FROM member m2 JOIN coverage c2 USING (member_id)"
        "   WHERE c2.plan_id = 'COMM-HRA-2026' AND c2.end_reason IS NULL"
        "   GROUP BY m2.family_id HAVING count(*) >= 3 ORDER BY m2.family_id DESC LIMIT 1)"
    )
    members = [dict(r) for r in rows]
    family_id = members[0]["family_id"]
    purse_id = await watcher.fetchval("SELECT purse_id FROM purse WHERE family_id = $1", family_id)
    before = await _deadlocks(watcher)
    funders = await asyncpg.create_pool(
        loaded_dsn, min_size=4, max_size=4, server_settings={"role": "rx_gateway_admin"}
    )
    assert funders is not None

    async def fund(index: int) -> Any:
        return await funders.fetchval(
            "SELECT rx_fund_purse($1, $2, $3, 100, 'test', 'lock order')",
            family_id,
            f"LOCK-{index}",
            purse_id,
        )

    async def claim(index: int) -> str:
        member = members[index % len(members)]
        request = claim_request(
            fixtures,
            member,
            fixtures["drugs"]["preferred_brand"],  # the deductible applies: the HRA pays it
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=f"2026{index % 11 + 1:02d}0{index % 9 + 1}",
        )
        try:
            return (await client.submit(request)).transaction_response_status
        except grpc.aio.AioRpcError as error:  # retries exhausted by the storm: retryable
            assert error.code() is grpc.StatusCode.ABORTED
            return "ABORTED"

    try:
        await fund(1_000)  # money in the purse, so the claims spend it (and lock it)
        results = await asyncio.gather(
            *(fund(i) for i in range(20)), *(claim(i) for i in range(20))
        )
        fundings, statuses = results[:20], results[20:]
        assert await watcher.fetchval(
            "SELECT count(*) FROM claim_purse_spend WHERE purse_id = $1", purse_id
        ), "the claims must spend the purse (and so lock it) for the race to mean anything"
        assert all(entry is not None for entry in fundings)
        assert set(statuses) <= {"P", "R", "ABORTED"}
        assert "P" in statuses
        assert await _deadlocks(watcher) == before
        now = await watcher.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
        posted = await watcher.fetchval(
            "SELECT sum(amount_cents) FROM posting WHERE account_key = $1", f"purse:{purse_id}"
        )
        assert now == posted  # the balance counter still equals the purse's postings
        assert (
            await watcher.fetchval(
                "SELECT count(*) FROM purse_funding WHERE funding_id LIKE 'LOCK-%' AND purse_id = $1",
                purse_id,
            )
            == 21
        )
    finally:
        await funders.close()
        await watcher.close()
