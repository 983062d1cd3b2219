"""What the settlement adapters share: the settlement journal (balanced entries, append-only),
account balances across both journals, the parties, and the lock that serialises closes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.ledger import JournalEntry
from rx_gateway.domain.settlement.parties import FundingModel, Payee, Payer, Sponsor

# pg_advisory_xact_lock key: one close (pay cycle, billing cycle, receipts, reconciliation) at
# a time. Claims never take it: closing does not stall the claim path.
SETTLEMENT_LOCK = 0x5E77_1E


async def lock_settlement(conn: Any) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SETTLEMENT_LOCK)


async def audit_close(conn: Any, action: str, actor: str, cycle_id: str) -> None:
    """The audit row of a cycle closed now, in its close's transaction: who closed which
    cycle (a repeat that finds it closed changes nothing and writes none)."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, outcome, detail) VALUES ($1, $2, 'ok', $3)",
        actor,
        action,
        {"cycle_id": cycle_id},
    )


async def collect(conn: Any, sql: str, *args: Any) -> None:
    """A close's INSERT .. SELECT .. WHERE NOT EXISTS (the items table it inserts into). On a
    young table the planner guesses it empty and picks a nested loop that scans it once per
    candidate, pages it is filling included: quadratic (7 s for 50,000 claims). With sequential
    scans off for this one statement it probes the primary key and the received-time indexes
    instead (0.6 s); the setting is local to the close's transaction and reset after."""
    await conn.execute("SET LOCAL enable_seqscan = off")
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.execute("SET LOCAL enable_seqscan = on")


async def post_entry(conn: Any, kind: str, reference: str, entry: JournalEntry) -> int | None:
    """One balanced settlement entry (the trigger checks the balance again); None when the
    entry has no postings (everything netted to zero)."""
    if not entry.postings:
        return None
    entry_id: int = await conn.fetchval(
        "INSERT INTO settlement_entry (kind, reference) VALUES ($1, $2) RETURNING entry_id",
        kind,
        reference,
    )
    await conn.execute(  # one statement: the balance trigger sees the whole entry
        "INSERT INTO settlement_posting (entry_id, account_key, amount_cents)"
        " SELECT $1, a, c FROM unnest($2::text[], $3::bigint[]) AS x(a, c)",
        entry_id,
        [p.account for p in entry.postings],
        [p.amount_cents for p in entry.postings],
    )
    return entry_id


async def settlement_balances(conn: Any, prefix: str) -> dict[str, int]:
    """Balances of the settlement accounts whose key starts with ``prefix`` (e.g.
    ``payee_carry:``), by the part after it."""
    rows = await conn.fetch(
        "SELECT account_key, sum(amount_cents) AS balance FROM settlement_posting"
        " WHERE account_key LIKE $1 || '%' GROUP BY account_key",
        prefix,
    )
    return {r["account_key"].removeprefix(prefix): int(r["balance"]) for r in rows}


async def read_payer(conn: Any) -> Payer:
    row = await conn.fetchrow("SELECT * FROM settlement_payer")
    if row is None:
        raise ReferenceDataError(
            "processor.json",
            0,
            "(file)",
            "no processor loaded: the 835's payer needs a name, address, TIN and contact;"
            " add processor.json to the data directory and run `rx-gateway load`",
        )
    return Payer(**{k: v for k, v in dict(row).items() if k != "singleton"})


async def read_payees(conn: Any, payee_ids: list[str]) -> dict[str, Payee]:
    """The payees, by ID: a payee of payees.csv, or a store paid itself (its NPI, its name)."""
    found = {
        r["payee_id"]: Payee(**dict(r))
        for r in await conn.fetch("SELECT * FROM payee WHERE payee_id = ANY($1::text[])", payee_ids)
    }
    stores = await conn.fetch(
        "SELECT npi, name FROM pharmacy WHERE npi = ANY($1::text[])",
        [p for p in payee_ids if p not in found],
    )
    found |= {r["npi"]: Payee(r["npi"], r["name"], npi=r["npi"]) for r in stores}
    return found


async def read_sponsors(conn: Any) -> dict[str, Sponsor]:
    rows = await conn.fetch("SELECT * FROM sponsor ORDER BY sponsor_id")
    return {
        r["sponsor_id"]: Sponsor(**(dict(r) | {"funding_model": FundingModel(r["funding_model"])}))
        for r in rows
    }


async def now(conn: Any) -> dt.datetime:
    value: dt.datetime = await conn.fetchval("SELECT now()")
    return value
