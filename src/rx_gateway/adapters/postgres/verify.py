"""Ledger verification: every invariant the gateway promises, checked in the database.

Each check is one SQL query returning the offending rows (empty means it holds), so a failure
names exactly what is wrong.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg

from rx_gateway.adapters.postgres.database import newer_schema_problem
from rx_gateway.adapters.postgres.verify_settlement import SETTLEMENT_CHECKS

# Every join between two per-family tables is on family_id too, so each check also runs on a
# Citus cluster (joins of colocated tables on their distribution column).
CHECKS: tuple[tuple[str, str], ...] = (
    (
        "every journal entry sums to zero",
        "SELECT 'entry ' || entry_id || ' sums to ' || sum(amount_cents)"
        " FROM posting GROUP BY family_id, entry_id HAVING sum(amount_cents) <> 0",
    ),
    (
        "the whole ledger sums to zero",
        "SELECT 'ledger sums to ' || sum(amount_cents) FROM posting HAVING sum(amount_cents) <> 0",
    ),
    (
        "every posting names a known account",
        "SELECT DISTINCT 'unknown account ' || p.account_key FROM posting p"
        " LEFT JOIN account a ON a.account_key = p.account_key WHERE a.account_key IS NULL",
    ),
    (
        "every purse balance equals the sum of its postings",
        "SELECT 'purse ' || pu.purse_id || ' balance ' || pu.posted_cents || ' but postings '"
        " || coalesce(s.total, 0) FROM purse pu LEFT JOIN (SELECT family_id, account_key,"
        " sum(amount_cents) total FROM posting WHERE account_key LIKE 'purse:%'"
        " GROUP BY family_id, account_key) s"
        " ON s.family_id = pu.family_id AND s.account_key = 'purse:' || pu.purse_id"
        " WHERE pu.posted_cents <> coalesce(s.total, 0)",
    ),
    (
        "each claim's postings equal the amounts in its stored response",
        """
        SELECT 'claim ' || c.internal_control_number || ': ' || x.what
        FROM claim c
        CROSS JOIN LATERAL (
            SELECT 'plan posting ' || coalesce(sum(p.amount_cents) FILTER (
                       WHERE p.account_key = 'plan:' || c.plan_id), 0)
                   || ' vs plan paid ' || (c.response->'pricing'->>'plan_paid_cents') AS what,
                   coalesce(sum(p.amount_cents) FILTER (WHERE p.account_key = 'plan:' || c.plan_id), 0)
                       <> -(c.response->'pricing'->>'plan_paid_cents')::bigint
                   OR coalesce(sum(p.amount_cents) FILTER (
                       WHERE p.account_key = 'pharmacy_payable:' || c.service_provider_id), 0)
                       <> (c.response->'pricing'->>'total_amount_paid_cents')::bigint
                   OR coalesce(sum(p.amount_cents) FILTER (
                       WHERE p.account_key = 'member_paid:' || c.member_id), 0)
                       <> -(c.response->'pricing'->>'patient_pay_amount_cents')::bigint
                   OR coalesce(sum(p.amount_cents) FILTER (WHERE p.account_key LIKE 'purse:%'), 0)
                       <> (c.response->'pricing'->>'health_plan_funded_assistance_amount_cents')::bigint
                   OR coalesce(sum(p.amount_cents) FILTER (
                       WHERE p.account_key = 'other_payers:' || c.plan_id), 0)
                       <> -coalesce((c.response->'pricing'
                                     ->>'other_payer_amount_recognized_cents')::bigint, 0)
                   AS wrong
            FROM posting p WHERE p.family_id = c.family_id AND p.entry_id = c.entry_id
        ) x
        WHERE x.wrong
        """,
    ),
    (
        "each claim's purse spending equals its purse postings",
        """
        SELECT 'claim ' || c.internal_control_number || ' purse ' || x.purse_id
               || ': spending ' || coalesce(x.paid_cents, 0)
               || ' but postings ' || coalesce(-x.posted_cents, 0)
        FROM claim c
        CROSS JOIN LATERAL (
            SELECT purse_id, s.paid_cents, p.posted_cents
            FROM (SELECT purse_id, paid_cents FROM claim_purse_spend
                  WHERE family_id = c.family_id AND claim_id = c.claim_id) s
            FULL JOIN (SELECT substr(account_key, 7) AS purse_id, sum(amount_cents) AS posted_cents
                       FROM posting WHERE family_id = c.family_id AND entry_id = c.entry_id
                         AND account_key LIKE 'purse:%'
                       GROUP BY 1) p USING (purse_id)
        ) x
        WHERE coalesce(x.paid_cents, 0) <> coalesce(-x.posted_cents, 0)
        """,
    ),
    (
        "each claim's rewards are its response's, each credited by an entry of its own",
        """
        SELECT 'claim ' || c.internal_control_number || ': ' || x.what
        FROM claim c
        CROSS JOIN LATERAL (
            SELECT coalesce(r.program_id, s.program_id) || ' credited '
                   || coalesce(r.amount_cents, 0) || ' but the response says '
                   || coalesce(s.amount_cents, 0) || ', the entry '
                   || coalesce(r.posted_cents, 0) AS what,
                   coalesce(r.amount_cents, 0) <> coalesce(s.amount_cents, 0)
                   OR coalesce(r.amount_cents, 0) <> coalesce(r.posted_cents, 0)
                   OR r.entry_kind IS DISTINCT FROM (CASE WHEN r.program_id IS NOT NULL
                                                     THEN 'reward' END) AS wrong
            FROM (SELECT cr.program_id, cr.amount_cents, e.kind AS entry_kind,
                         (SELECT sum(p.amount_cents) FROM posting p
                          WHERE p.family_id = cr.family_id AND p.entry_id = cr.entry_id
                            AND p.account_key = 'purse:' || cr.purse_id) AS posted_cents
                  FROM claim_reward cr
                  JOIN journal_entry e ON e.family_id = cr.family_id AND e.entry_id = cr.entry_id
                  WHERE cr.family_id = c.family_id AND cr.claim_id = c.claim_id) r
            FULL JOIN (SELECT x->>'program_id' AS program_id,
                              (x->>'amount_cents')::bigint AS amount_cents
                       FROM jsonb_array_elements(coalesce(c.response->'rewards', '[]'::jsonb)) x
                      ) s USING (program_id)
        ) x
        WHERE x.wrong
        """,
    ),
    (
        "every accumulator equals the sum of its moves",
        "SELECT a.level || ' ' || a.subject_id || ' ' || a.kind || ' ' || a.plan_year_start"
        " || ': ' || a.amount_cents || ' but moves ' || coalesce(m.total, 0)"
        " FROM accumulator a LEFT JOIN (SELECT family_id, level, subject_id, plan_id,"
        " plan_year_start, kind, sum(amount_cents) total FROM accumulator_move"
        " GROUP BY 1, 2, 3, 4, 5, 6) m"
        " USING (family_id, level, subject_id, plan_id, plan_year_start, kind)"
        " WHERE a.amount_cents <> coalesce(m.total, 0)",
    ),
    (
        "no claim key has two live payments in a family",
        "SELECT 'claim key ' || claim_key || ' has ' || count(*) || ' live payments' FROM claim c"
        " WHERE NOT EXISTS (SELECT 1 FROM claim_reversal r"
        " WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)"
        " GROUP BY family_id, claim_key HAVING count(*) > 1",
    ),
    (
        "every reversal mirrors its original",
        """
        SELECT 'reversal entry ' || e.entry_id || ' does not mirror entry ' || e.reverses_entry_id
        FROM journal_entry e
        WHERE e.kind = 'reversal' AND EXISTS (
            SELECT account_key, sum(amount_cents) FROM (
                SELECT account_key, amount_cents FROM posting
                WHERE family_id = e.family_id AND entry_id = e.entry_id
                UNION ALL
                SELECT account_key, amount_cents FROM posting
                WHERE family_id = e.family_id AND entry_id = e.reverses_entry_id
            ) both_sides GROUP BY account_key HAVING sum(amount_cents) <> 0)
        """,
    ),
    (
        "every member is in the directory under its own family",
        "SELECT 'member ' || m.member_id || ': directory says '"
        " || coalesce(k.family_id, 'nothing') || ', table says ' || m.family_id"
        " FROM member m LEFT JOIN member_key k ON k.member_id = m.member_id"
        " WHERE k.family_id IS DISTINCT FROM m.family_id"
        " OR k.cardholder_id IS DISTINCT FROM m.cardholder_id"
        " OR k.person_code IS DISTINCT FROM m.person_code",
    ),
)

CHECKS += SETTLEMENT_CHECKS

PROBLEMS_PER_CHECK_MAX = 20
# The tables the checks read: all of them exist once every migration has run.
CHECKED_TABLES = (
    "account",
    "accumulator",
    "accumulator_move",
    "claim",
    "claim_purse_spend",
    "claim_reversal",
    "claim_reward",
    "journal_entry",
    "member_key",
    "posting",
    "purse",
    "remittance",
    "invoice",
    "settlement_posting",
)


async def schema_problem(conn: asyncpg.Connection) -> str | None:
    """Why the checks (and the commands that do not migrate: settle, invoice, exports...)
    cannot run here (no rx-gateway schema, one from before a migration they need, or one a
    newer release migrated), or None. Reads only: creates nothing."""
    applied = None
    if await conn.fetchval("SELECT to_regclass('schema_migration') IS NOT NULL"):
        # a login that may not read it (least privilege) is taken at its word: no check
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            applied = await conn.fetchval("SELECT max(version) FROM schema_migration")
    newer = newer_schema_problem(applied)  # first: a newer release may have renamed a table
    if newer is not None:
        return newer
    missing = await conn.fetchval(
        "SELECT array_agg(t ORDER BY t) FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL",
        list(CHECKED_TABLES),
    )
    if not missing:
        return None
    if len(missing) == len(CHECKED_TABLES):
        return "no rx-gateway schema"
    return f"the rx-gateway schema is not current (no table {', '.join(missing)})"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


async def run_checks(conn: asyncpg.Connection) -> list[CheckResult]:
    """Run every check on the connection as it is (inside whatever transaction it holds)."""
    results = []
    for name, query in CHECKS:
        rows = await conn.fetch(f"{query} LIMIT {PROBLEMS_PER_CHECK_MAX}")
        results.append(CheckResult(name, tuple(str(r[0]) for r in rows)))
    return results


async def verify_ledger(conn: asyncpg.Connection) -> list[CheckResult]:
    """Run every check in one repeatable-read snapshot, so they all see the same ledger."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await run_checks(conn)
