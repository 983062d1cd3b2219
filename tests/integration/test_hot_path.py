"""The claim's hot path in the database: the start-up warm-up and migration 0007's backfill."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.database import _migrations, init_connection, migrate
from rx_gateway.adapters.postgres.store import WARM_UP_ID
from rx_gateway.bootstrap import App


async def test_warm_up_leaves_nothing_behind(app: App, conn: asyncpg.Connection) -> None:
    """Every pooled connection made each hot-path call at start-up, and all of it rolled back."""
    assert app.pool.get_size() == app.settings.pool.size_min
    for table, column in (
        ("family", "family_id"),
        ("purse", "purse_id"),
        ("claim", "family_id"),
        ("claim_purse_spend", "family_id"),
        ("accumulator", "subject_id"),
        ("posting", "account_key"),
    ):
        value = f"purse:{WARM_UP_ID}" if table == "posting" else WARM_UP_ID
        count = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", value)
        assert count == 0, table
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'warm-up'") == 0


async def test_0007_backfills_purse_spending_from_stored_responses(fresh_database: Any) -> None:
    """Claims paid before 0007 get their purse spending rows from their stored responses;
    lines that paid nothing get none."""
    conn = await asyncpg.connect(await fresh_database())
    try:
        for version, name, sql in _migrations():
            if version < 7:
                await conn.execute(sql)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migration (version int PRIMARY KEY,"
                    " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                await conn.execute(
                    "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", version, name
                )
        await init_connection(conn)
        entry_id = await conn.fetchval(
            "INSERT INTO journal_entry (kind) VALUES ('claim') RETURNING entry_id"
        )
        response = {
            "purses": [
                {"purse_id": "HRA-F1", "kind": "HRA", "paid_cents": 1234},
                {"purse_id": "WELL-F1", "kind": "WELLNESS", "paid_cents": 0},
            ]
        }
        claim_id = await conn.fetchval(
            "INSERT INTO claim (claim_key, generation, request_hash, internal_control_number,"
            " authorization_number, member_id, family_id, plan_id, pharmacy_npi, product_id,"
            " molecule, date_of_service, days_supply, entry_id, reference_version, response)"
            " VALUES ('k', 1, 'h', 'ICN1', 'A1', 'M1', 'F1', 'P', 'N', 'D', 'm', $1, 30, $2,"
            " '1', $3) RETURNING claim_id",
            dt.date(2026, 3, 4),
            entry_id,
            response,
        )
        assert await migrate(conn) == ["0007_hot_path.sql"]
        rows = await conn.fetch(
            "SELECT claim_id, family_id, purse_id, date_of_service, paid_cents"
            " FROM claim_purse_spend"
        )
        assert [tuple(r) for r in rows] == [(claim_id, "F1", "HRA-F1", dt.date(2026, 3, 4), 1234)]
    finally:
        await conn.close()
