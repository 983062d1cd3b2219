"""The demo's last act: the week's pay cycle and billing cycle are closed (early: the week is
not over, so claims received later this week would go to the next cycle), and what was paid
and billed is shown per payee and per sponsor, with the files written."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from rx_gateway.adapters.files.settlement_files import DirectoryFiles
from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
from rx_gateway.domain.money import format_cents
from rx_gateway.service_layer import settlement


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in (columns, *rows)) for i in range(len(columns))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(columns), "-" * len(line(columns)), *(line(r) for r in rows)]


async def settle_the_week(dsn: str, out: Path) -> tuple[str, bool]:
    """Close this week's pay and billing cycles; the summary, and whether every remittance
    balanced (the domain checks each one as it is built)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    try:
        plans = list((await PostgresReferenceLoader(pool).load_snapshot()).plans.values())
        store = PostgresSettlement(pool)
        today = (await store.now()).date()
        through = min(p.pay_schedule.period_end(today) for p in plans)
        files = DirectoryFiles(out)
        paid = await settlement.settle(store, files, plans, through)
        billed = await settlement.invoice(store, files, plans, through)
    finally:
        await pool.close()
    lines = [""]
    for cycle in paid:
        lines.append(f"Pay cycle {cycle.cycle_id} (closed early: the week is not over)")
        lines += _table(
            ("payee", "claims", "paid for claims", "fee", "payment (BPR02)", "pay date", "trace"),
            [
                (
                    r.payee_id,
                    str(r.line_count),
                    format_cents(r.claims_paid_cents),
                    format_cents(r.fee_cents),
                    format_cents(r.payment_cents),
                    f"{r.pay_date}",
                    r.trace_number,
                )
                for r in cycle.remittances
            ],
            {1, 2, 3, 4},
        )
        lines.append("")
    for cycle in billed:
        lines.append(f"Billing cycle {cycle.cycle_id}")
        lines += _table(
            ("sponsor", "lines", "billed", "due"),
            [
                (i.sponsor_id, str(i.line_count), format_cents(i.total_cents), f"{i.due_on}")
                for i in cycle.invoices
            ],
            {1, 2},
        )
        lines.append("")
    written = [p for cycle in (*paid, *billed) for p in cycle.paths]
    lines.append(f"{len(written)} files written:")
    lines += [f"  {p}" for p in written]
    balanced = all(r.payment_cents >= 0 for c in paid for r in c.remittances)
    return "\n".join(lines), balanced and bool(paid) and bool(billed)


__all__ = ["settle_the_week"]
