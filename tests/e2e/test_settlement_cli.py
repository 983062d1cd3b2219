"""The settlement commands as a newcomer meets them: the whole loop on a loaded database
(settle, invoice, funding receive, reconcile, balances, verify), and every mistake one line
on stderr, a non-zero exit and no change."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg

from tests.e2e.test_cli import _env, _one_line_error, _run

TODAY = dt.datetime.now(dt.UTC).date()
WEEK_END = TODAY + dt.timedelta(days=(6 - TODAY.weekday()) % 7)


def _cli(dsn: str, *args: str) -> Any:
    return asyncio.to_thread(_run, *args, env=_env(RX_GATEWAY_DATABASE_URL=dsn))


async def _count(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return value
    finally:
        await conn.close()


async def test_the_money_loop_from_the_command_line(
    fresh_loaded_database: Any, tmp_path: Path
) -> None:
    """On a loaded database with no claims: settle and invoice close empty cycles; a funding
    file is recorded once; a bank file reconciles (the deposit confirmed); balances print;
    verify holds."""
    dsn = await fresh_loaded_database()
    out = tmp_path / "out"
    settled = await _cli(dsn, "settle", "--through", f"{WEEK_END}", "--out", str(out))
    assert settled.returncode == 0, settled.stderr
    assert "nothing to close" in settled.stdout  # no claim was ever received
    payments = tmp_path / "payments.csv"
    payments.write_text(
        f"sponsor_id,invoice_id,amount_cents,received_on,reference\nEMP2,,250000,{TODAY},DEP-001\n"
    )
    first = await _cli(dsn, "funding", "receive", str(payments))
    assert first.returncode == 0 and "1 payment(s) recorded, $2,500.00" in first.stdout
    again = await _cli(dsn, "funding", "receive", str(payments))
    assert again.returncode == 0 and "already applied" in again.stdout
    assert await _count(dsn, "sponsor_receipt") == 1
    bank = tmp_path / "bank.csv"
    with bank.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["direction", "trace", "amount_cents", "posted_on"])
        writer.writerow(["credit", "DEP-001", "250000", f"{TODAY}"])
        writer.writerow(["debit", "NOT-OURS", "100", f"{TODAY}"])
    reconciled = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(out))
    assert reconciled.returncode == 1, reconciled.stderr  # an exception: non-zero
    assert "1 matched, 1 exception(s)" in reconciled.stdout
    assert "unknown_trace" in reconciled.stdout
    assert list(out.glob("reconciliation-*.md")) and list(out.glob("reconciliation-*.json"))
    balances = await _cli(dsn, "balances")
    assert balances.returncode == 0 and "EMP2" in balances.stdout and "$2,500.00" in balances.stdout
    verified = await _cli(dsn, "verify")
    assert verified.returncode == 0, verified.stdout


async def test_settlement_mistakes_are_one_line_and_change_nothing(
    fresh_loaded_database: Any, tmp_path: Path
) -> None:
    dsn = await fresh_loaded_database()
    header = "sponsor_id,invoice_id,amount_cents,received_on,reference\n"
    cases = {
        "decimal.csv": (header + f"EMP1,,12.50,{TODAY},R-1\n", ":2:", "amount_cents"),
        "sponsor.csv": (header + f"NOBODY,,1250,{TODAY},R-2\n", ":2:", "sponsor_id"),
        "invoice.csv": (header + f"EMP1,INV-NONE,1250,{TODAY},R-3\n", ":2:", "invoice_id"),
        "twice.csv": (
            header + f"EMP1,,1250,{TODAY},R-4\nEMP1,,1250,{TODAY},R-4\n",
            ":3:",
            "reference",
        ),
        "columns.csv": ("sponsor,amount\nEMP1,5\n", ":1:", "sponsor_id"),
        "empty.csv": (header, ":1:", "holds no lines"),
        # a payment dated after today paid open invoices before it had arrived
        "future.csv": (header + "EMP1,,1250,2099-12-14,R-5\n", ":2:", "is after today"),
    }
    for name, (text, where, what) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        line = _one_line_error(await _cli(dsn, "funding", "receive", str(path)))
        assert name in line and where in line and what in line, line
    line = _one_line_error(await _cli(dsn, "funding", "receive", str(tmp_path / "absent.csv")))
    assert "absent.csv" in line
    assert await _count(dsn, "sponsor_receipt") == 0
    assert await _count(dsn, "settlement_file") == 0
    bank = tmp_path / "bank.csv"
    bank.write_text("direction,trace,amount_cents,posted_on\nsideways,T,1,2026-01-01\n")
    line = _one_line_error(await _cli(dsn, "reconcile", "--bank", str(bank)))
    assert "bank.csv" in line and "direction" in line
    bad_date = await _cli(dsn, "settle", "--through", "2026-13-01")
    assert bad_date.returncode == 2 and "not a date YYYY-MM-DD" in bad_date.stderr
    assert "Traceback" not in bad_date.stderr


def test_settle_on_a_fresh_data_dir_says_there_is_no_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    result = _run("--data-dir", str(data_dir), "settle", "--through", "2026-12-06", env=_env())
    line = _one_line_error(result)
    assert "no rx-gateway schema" in line and "load DIR" in line
    assert not data_dir.exists()
