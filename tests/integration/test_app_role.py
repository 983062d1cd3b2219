"""The gateway's database role can append history but never rewrite it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.bootstrap import App


async def test_gateway_runs_as_the_application_role_without_update_or_delete(app: App) -> None:
    """Permission is refused by grants (42501 'permission denied'), before any trigger runs."""
    async with app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "rx_gateway_app"
        for statement in (
            "UPDATE audit_log SET outcome = outcome",
            "DELETE FROM posting",
            "UPDATE claim SET response = response",
            "DELETE FROM claim_purse_spend",
            "TRUNCATE journal_entry",
            "UPDATE plan SET document = document",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(statement)
        # appending is allowed (the claim path's own audit insert)
        await conn.execute(
            "INSERT INTO audit_log (actor, action, outcome) VALUES ('test', 'probe', 'ok')"
        )


def _claim_payload(
    family_id: str, version: int, member_id: str = "M", **changes: Any
) -> dict[str, Any]:
    """A well-formed rx_post_claim payload; ``changes`` make it something a claim may not do."""
    payload: dict[str, Any] = {
        "family_id": family_id,
        "family_version": version,
        "claim_key": "mint|test",
        "request_hash": "h",
        "internal_control_number": "MINT-1",
        "authorization_number": "1",
        "member_id": member_id,
        "plan_id": "P",
        "service_provider_id": "N",
        "product_id": "00000000000",
        "molecule": "m",
        "date_of_service": "2026-11-01",
        "days_supply": 30,
        "quantity_thousandths": 1000,
        "reference_data_version": "1",
        "response": {},
        "postings": [
            {"account": "plan:P", "amount": -100},
            {"account": "pharmacy_payable:N", "amount": 100},
        ],
        "purse_moves": [],
        "releases_allotments": False,
        "accumulator_moves": [],
        "actor": "test",
        "audit": {},
    }
    return payload | changes


async def test_the_application_role_cannot_create_money(
    app: App, conn: asyncpg.Connection, fixtures: dict[str, Any]
) -> None:
    """Funding, allotments and direct writes of balances or history are refused to the claim
    path's role by grants; the claim functions refuse what a claim may not do (credit a purse,
    post employer funding, lower an accumulator) even when called by hand."""
    family_id = fixtures["members"]["commercial_single"]["family_id"]
    member_id = fixtures["members"]["commercial_single"]["member_id"]
    purse_id = f"HRA-{family_id}"
    balance = await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
    async with app.pool.acquire() as pooled:
        assert await pooled.fetchval("SELECT current_user") == "rx_gateway_app"
        for statement, args in (
            ("SELECT rx_fund_purse($2, 'MINT', $1, 100000, 'x', 'x')", (purse_id, family_id)),
            (
                "SELECT rx_schedule_allotment($2, 'MINT', $1, 100000, '2026-01-01', 'x', 'x')",
                (purse_id, family_id),
            ),
            (
                "UPDATE purse SET posted_cents = posted_cents + 100000 WHERE purse_id = $1",
                (purse_id,),
            ),
            ("UPDATE family SET version = version + 1 WHERE family_id = $1", (family_id,)),
            ("INSERT INTO family (family_id, employer_id) VALUES ($1 || 'x', 'E')", (family_id,)),
            ("INSERT INTO journal_entry (kind) VALUES ('funding')", ()),
            (
                "INSERT INTO posting (entry_id, account_key, amount_cents) VALUES (1, 'purse:x', 1)",
                (),
            ),
            ("UPDATE accumulator SET amount_cents = 0", ()),
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await pooled.execute(statement, *args)
        version = await pooled.fetchval(
            "SELECT version FROM family WHERE family_id = $1", family_id
        )
        credit = {"purse_id": purse_id, "amount": 100_000}
        for changes in (
            # a positive purse move (funding the purse) with matching postings
            {
                "purse_moves": [credit],
                "postings": [
                    {"account": f"purse:{purse_id}", "amount": 100_000},
                    {"account": "plan:P", "amount": -100_000},
                ],
            },
            # purse postings that differ from the purse moves
            {
                "purse_moves": [{"purse_id": purse_id, "amount": -1}],
                "postings": [
                    {"account": f"purse:{purse_id}", "amount": 1},
                    {"account": "plan:P", "amount": -1},
                ],
            },
            # money taken from employer funding
            {
                "postings": [
                    {"account": "employer_funding:EMP1", "amount": -100},
                    {"account": "pharmacy_payable:N", "amount": 100},
                ]
            },
            # an accumulator lowered
            {
                "accumulator_moves": [
                    {
                        "level": "individual",
                        "subject_id": member_id,
                        "plan_id": "P",
                        "plan_year_start": "2026-01-01",
                        "kind": "deductible",
                        "amount": -500,
                    }
                ]
            },
        ):
            with pytest.raises(asyncpg.CheckViolationError):
                await pooled.fetchval(
                    "SELECT rx_post_claim($1, $2)",
                    family_id,
                    _claim_payload(family_id, version, member_id, **changes),
                )
        someone_else = {
            "level": "individual",
            "subject_id": "SOMEONE-ELSE",
            "plan_id": "P",
            "plan_year_start": "2026-01-01",
            "kind": "deductible",
            "amount": 500,
        }

        def reward(**fields: Any) -> dict[str, Any]:
            move = {"program_id": "R", "purse_id": purse_id, "amount": 1_000}
            return {"reward_moves": [move | {"plan_year_start": "2026-01-01"} | fields]}

        for member, changes, why in (
            ("NOT-IN-FAMILY", {}, "not in the family"),
            (member_id, {"accumulator_moves": [someone_else]}, "accumulators"),
            # a reward (0018) credits a purse of the family, a positive amount, under a program
            (member_id, reward(amount=-1_000), "a reward only credits"),
            (member_id, reward(amount=0), "a reward only credits"),
            (member_id, reward(program_id=""), "a reward only credits"),
            (member_id, reward(plan_year_start=None), "a reward only credits"),
            (member_id, reward(purse_id="HRA-ANOTHER-FAMILY"), "a reward only credits"),
        ):
            with pytest.raises(asyncpg.CheckViolationError, match=why):
                await pooled.fetchval(
                    "SELECT rx_post_claim($1, $2)",
                    family_id,
                    _claim_payload(family_id, version, member, **changes),
                )
    assert (
        await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
        == balance
    )
    assert await conn.fetchval("SELECT count(*) FROM claim WHERE claim_key = 'mint|test'") == 0


async def test_the_admin_role_funds_but_cannot_post_claims(
    loaded_dsn: str, fixtures: dict[str, Any]
) -> None:
    """The admin interface's role may fund purses and change coverage; it may not post claims."""
    family_id = fixtures["members"]["commercial_single"]["family_id"]
    conn = await asyncpg.connect(loaded_dsn, server_settings={"role": "rx_gateway_admin"})
    await init_connection(conn)
    try:
        async with conn.transaction():
            entry = await conn.fetchval(
                "SELECT rx_fund_purse($1, 'ADMIN-ROLE-PROBE', $2, 1, 'test', 'probe')",
                family_id,
                f"HRA-{family_id}",
            )
            assert entry is not None
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetchval(
                    "SELECT rx_post_claim($1, $2)", family_id, _claim_payload(family_id, 0)
                )
    finally:
        await conn.close()


async def test_serving_claims_as_a_superuser_is_refused(server_url: str) -> None:
    """Outside development mode a gateway whose pooled connections are a superuser's does not
    start; as the application role it does."""
    from rx_gateway.adapters.postgres.database import create_pool
    from rx_gateway.bootstrap import _refuse_superuser
    from rx_gateway.config import PoolLimits
    from rx_gateway.domain.errors import InsecureConfiguration

    for role, refused in ((None, True), ("rx_gateway_app", False)):
        pool = await create_pool(server_url, PoolLimits(size_min=1, size_max=1, role=role))
        try:
            if refused:
                with pytest.raises(InsecureConfiguration, match="superuser"):
                    await _refuse_superuser(pool)
            else:
                await _refuse_superuser(pool)
        finally:
            await pool.close()
