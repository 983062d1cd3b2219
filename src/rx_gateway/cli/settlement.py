"""The settlement commands: settle (pay pharmacies), invoice (bill sponsors), funding receive
(sponsor payments), reconcile (the bank's confirmations), balances."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from rx_gateway.cli.database import _where, open_database, schema_error
from rx_gateway.config import Settings
from rx_gateway.domain.errors import ReferenceDataError, RxGatewayError
from rx_gateway.domain.money import format_cents

if TYPE_CHECKING:
    from rx_gateway.adapters.postgres.settlement_store import PostgresSettlement
    from rx_gateway.domain.reference import Plan
    from rx_gateway.domain.settlement.reconciliation import ReconciliationException

T = TypeVar("T")


def parse_day(value: str) -> dt.date:
    """A YYYY-MM-DD option (argparse turns the ValueError into one usage line)."""
    return dt.date.fromisoformat(value)


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[tuple[PostgresSettlement, list[Plan]]]:
    """The settlement store and the loaded plans, or one line saying what is missing."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.reference_loader import (  # noqa: PLC0415
        PostgresReferenceLoader,
    )
    from rx_gateway.adapters.postgres.settlement_store import (  # noqa: PLC0415
        PostgresSettlement,
    )
    from rx_gateway.adapters.postgres.verify import schema_problem  # noqa: PLC0415

    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        msg = f"no rx-gateway schema in {_where(settings)}: run `rx-gateway load DIR` first"
        raise RxGatewayError(msg)
    database = await open_database(settings)
    try:
        pool = await asyncpg.create_pool(database.dsn, min_size=1, max_size=2, init=init_connection)
        try:
            async with pool.acquire() as conn:
                problem = await schema_problem(conn)  # type: ignore[arg-type]
            if problem is not None:
                raise schema_error(problem, settings, "run `rx-gateway migrate` (or load) first")
            snapshot = await PostgresReferenceLoader(pool).load_snapshot()
            # the audit rows of the cycles a command closes name it (no operator logs in)
            yield PostgresSettlement(pool, actor="cli"), list(snapshot.plans.values())
        finally:
            await pool.close()
    finally:
        database.close()


async def _with_store(
    settings: Settings, use: Callable[[PostgresSettlement, list[Plan]], Awaitable[T]]
) -> T:
    async with _store(settings) as (store, plans):
        return await use(store, plans)


async def settle(settings: Settings, through: dt.date, out: Path) -> int:
    from rx_gateway.adapters.files.settlement_files import (  # noqa: PLC0415
        DirectoryFiles,
        writable_directory,
    )
    from rx_gateway.service_layer import settlement  # noqa: PLC0415

    await asyncio.to_thread(writable_directory, out)  # before anything is committed

    closed = await _with_store(
        settings,
        lambda store, plans: settlement.settle(
            store, DirectoryFiles(out), plans, through, today=settings.business_date
        ),
    )
    if not closed:
        print(f"no pay cycle ends by {through}: nothing to close")
    for cycle in closed:
        state = "closed" if cycle.closed_now else "already closed (files written again)"
        print(f"{cycle.cycle_id}: {state}, {len(cycle.remittances)} remittance(s)")
        for r in cycle.remittances:
            print(
                f"  {r.payee_id:<14} {r.line_count:>6} lines"
                f"  claims {format_cents(r.claims_paid_cents):>14}"
                f"  fee {format_cents(r.fee_cents):>9}  pays {format_cents(r.payment_cents):>14}"
                f"  on {r.pay_date}  trace {r.trace_number}"
                + (f"  carried {format_cents(r.carried_out_cents)}" if r.carried_out_cents else "")
            )
    if any(c.paths for c in closed):
        print(f"files under {out}/")
    return 0


async def invoice(settings: Settings, through: dt.date, out: Path) -> int:
    from rx_gateway.adapters.files.settlement_files import (  # noqa: PLC0415
        DirectoryFiles,
        writable_directory,
    )
    from rx_gateway.service_layer import settlement  # noqa: PLC0415

    await asyncio.to_thread(writable_directory, out)  # before anything is committed

    closed = await _with_store(
        settings,
        lambda store, plans: settlement.invoice(
            store, DirectoryFiles(out), plans, through, today=settings.business_date
        ),
    )
    if not closed:
        print(f"no billing cycle ends by {through}: nothing to close")
    for cycle in closed:
        state = "closed" if cycle.closed_now else "already closed (files written again)"
        print(f"{cycle.cycle_id}: {state}, {len(cycle.invoices)} invoice(s)")
        for i in cycle.invoices:
            print(
                f"  {i.sponsor_id:<14} {i.line_count:>6} lines"
                f"  bills {format_cents(i.total_cents):>14}"
                f"  due {i.due_on}"
            )
    if any(c.paths for c in closed):
        print(f"files under {out}/")
    return 0


async def receive_funding(settings: Settings, path: Path) -> int:
    from rx_gateway.adapters.files.settlement_files import digest_of, read_receipts  # noqa: PLC0415

    receipts = read_receipts(path)  # a bad line: one error naming file, line and field
    today = settings.business_date or dt.datetime.now(dt.UTC).date()
    for line, receipt in receipts:
        if receipt.received_on > today:  # it would pay open invoices before it has arrived
            raise ReferenceDataError(
                str(path),
                line,
                "received_on",
                f"{receipt.received_on} is after today ({today}): record a payment once it has"
                " arrived",
            )
    digest = digest_of(path)
    applied = await _with_store(
        settings, lambda store, _: store.record_receipts(str(path), digest, receipts)
    )
    if applied.previously is not None:
        print(
            f"{path}: already applied on {applied.previously:%Y-%m-%d %H:%M} UTC: nothing changed"
        )
        return 0
    total = sum(r.amount_cents for _, r in receipts)
    print(f"{path}: {applied.lines} payment(s) recorded, {format_cents(total)}")
    return 0


async def reconcile(
    settings: Settings, bank: Path, out: Path, as_of: dt.date | None, after_days: int
) -> int:
    from rx_gateway.adapters.files.settlement_files import (  # noqa: PLC0415
        digest_of,
        read_bank_lines,
        writable_directory,
    )

    lines = read_bank_lines(bank)
    today = settings.business_date or dt.datetime.now(dt.UTC).date()
    for line in lines:
        if line.posted_on > today:  # a bank confirms what it has posted, never ahead
            raise ReferenceDataError(
                str(bank),
                line.line_number,
                "posted_on",
                f"{line.posted_on} is after today ({today}): a bank line is dated when posted",
            )
    await asyncio.to_thread(writable_directory, out)  # the report must be written
    digest = digest_of(bank)
    day = as_of or dt.datetime.now(dt.UTC).date()
    applied, matches, problems = await _with_store(
        settings,
        lambda store, _: store.reconcile(
            str(bank), digest, lines, as_of=day, unconfirmed_after_days=after_days
        ),
    )
    report = {
        "bank_file": str(bank),
        "as_of": day.isoformat(),
        "already_applied": applied.previously.isoformat() if applied.previously else None,
        "matched": [
            {
                "line": m.bank_line.line_number,
                "trace": m.bank_line.trace,
                "kind": m.expected.kind.value,
                "reference": m.expected.reference_id,
                "amount_cents": m.expected.amount_cents,
            }
            for m in matches
        ],
        "exceptions": [
            {"kind": p.kind.value, "reference": p.reference, "detail": p.detail,
             "amount_cents": p.amount_cents}
            for p in problems
        ],
    }  # fmt: skip
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")  # each run its own report
    stem = _write_report(out, f"reconciliation-{day:%Y%m%d}-{stamp}-{digest[:8]}", report, problems)
    if applied.previously is not None:
        print(
            f"{bank}: already reconciled on {applied.previously:%Y-%m-%d}: its lines matched"
            " then stay matched; those that matched nothing then were tried again"
        )
    print(f"{len(matches)} matched, {len(problems)} exception(s); report {stem}.md and .json")
    for p in problems:
        print(f"  {p.kind.value:<24} {p.reference}: {p.detail}")
    return 1 if problems else 0  # exceptions: a non-zero exit, so a script can tell


def _write_report(
    out: Path, name: str, report: dict[str, Any], problems: tuple[ReconciliationException, ...]
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / name
    stem.with_suffix(".json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    markdown = [
        f"# Reconciliation: {report['bank_file']}, as of {report['as_of']}",
        "",
        f"{len(report['matched'])} matched, {len(problems)} exception(s).",
        "",
        "| kind | reference | amount | detail |",
        "|---|---|---:|---|",
        *(
            f"| {p.kind.value} | {p.reference} | {format_cents(p.amount_cents)} | {p.detail} |"
            for p in problems
        ),
    ]
    stem.with_suffix(".md").write_text("\n".join(markdown) + "\n")
    return stem


async def balances(settings: Settings, as_of: dt.date | None) -> int:
    from rx_gateway.service_layer import settlement  # noqa: PLC0415

    day = as_of or dt.datetime.now(dt.UTC).date()

    async def read(store: PostgresSettlement, plans: list[Plan]) -> tuple[object, object]:
        return await settlement.balances(store, plans, day)

    payees, sponsors = await _with_store(settings, read)
    print(f"Pharmacy payees, as of {day}")
    print(
        f"  {'payee':<14} {'accrued':>14} {'remitted, unconfirmed':>22} {'owes us':>12}  next pay"
    )
    for p in payees:  # type: ignore[attr-defined]
        print(
            f"  {p.payee_id:<14} {format_cents(p.accrued_cents):>14}"
            f" {format_cents(p.remitted_unconfirmed_cents):>22} {format_cents(p.carried_cents):>12}"
            f"  {p.next_pay_date or '-'}"
        )
    print(f"Sponsors, as of {day}")
    print(
        f"  {'sponsor':<14} {'model':<10} {'billed':>14} {'received':>14} {'overdue':>12}"
        f" {'deposit':>12} {'unbilled':>14}"
    )
    for s in sponsors:  # type: ignore[attr-defined]
        print(
            f"  {s.sponsor_id:<14} {s.funding_model:<10} {format_cents(s.billed_cents):>14}"
            f" {format_cents(s.received_cents):>14} {format_cents(s.overdue_cents):>12}"
            f" {format_cents(s.deposit_cents):>12} {format_cents(s.unbilled_cents):>14}"
        )
    return 0
