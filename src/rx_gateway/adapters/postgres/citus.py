"""Past one PostgreSQL: turn a migrated database on a Citus cluster into the distributed layout.

The family is the distribution column: every per-family table is distributed by family_id and
colocated with `family`, so a claim (which touches one family) is a single-shard transaction,
and the hot-path functions are distributed functions that run on the family's shard. Shared
data (plans, drugs, formulary, pharmacies, accounts, reference versions, the member directory)
are reference tables, copied to every node. `schema_migration` stays on the coordinator.

Order matters, and every step is skipped when it is already done (the command is idempotent):

1. the per-family tables, parents before children (their foreign keys are composite, on
   family_id first), colocated with `family`. Before that, the one foreign key from a
   per-family table to a future reference table (coverage -> plan) is dropped: Citus would
   otherwise turn the per-family table into a local table when `plan` becomes a reference
   table;
2. the reference tables, then the dropped foreign key again;
3. the hot-path functions, distributed by their first parameter (the family) and colocated with
   `family`.

Triggers (append-only history, the balance check) need `citus.enable_unsafe_triggers`: they
then hold on every shard. The balance trigger reads only its transition table, which Citus
supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

# Parents before children: each table's composite foreign keys point at tables earlier here.
PER_FAMILY_TABLES: tuple[str, ...] = (
    "family",
    "family_employer_change",
    "member",
    "coverage",
    "other_coverage",
    "prior_authorization",
    "purse",
    "journal_entry",
    "posting",
    "purse_funding",
    "purse_allotment",
    "claim",
    "claim_reversal",
    "claim_purse_spend",
    "claim_reward",
    "accumulator",
    "accumulator_move",
    "audit_log",
    "remittance_item",
    "invoice_item",
    "enrollment_review",
)
REFERENCE_TABLES: tuple[str, ...] = (
    "reference_version",
    "plan",
    "drug",
    "formulary",
    "pharmacy",
    "account",
    "member_key",
    "drug_interaction",
    "settlement_payer",
    "payee",
    "sponsor",
    "settlement_entry",
    "settlement_posting",
    "pay_cycle",
    "remittance",
    "billing_cycle",
    "invoice",
    "settlement_file",
    "sponsor_receipt",
    "bank_line",
    "bank_match",
    "settlement_alert",
    "enrollment_file",
)
LOCAL_TABLES: tuple[str, ...] = ("schema_migration",)
# Foreign keys that point at a future reference table: dropped before anything is distributed
# (Citus turns a table linked to a reference table into a local one), added back at the end,
# when both sides have their place.
CROSS_KEYS: tuple[tuple[str, str, str], ...] = (
    ("coverage", "coverage_plan_fkey", "FOREIGN KEY (plan_id) REFERENCES plan (plan_id)"),
    ("formulary", "formulary_plan_id_fkey", "FOREIGN KEY (plan_id) REFERENCES plan (plan_id)"),
    ("formulary", "formulary_ndc_fkey", "FOREIGN KEY (ndc) REFERENCES drug (ndc)"),
    (
        "remittance_item",
        "remittance_item_cycle_id_fkey",
        "FOREIGN KEY (cycle_id) REFERENCES pay_cycle (cycle_id)",
    ),
    (
        "invoice_item",
        "invoice_item_invoice_id_fkey",
        "FOREIGN KEY (invoice_id) REFERENCES invoice (invoice_id) DEFERRABLE",
    ),
)
DISTRIBUTED_FUNCTIONS: tuple[str, ...] = (
    "rx_post_claim(text, jsonb)",
    "rx_post_reversal(text, jsonb)",
    "rx_claim_for_reversal(text, text)",
    "rx_fund_purse(text, text, text, bigint, text, text)",
    "rx_schedule_allotment(text, text, text, bigint, date, text, text)",
    "rx_move_accumulators(text, bigint, jsonb)",
    "rx_due_allotments(text, date)",
)


class CitusUnavailable(Exception):
    """The database is not a Citus coordinator (the extension is not installed)."""


@dataclass(frozen=True, slots=True)
class Step:
    why: str
    sql: str


async def _distributed(conn: Any) -> dict[str, str]:
    """table -> partition method ('h' hash-distributed, 'n' reference or Citus local)."""
    rows = await conn.fetch(
        "SELECT logicalrelid::regclass::text AS name, partmethod FROM pg_dist_partition"
    )
    return {r["name"]: r["partmethod"] for r in rows}


async def _distributed_functions(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT objid::regprocedure::text AS name FROM pg_catalog.pg_dist_object"
        " WHERE classid = 'pg_proc'::regclass AND distribution_argument_index IS NOT NULL"
    )
    return {r["name"].replace(",", ", ") for r in rows}


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What the coordinator already has: table -> partition method ('h' hash-distributed, 'n'
    reference), the distributed functions, the cross keys that exist, the database's name."""

    tables: dict[str, str]
    functions: frozenset[str]
    keys: frozenset[str]
    database: str


def steps_for(state: ClusterState) -> list[Step]:
    """The statements still to run, in order; empty when the layout is complete."""
    steps = [
        Step(
            "the append-only and balance triggers are kept on every shard",
            "SET citus.enable_unsafe_triggers TO on",
        ),
        Step(
            "and for later sessions (a migration that adds a trigger)",
            f'ALTER DATABASE "{state.database}" SET citus.enable_unsafe_triggers TO on',
        ),
    ]
    preamble = len(steps)
    pending = [t for t in PER_FAMILY_TABLES if state.tables.get(t) != "h"]
    pending_reference = [t for t in REFERENCE_TABLES if state.tables.get(t) != "n"]
    dropped = [
        (table, name, definition)
        for table, name, definition in CROSS_KEYS
        if (table in pending or table in pending_reference) and name in state.keys
    ]
    steps += [
        Step(
            f"{table}'s key to reference data, until both have their place",
            f"ALTER TABLE {table} DROP CONSTRAINT {name}",
        )
        for table, name, _ in dropped
    ]
    steps += [
        Step(
            f"{table}: distributed by family, on the family's shard",
            f"SELECT create_distributed_table('{table}', 'family_id',"
            f" colocate_with => '{'none' if table == 'family' else 'family'}')",
        )
        for table in pending
    ]
    steps += [
        Step(
            f"{table}: a reference table, on every node",
            f"SELECT create_reference_table('{table}')",
        )
        for table in pending_reference
    ]
    steps += [
        Step(
            f"{table}'s key to reference data, back",
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}",
        )
        for table, name, definition in CROSS_KEYS
        if (table, name, definition) in dropped or name not in state.keys
    ]
    steps += [
        Step(
            f"{function.split('(')[0]} runs on the family's shard",
            f"SELECT create_distributed_function('{function}', '$1', colocate_with => 'family')",
        )
        for function in DISTRIBUTED_FUNCTIONS
        if function not in state.functions
    ]
    return [] if len(steps) == preamble else steps


async def plan_distribution(conn: asyncpg.Connection) -> list[Step]:
    """The statements still to run on this coordinator, in order."""
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
    ):
        msg = (
            "the citus extension is not installed in this database: as a superuser run"
            " `CREATE EXTENSION citus;` on the coordinator (before `rx-gateway migrate`, so the"
            " gateway's roles reach the workers too), then run this again"
        )
        raise CitusUnavailable(msg)
    keys = await conn.fetch(
        "SELECT conname FROM pg_constraint WHERE conname = ANY($1::text[])",
        [name for _, name, _ in CROSS_KEYS],
    )
    return steps_for(
        ClusterState(
            tables=await _distributed(conn),
            functions=frozenset(await _distributed_functions(conn)),
            keys=frozenset(r["conname"] for r in keys),
            database=await conn.fetchval("SELECT current_database()"),
        )
    )


async def distribute(conn: asyncpg.Connection) -> list[Step]:
    """Run what plan_distribution says, step by step; the steps that ran."""
    steps = await plan_distribution(conn)
    for step in steps:
        await conn.execute(step.sql)
    return steps


async def is_distributed(pool: asyncpg.Pool) -> bool:
    """Whether the ledger is distributed by family (a Citus coordinator with the claim table
    hash-distributed): the gateway then reads and writes one claim at a time, so that every
    statement stays on one family's shard (a batch would span shards)."""
    async with pool.acquire() as conn:
        distributed: bool = await conn.fetchval(
            "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL"
        )
        if not distributed:
            return False
        return "claim" in {
            name for name, method in (await _distributed(conn)).items() if method == "h"
        }
