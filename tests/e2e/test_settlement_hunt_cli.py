"""The settlement commands' doors, attacked from the command line (a review's hunt): funding
and bank files written the ways real files are written, and dates an operator can mistype.

Each user mistake must be one line `rx-gateway: ...` on stderr naming the file, line and
field (or the problem), a non-zero exit, and no change in the database. The tests marked
each was a bug when the hunt found it; all are fixed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.test_cli import _env, _one_line_error, _run

TODAY = dt.datetime.now(dt.UTC).date()
PAYMENTS = "sponsor_id,invoice_id,amount_cents,received_on,reference\n"
BANK = "direction,trace,amount_cents,posted_on\n"
TABLES = ("settlement_file", "sponsor_receipt", "settlement_entry", "bank_line", "bank_match")


@pytest.fixture(scope="module")
async def dsn(fresh_loaded_database: Any) -> str:
    value: str = await fresh_loaded_database()
    return value


def _cli(dsn: str, *args: str) -> Any:
    return asyncio.to_thread(_run, *args, env=_env(RX_GATEWAY_DATABASE_URL=dsn))


async def _counts(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}
    finally:
        await conn.close()


async def _refused(dsn: str, *args: str) -> str:
    """The command is refused with one line, and the settlement tables are unchanged."""
    before = await _counts(dsn)
    line = _one_line_error(await _cli(dsn, *args))
    assert await _counts(dsn) == before
    return line


async def test_files_written_the_usual_ways_are_read_or_refused_with_one_line(
    dsn: str, tmp_path: Path
) -> None:
    """A spreadsheet's BOM, CRLF and blank lines are read; Latin-1, UTF-16, negative and zero
    amounts, another sponsor's invoice, and a file with the same content in another order are
    each one line naming the file, line and field; the same file under another name is
    recognised and changes nothing."""
    good = tmp_path / "bom.csv"
    rows = f"EMP3,,100,{TODAY},HUNT-BOM-1\r\n\r\nEMP3,,200,{TODAY},HUNT-BOM-2\r\n"
    good.write_bytes(b"\xef\xbb\xbf" + PAYMENTS.replace("\n", "\r\n").encode() + rows.encode())
    result = await _cli(dsn, "funding", "receive", str(good))
    assert result.returncode == 0, result.stderr
    assert "2 payment(s) recorded, $3.00" in result.stdout
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes(good.read_bytes())
    again = await _cli(dsn, "funding", "receive", str(renamed))
    assert again.returncode == 0 and "already applied" in again.stdout
    cases = {
        "latin1.csv": (PAYMENTS.encode() + f"EMP3,,100,{TODAY},CAF\xe9\n".encode("latin-1"),
                       ":2:", "reference"),
        "utf16.csv": ((PAYMENTS + f"EMP3,,100,{TODAY},U16\n").encode("utf-16"), ":1:", "UTF-8"),
        "negative.csv": ((PAYMENTS + f"EMP3,,-100,{TODAY},NEG\n").encode(), ":2:",
                         "amount_cents"),
        "zero.csv": ((PAYMENTS + f"EMP3,,0,{TODAY},ZERO\n").encode(), ":2:", "amount_cents"),
        "others.csv": ((PAYMENTS + f"EMP3,,1,{TODAY},R\nEMP3,INV-X-EMP1,1,{TODAY},S\n").encode(),
                       ":3:", "invoice_id"),
        "reordered.csv": (
            (PAYMENTS + f"EMP3,,200,{TODAY},HUNT-BOM-2\nEMP3,,100,{TODAY},HUNT-BOM-1\n").encode(),
            ":", "already names a payment"),
    }  # fmt: skip
    for name, (data, where, what) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        line = await _refused(dsn, "funding", "receive", str(path))
        assert name in line and where in line and what in line, line


async def test_a_bank_file_with_a_trace_twice_and_a_cent_off(dsn: str, tmp_path: Path) -> None:
    """A trace repeated inside one bank file matches once (then duplicate_trace); a confirmation
    one cent off is amount_differs and clears nothing; the report says so."""
    payments = tmp_path / "deposits.csv"
    payments.write_text(
        PAYMENTS + f"EMP1,,5000,{TODAY},HUNT-DEP-1\nEMP1,,7000,{TODAY},HUNT-DEP-2\n"
    )
    assert (await _cli(dsn, "funding", "receive", str(payments))).returncode == 0
    bank = tmp_path / "bank.csv"
    bank.write_text(
        BANK + f"credit,HUNT-DEP-1,5000,{TODAY}\ncredit,HUNT-DEP-1,5000,{TODAY}\n"
        f"credit,HUNT-DEP-2,6999,{TODAY}\n"
    )
    result = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(tmp_path / "r"))
    assert result.returncode == 1, result.stderr  # exceptions: a script can tell
    assert "1 matched" in result.stdout
    assert "duplicate_trace" in result.stdout and "amount_differs" in result.stdout
    verified = await _cli(dsn, "verify")
    assert verified.returncode == 0, verified.stdout


NUL: tuple[Any, ...] = ()  # fixed (was a known bug)
LOOSE_INTEGER: tuple[Any, ...] = ()  # fixed (was a known bug)
HUGE: tuple[Any, ...] = ()  # fixed (was a known bug)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        pytest.param("nul.csv", PAYMENTS + f"EMP3,,100,{TODAY},NUL\x00X\n", marks=NUL, id="nul"),
        pytest.param(
            "arabic.csv",
            PAYMENTS + f"EMP3,,١٠٠,{TODAY},AR\n",
            marks=LOOSE_INTEGER,
            id="arabic-digits",
        ),
        pytest.param(
            "underscore.csv",
            PAYMENTS + f"EMP3,,1_000,{TODAY},US\n",
            marks=LOOSE_INTEGER,
            id="underscore",
        ),
        pytest.param(
            "huge.csv", PAYMENTS + f"EMP3,,{2**63 - 1},{TODAY},HUGE\n", marks=HUGE, id="huge"
        ),
    ],
)
async def test_a_funding_file_mistake_is_one_line_and_changes_nothing(
    dsn: str, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    line = await _refused(dsn, "funding", "receive", str(path))
    assert name in line and ":2:" in line, line


async def test_files_named_like_data_tables_are_read_by_their_own_layout(
    dsn: str, tmp_path: Path
) -> None:
    """A payments file called coverages.csv, a bank file called payees.csv: each is read as
    what the command takes, not as the data table of that name."""
    payments = tmp_path / "coverages.csv"
    payments.write_text(PAYMENTS + f"EMP3,,100,{TODAY},NAMED-1\n")
    recorded = await _cli(dsn, "funding", "receive", str(payments))
    assert recorded.returncode == 0 and "1 payment(s) recorded" in recorded.stdout
    path = tmp_path / "payees.csv"
    path.write_text(BANK + f"credit,NOT-OURS,100,{TODAY}\n")
    result = await _cli(dsn, "reconcile", "--bank", str(path), "--out", str(tmp_path / "r"))
    assert result.returncode == 1 and "unknown_trace" in result.stdout, result.stderr


async def test_a_date_at_the_end_of_the_calendar_is_one_line(dsn: str) -> None:
    await _refused(dsn, "balances", "--as-of", "9999-12-31")


async def test_a_report_directory_that_cannot_be_written_changes_nothing(
    dsn: str, tmp_path: Path
) -> None:
    payments = tmp_path / "pay.csv"
    payments.write_text(PAYMENTS + f"EMP3,,4200,{TODAY},HUNT-OUT-1\n")
    assert (await _cli(dsn, "funding", "receive", str(payments))).returncode == 0
    bank = tmp_path / "bank.csv"
    bank.write_text(BANK + f"credit,HUNT-OUT-1,4200,{TODAY}\n")
    not_a_directory = tmp_path / "a-file"
    not_a_directory.write_text("")
    await _refused(dsn, "reconcile", "--bank", str(bank), "--out", str(not_a_directory))


async def test_the_same_bank_file_again_keeps_the_first_report(dsn: str, tmp_path: Path) -> None:
    payments = tmp_path / "pay.csv"
    payments.write_text(PAYMENTS + f"EMP3,,4300,{TODAY},HUNT-REPORT-1\n")
    assert (await _cli(dsn, "funding", "receive", str(payments))).returncode == 0
    bank = tmp_path / "bank.csv"
    bank.write_text(BANK + f"credit,HUNT-REPORT-1,4300,{TODAY}\n")
    out = tmp_path / "reports"
    first = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(out))
    assert "1 matched" in first.stdout, first.stderr
    copy = tmp_path / "bank-copy.csv"
    copy.write_bytes(bank.read_bytes())
    again = await _cli(dsn, "reconcile", "--bank", str(copy), "--out", str(out))
    assert "already reconciled" in again.stdout, again.stderr
    reports = [json.loads(p.read_text()) for p in out.glob("reconciliation-*.json")]
    assert any(len(r["matched"]) == 1 for r in reports), reports


async def test_the_same_bank_file_again_matches_what_it_could_not_match_before(
    dsn: str, tmp_path: Path
) -> None:
    """A bank credit arrives before its sponsor payment is recorded: unknown_trace. Once the
    payment is recorded, the same bank file again matches that line (it answered "nothing
    applied": the bytes could never be reconciled); the line that matched the first time is
    not matched twice, and a third run matches nothing more."""
    bank = tmp_path / "bank.csv"
    payments = tmp_path / "pay.csv"
    payments.write_text(PAYMENTS + f"EMP3,,4400,{TODAY},HUNT-LATE-1\n")
    assert (await _cli(dsn, "funding", "receive", str(payments))).returncode == 0
    bank.write_text(BANK + f"credit,HUNT-LATE-1,4400,{TODAY}\ncredit,HUNT-LATE-2,4500,{TODAY}\n")
    out = tmp_path / "reports"
    first = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(out))
    assert first.returncode == 1 and "1 matched" in first.stdout, first.stdout
    assert "unknown_trace            HUNT-LATE-2" in first.stdout
    late = tmp_path / "late.csv"
    late.write_text(PAYMENTS + f"EMP3,,4500,{TODAY},HUNT-LATE-2\n")
    assert (await _cli(dsn, "funding", "receive", str(late))).returncode == 0
    again = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(out))
    assert "already reconciled" in again.stdout and "1 matched" in again.stdout, again.stdout
    assert "HUNT-LATE-2" not in again.stdout.split("report ")[1]  # no exception names it now
    third = await _cli(dsn, "reconcile", "--bank", str(bank), "--out", str(out))
    assert "0 matched" in third.stdout and "duplicate_trace" not in third.stdout, third.stdout


async def test_a_bank_line_posted_after_today_or_a_missing_file_is_one_line(
    dsn: str, tmp_path: Path
) -> None:
    """A bank line dated after today was recorded (as a date_differs exception): a bank
    confirms what it has posted; `funding receive` of a file that is not there said it "is not
    a file" (found by a file-door hunt)."""
    ahead = TODAY + dt.timedelta(days=1)
    path = tmp_path / "bank.csv"
    path.write_text(BANK + f"credit,AHEAD-1,100,{TODAY}\ndebit,AHEAD-2,100,{ahead}\n")
    line = await _refused(dsn, "reconcile", "--bank", str(path), "--out", str(tmp_path / "r"))
    assert f"bank.csv:3: field 'posted_on': {ahead} is after today ({TODAY})" in line, line
    assert not (tmp_path / "r").exists()
    missing = tmp_path / "missing.csv"
    line = await _refused(dsn, "funding", "receive", str(missing))
    assert line == f"rx-gateway: {missing}: does not exist", line
