"""Upgrades: a database migrated and loaded by an earlier release is brought up to date by
`migrate`, and a release older than the schema refuses to run on it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.verify import run_checks, schema_problem
from rx_gateway.bootstrap import Database
from rx_gateway.domain.errors import PreconditionFailed


async def test_an_upgrade_makes_every_employer_a_sponsor(fresh_loaded_database: Any) -> None:
    """A database loaded before load made employers sponsors (here: their sponsor rows gone
    and 0023 not applied) failed `verify` after the upgrade until a `load` ran again: the
    migration makes them sponsors, with the default terms, and keeps the stored ones."""
    dsn = await fresh_loaded_database()
    database = Database(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        terms = "SELECT sponsor_id, admin_fee_cents, billing_period_days FROM sponsor"
        before = {r["sponsor_id"]: tuple(r) for r in await conn.fetch(terms)}
        employers = [r[0] for r in await conn.fetch("SELECT DISTINCT employer_id FROM family")]
        # one employer's sponsor row gone (as before load made it); another's terms its own
        gone, kept = employers[0], employers[1]
        await conn.execute("UPDATE sponsor SET admin_fee_cents = 123 WHERE sponsor_id = $1", kept)
        await conn.execute("DELETE FROM schema_migration WHERE version = 23")
        await conn.execute("DELETE FROM sponsor WHERE sponsor_id = $1", gone)
        failed = [r.name for r in await run_checks(conn) if not r.passed]
        assert any("sponsor" in name for name in failed), failed
        assert await database.migrate() == ["0023_employers_are_sponsors.sql"]
        assert [r.name for r in await run_checks(conn) if not r.passed] == []
        after = {r["sponsor_id"]: tuple(r) for r in await conn.fetch(terms)}
        assert set(after) == set(before)
        assert after[kept][1] == 123  # stored terms are kept: ON CONFLICT DO NOTHING
        assert after[gone][1] == 0  # back with the default terms (no fee)
    finally:
        await conn.close()


async def test_a_release_older_than_the_schema_refuses_to_run_on_it(fresh_database: Any) -> None:
    """A schema a newer release migrated: this one said "schema is current" and served on
    it (an older one crashed on a column it did not know). Refused, naming both versions."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO schema_migration (version, name) VALUES (999, 'next.sql')")
    finally:
        await conn.close()
    with pytest.raises(PreconditionFailed, match="migration 0999, newer than this rx-gateway"):
        await database.migrate()
    # the commands that do not migrate (verify, settle, exports...) read the same check
    conn = await asyncpg.connect(dsn)
    try:
        problem = await schema_problem(conn)
    finally:
        await conn.close()
    assert problem is not None and "newer than this rx-gateway knows" in problem
