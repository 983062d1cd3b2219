"""The claim's hot path in the database: the start-up warm-up and migration 0007's backfill."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.database import _migrations, init_connection, migrate
from rx_gateway.adapters.postgres.member_reader import MEMBER_STATES_SQL
from rx_gateway.adapters.postgres.warm_up import WARM_UP_SQL, _warm_set_path, warm_up
from rx_gateway.bootstrap import build_app
from tests.support import TEST_SETTINGS

HISTORY = (
    "journal_entry",
    "posting",
    "claim",
    "claim_reversal",
    "claim_purse_spend",
    "accumulator_move",
    "audit_log",
    "purse_funding",
)


async def _ledger_state(conn: asyncpg.Connection) -> dict[str, Any]:
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in HISTORY}
    counts["family_versions"] = await conn.fetchval("SELECT sum(version) FROM family")
    counts["purse_balances"] = await conn.fetchval("SELECT sum(posted_cents) FROM purse")
    counts["accumulators"] = await conn.fetchval("SELECT sum(amount_cents) FROM accumulator")
    return counts


async def test_warm_up_leaves_nothing_behind(loaded_dsn: str, conn: asyncpg.Connection) -> None:
    """Every pooled connection makes each hot-path call at start-up (a paid claim and its
    reversal for a real family, as the least-privileged role), and all of it rolls back."""
    before = await _ledger_state(conn)
    application = await build_app(replace(TEST_SETTINGS), loaded_dsn, start=False)
    try:
        assert application.pool.get_size() == application.settings.pool.size_min
        # the warm-up ran the write: the functions were called on those connections
        async with application.pool.acquire() as pooled:
            assert await pooled.fetchval("SELECT current_user") == "rx_gateway_app"
    finally:
        await application.stop()
    assert await _ledger_state(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'warm-up'") == 0
    assert await conn.fetchval("SELECT count(*) FROM claim WHERE claim_key LIKE '%~warm-up%'") == 0


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
        await conn.execute("INSERT INTO family (family_id, employer_id) VALUES ('F1', 'E1')")
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
        assert (await migrate(conn))[0] == "0007_hot_path.sql"
        rows = await conn.fetch(
            "SELECT claim_id, family_id, purse_id, date_of_service, paid_cents"
            " FROM claim_purse_spend"
        )
        assert [tuple(r) for r in rows] == [(claim_id, "F1", "HRA-F1", dt.date(2026, 3, 4), 1234)]
        # and 0009 filed the claim's entry under its family
        assert (
            await conn.fetchval("SELECT family_id FROM journal_entry WHERE entry_id = $1", entry_id)
            == "F1"
        )
    finally:
        await conn.close()


async def test_the_claim_pool_plans_the_member_read_once(loaded_dsn: str) -> None:
    """The batched member read, sent again and again with batches of every size, is planned
    once per connection (a generic plan): left to PostgreSQL it was planned again on every
    call, which cost more than running it."""
    application = await build_app(replace(TEST_SETTINGS), loaded_dsn, start=False)
    try:
        async with application.pool.acquire() as pooled:
            cards = await pooled.fetch(
                "SELECT family_id, cardholder_id, person_code FROM member_key"
                " ORDER BY cardholder_id, person_code LIMIT 12"
            )
            for size in (1, 2, 5, 12, 1, 3, 1, 8):
                batch = cards[:size]
                rows = await pooled.fetch(
                    MEMBER_STATES_SQL,
                    [c["family_id"] for c in batch],
                    [c["cardholder_id"] for c in batch],
                    [c["person_code"] for c in batch],
                    [dt.date(2026, 11, 1)] * size,
                    ["no-such-claim"] * size,
                )
                assert {row["i"] for row in rows if row["kind"] == 0} == set(range(1, size + 1))
            plans = await pooled.fetchrow(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement = $1",
                MEMBER_STATES_SQL,
            )
    finally:
        await application.stop()
    assert plans is not None
    assert plans["custom_plans"] == 0
    assert plans["generic_plans"] >= 9  # the warm-up's read and the eight above


async def test_the_warm_up_runs_the_set_path_to_its_end(loaded_dsn: str) -> None:
    """The warm-up's batch of two claims of two families is posted by the set path, every
    statement of it run (and so planned), and rolled back with the rest."""
    application = await build_app(replace(TEST_SETTINGS), loaded_dsn, start=False)
    conn = await asyncpg.connect(loaded_dsn)
    transaction = conn.transaction()
    try:
        await init_connection(conn)
        await conn.execute("SET track_functions = 'pl'")
        await transaction.start()
        first = await conn.fetchrow(WARM_UP_SQL, "")
        second = await conn.fetchrow(WARM_UP_SQL, first["family_id"])
        store = application.store._bound(conn, None)
        outcomes = await _warm_set_path(store, conn, [first, second], dt.date(2000, 1, 1))
        assert [o["outcome"] for o in outcomes] == ["posted", "posted"]  # type: ignore[index]
        await transaction.rollback()
        transaction = conn.transaction()
        await transaction.start()
        # the whole warm-up (its single claim first, then the set path), rolled back inside
        await warm_up(store, conn)
        calls = await conn.fetchval(
            "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'rx_post_batch_set'"
        )
        # the calls that completed (a call that raised is not counted), not yet flushed: the one
        # above and the warm-up's
        assert calls == 2
    finally:
        await transaction.rollback()
        await conn.close()
        await application.stop()


async def test_stored_responses_use_lz4_where_the_server_has_it(
    conn: asyncpg.Connection,
) -> None:
    """Migration 0021: claim and reversal responses compressed with lz4 when the server was
    built with it, PostgreSQL's default otherwise (the embedded server)."""
    has_lz4 = await conn.fetchval(
        "SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    methods = {
        r["attrelid"]: r["attcompression"]
        for r in await conn.fetch(
            "SELECT attrelid::regclass::text AS attrelid, attcompression::text FROM pg_attribute"
            " WHERE attname = 'response' AND attrelid IN ('claim'::regclass,"
            " 'claim_reversal'::regclass)"
        )
    }
    assert (
        methods == {"claim": "l", "claim_reversal": "l"}
        if has_lz4
        else {
            "claim": "",
            "claim_reversal": "",
        }
    )
