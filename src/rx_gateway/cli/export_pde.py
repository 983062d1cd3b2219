"""`rx-gateway export pde --plan ID --from DATE --to DATE [--out FILE]` (issue 17): the Part D
prescription drug events of a plan's claims paid and reversed in a window, as fixed-width
records (domain/pde.py). Reads only; a mistake is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from rx_gateway.cli.database import _where, ledger_connection
from rx_gateway.cli.outputs import check_writable_file
from rx_gateway.cli.parser import required_date_range
from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.domain.part_d import PART_D
from rx_gateway.domain.pde import PdeFileHeader, PdeRecord, pde_record, render_pde_file


def _write(out: Path, text: str) -> None:
    """Whole or not at all: a temporary file beside it, renamed over it."""
    try:
        handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        try:
            with os.fdopen(handle, "w", encoding="ascii", newline="") as stream:
                stream.write(text)
            Path(temporary).replace(out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        msg = f"--out {out}: cannot write: {error.strerror or error}"
        raise RxGatewayError(msg) from None


async def _read(
    settings: Settings, plan_id: str, first: dt.date, last: dt.date
) -> tuple[str, list[PdeRecord]]:
    """The plan's sponsor and its events' records, or one line saying what is wrong."""
    from rx_gateway.adapters.postgres.pde import read_events, read_plan  # noqa: PLC0415

    async with ledger_connection(settings) as (conn, _):
        plan = await read_plan(conn, plan_id)
        if plan is None:
            msg = f"--plan {plan_id}: no such plan in {_where(settings)}"
            raise RxGatewayError(msg)
        if plan.line_of_business != PART_D:
            msg = (
                f"--plan {plan_id}: not a Part D plan (line of business"
                f" {plan.line_of_business or 'not set'}); PDEs are for {PART_D} plans"
            )
            raise RxGatewayError(msg)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            events = await read_events(conn, plan_id, first, last)
    return plan.sponsor_id, [pde_record(event) for event in events]


async def run(settings: Settings, args: argparse.Namespace) -> int:
    first, last = required_date_range(args)
    out: Path | None = args.out
    if out is not None:
        await asyncio.to_thread(check_writable_file, out)
    sponsor_id, records = await _read(settings, args.plan, first, last)
    # today, or the pinned business date; never before a record's own date (paid or reversed
    # on the real clock): with a business date pinned in the past the header preceded them
    created_on = max(
        [settings.business_date or dt.datetime.now(dt.UTC).date(), *(r.paid_date for r in records)]
    )
    header = PdeFileHeader(sponsor_id, args.plan, created_on, first, last)
    text = render_pde_file(header, records)
    if out is None:
        sys.stdout.write(text)
        return 0
    await asyncio.to_thread(_write, out, text)
    deletions = sum(1 for r in records if r.is_deletion)
    print(
        f"{out}: {len(records)} PDE record(s) for plan {args.plan}, {first} to {last}"
        f" ({len(records) - deletions} paid, {deletions} deleted)"
    )
    return 0
