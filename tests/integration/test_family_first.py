"""Family first (issue 13): the schema is ready to be distributed by family on Citus.

The catalog of a migrated database is read, not a list kept by hand: a new per-family table
without family_id, a key that leaves it out, or a foreign key between two per-family tables
that is not composite fails here, on plain PostgreSQL, in CI.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.citus import (
    CROSS_KEYS,
    DISTRIBUTED_FUNCTIONS,
    LOCAL_TABLES,
    PER_FAMILY_TABLES,
    REFERENCE_TABLES,
    CitusUnavailable,
    ClusterState,
    plan_distribution,
    steps_for,
)
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request

KEYS_SQL = """
SELECT c.conrelid::regclass::text AS table_name, c.conname, c.contype::text AS contype,
       array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.n)::text[] AS columns,
       c.confrelid::regclass::text AS referenced,
       array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
             ORDER BY k.n)::text[] AS referenced_columns
FROM pg_constraint c
WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u', 'f')
"""


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


async def test_every_table_has_its_place(conn: asyncpg.Connection) -> None:
    """Each table is per-family, reference or local: a new table must choose."""
    tables = await _tables(conn)
    assert tables == set(PER_FAMILY_TABLES) | set(REFERENCE_TABLES) | set(LOCAL_TABLES)


async def test_per_family_tables_carry_family_id_first_in_every_key(
    conn: asyncpg.Connection,
) -> None:
    columns = {
        (r[0], r[1])
        for r in await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND column_name = 'family_id' AND is_nullable = 'NO'"
        )
    }
    missing = [t for t in PER_FAMILY_TABLES if (t, "family_id") not in columns]
    assert missing == []
    keys = [r for r in await conn.fetch(KEYS_SQL) if r["table_name"] in PER_FAMILY_TABLES]
    assert {r["table_name"] for r in keys if r["contype"] == "p"} == set(PER_FAMILY_TABLES)
    wrong = [
        (r["table_name"], r["conname"], list(r["columns"]))
        for r in keys
        if r["contype"] in ("p", "u") and r["columns"][0] != "family_id"
    ]
    assert wrong == []


async def test_keys_between_per_family_tables_are_composite_on_family_id(
    conn: asyncpg.Connection,
) -> None:
    foreign = [r for r in await conn.fetch(KEYS_SQL) if r["contype"] == "f"]
    between = [
        r
        for r in foreign
        if r["table_name"] in PER_FAMILY_TABLES and r["referenced"] in PER_FAMILY_TABLES
    ]
    assert between  # the test would pass trivially without any
    wrong = [
        (r["table_name"], r["conname"])
        for r in between
        if r["columns"][0] != "family_id" or r["referenced_columns"][0] != "family_id"
    ]
    assert wrong == []
    # per-family -> reference keys exist only where distribute drops and restores them
    crossing = {
        (r["table_name"], r["conname"])
        for r in foreign
        if r["table_name"] in PER_FAMILY_TABLES and r["referenced"] in REFERENCE_TABLES
    }
    assert crossing <= {(table, name) for table, name, _ in CROSS_KEYS}


async def test_hot_path_functions_take_the_family_first(conn: asyncpg.Connection) -> None:
    """Each function distribute registers exists with the family as its first parameter."""
    for function in DISTRIBUTED_FUNCTIONS:
        first = await conn.fetchval(
            "SELECT (proargnames)[1] FROM pg_proc WHERE oid = $1::regprocedure", function
        )
        assert first == "p_family_id", function


def test_the_distribution_runs_in_order_and_only_once() -> None:
    """Distributed tables (parents first) before reference tables, the keys to reference data
    dropped before and restored after, functions last; a finished layout plans nothing."""
    nothing = ClusterState({}, frozenset(), frozenset(name for _, name, _ in CROSS_KEYS), "db")
    steps = [s.sql for s in steps_for(nothing)]
    assert steps[0] == "SET citus.enable_unsafe_triggers TO on"
    position = {sql: n for n, sql in enumerate(steps)}

    def at(fragment: str) -> int:
        return next(n for sql, n in position.items() if fragment in sql)

    distributed = [at(f"create_distributed_table('{t}'") for t in PER_FAMILY_TABLES]
    assert distributed == sorted(distributed)  # parents before children
    reference = [at(f"create_reference_table('{t}')") for t in REFERENCE_TABLES]
    functions = [at(f"create_distributed_function('{f}'") for f in DISTRIBUTED_FUNCTIONS]
    assert max(distributed) < min(reference) and max(reference) < min(functions)
    for table, name, _ in CROSS_KEYS:
        assert at(f"ALTER TABLE {table} DROP CONSTRAINT {name}") < min(distributed)
        assert max(reference) < at(f"ALTER TABLE {table} ADD CONSTRAINT {name}") < min(functions)
    assert "colocate_with => 'none'" in steps[distributed[0]]  # family: the colocation anchor
    assert all("colocate_with => 'family'" in steps[n] for n in distributed[1:])

    done = ClusterState(
        {t: "h" for t in PER_FAMILY_TABLES} | {t: "n" for t in REFERENCE_TABLES},
        frozenset(DISTRIBUTED_FUNCTIONS),
        frozenset(name for _, name, _ in CROSS_KEYS),
        "db",
    )
    assert steps_for(done) == []
    # half done (interrupted after the distributed tables): only the rest, keys not dropped
    half = ClusterState(
        {t: "h" for t in PER_FAMILY_TABLES}, frozenset(), frozenset({"coverage_plan_fkey"}), "db"
    )
    rest = [s.sql for s in steps_for(half)]
    assert not any("create_distributed_table" in sql for sql in rest)
    assert not any("DROP CONSTRAINT coverage_plan_fkey" in sql for sql in rest)
    assert any("create_reference_table('plan')" in sql for sql in rest)


async def test_distribute_on_plain_postgresql_says_what_to_do(conn: asyncpg.Connection) -> None:
    with pytest.raises(CitusUnavailable, match="CREATE EXTENSION citus"):
        await plan_distribution(conn)


async def test_a_reversal_without_a_patient_finds_its_claim_in_any_family(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """A B2 with no insurance segment: the claim is found by its key across families (on
    Citus a read of every shard) and reversed."""
    member = fixtures["members"]["commercial_woman"]
    request = claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic_copay"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx_number(),
        date_of_service="20261030",
    )
    assert (await client.submit(request)).transaction_response_status == "P"
    reversal = reversal_for(request)
    reversal.ClearField("insurance")
    assert (await client.reverse(reversal)).transaction_response_status == "A"
