"""The settlement store on PostgreSQL (service_layer.settlement.SettlementStore): each call on a
connection of its own pool, each close one transaction."""

from __future__ import annotations

import datetime as dt

import asyncpg

from rx_gateway.adapters.postgres import billing, pay_cycles, reconciling
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.settlement_ledger import now, read_sponsors
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.parties import Sponsor
from rx_gateway.domain.settlement.reconciliation import (
    BankLine,
    Match,
    ReconciliationException,
)
from rx_gateway.service_layer.settlement import (
    Applied,
    BillingCycle,
    InvoiceFile,
    PayCycle,
    PayeeBalance,
    RemittanceFile,
    SponsorBalance,
)

FIRST_RECEIVED_SQL = """
SELECT least((SELECT min(created_at) FROM claim), (SELECT min(created_at) FROM claim_reversal))
"""


class PostgresSettlement:
    """``actor``: who closes cycles through it (each close's audit row names them)."""

    def __init__(self, pool: asyncpg.Pool, *, actor: str = "settlement") -> None:
        self._pool = pool
        self._actor = actor

    async def now(self) -> dt.datetime:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await now(conn)

    async def first_received(self) -> dt.datetime | None:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                value: dt.datetime | None = await conn.fetchval(FIRST_RECEIVED_SQL)
                return value

    async def last_closed(self, kind: str) -> dict[str, dt.date]:
        table = {"pay": "pay_cycle", "billing": "billing_cycle"}[kind]
        with mapped_errors():
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT schedule_key, max(period_end) AS last FROM {table} GROUP BY 1"  # noqa: S608 - a constant
                )
        return {r["schedule_key"]: r["last"] for r in rows}

    async def close_pay_cycle(
        self, cycle: PayCycle, at: dt.datetime
    ) -> tuple[bool, tuple[RemittanceFile, ...]] | None:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await pay_cycles.close_pay_cycle(conn, cycle, at=at, actor=self._actor)

    async def close_billing_cycle(
        self, cycle: BillingCycle, at: dt.datetime
    ) -> tuple[bool, tuple[InvoiceFile, ...]] | None:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await billing.close_billing_cycle(conn, cycle, at=at, actor=self._actor)

    async def sponsors(self) -> dict[str, Sponsor]:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await read_sponsors(conn)

    async def record_receipts(
        self, path: str, digest: str, receipts: list[tuple[int, Receipt]]
    ) -> Applied:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await reconciling.record_receipts(conn, path, digest, receipts)

    async def reconcile(
        self,
        path: str,
        digest: str,
        lines: tuple[BankLine, ...],
        *,
        as_of: dt.date,
        unconfirmed_after_days: int,
    ) -> tuple[Applied, tuple[Match, ...], tuple[ReconciliationException, ...]]:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await reconciling.reconcile(
                    conn,
                    path,
                    digest,
                    lines,
                    as_of=as_of,
                    unconfirmed_after_days=unconfirmed_after_days,
                )

    async def payee_balances(self, next_pay: dt.date | None) -> tuple[PayeeBalance, ...]:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await reconciling.payee_balances(conn, next_pay)

    async def sponsor_balances(
        self, as_of: dt.date, sponsor_of_plan: dict[str, str]
    ) -> tuple[SponsorBalance, ...]:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                return await reconciling.sponsor_balances(conn, as_of, sponsor_of_plan)

    async def alerts(self, limit: int = 100) -> list[dict[str, object]]:
        with mapped_errors():
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT alert_id, raised_at, kind, sponsor_id, balance_cents,"
                    " threshold_cents, detail FROM settlement_alert"
                    " ORDER BY alert_id DESC LIMIT $1",
                    limit,
                )
        return [dict(r) for r in rows]
