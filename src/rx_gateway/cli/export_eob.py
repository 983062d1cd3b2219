"""`rx-gateway export eob --member ID [--from D --to D] [--out FILE]`: a member's claims as a FHIR
R4 Bundle of CARIN Blue Button pharmacy ExplanationOfBenefit resources (issue 17).

The same read as the admin interface's ExportEob, audited the same way (the actor is the local
user). A mistake (an unknown member, --from after --to, an --out that cannot be written) is one
line and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import sys
from pathlib import Path

from rx_gateway.cli.database import _where, open_database
from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError


def _day(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _check_writable(out: Path) -> None:
    """Before anything is read: --out must be a file we can create or replace."""
    if out.is_dir():
        msg = f"--out {out}: is a directory"
        raise RxGatewayError(msg)
    parent = out.parent if str(out.parent) else Path()
    if not parent.is_dir():
        msg = f"--out {out}: no such directory {parent}"
        raise RxGatewayError(msg)
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        msg = f"--out {out}: not writable"
        raise RxGatewayError(msg)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in this environment
        return "cli"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.eob import PostgresEob  # noqa: PLC0415
    from rx_gateway.adapters.postgres.verify import schema_problem  # noqa: PLC0415
    from rx_gateway.service_layer import admin  # noqa: PLC0415

    date_from, date_to = _day(args.date_from), _day(args.date_to)
    if date_from is not None and date_to is not None and date_from > date_to:
        msg = f"--from {date_from} is after --to {date_to}"
        raise RxGatewayError(msg)
    request = admin.eob_request(args.member, date_from, date_to)
    out: Path | None = args.out
    if out is not None:
        await asyncio.to_thread(_check_writable, out)
    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        msg = f"no rx-gateway schema in {_where(settings)}: run `rx-gateway load DIR` first"
        raise RxGatewayError(msg)
    database = await open_database(settings)
    try:
        pool = await asyncpg.create_pool(database.dsn, min_size=1, max_size=1, init=init_connection)
        try:
            async with pool.acquire() as conn:
                problem = await schema_problem(conn)  # type: ignore[arg-type]
            if problem is not None:
                msg = f"{problem} in {_where(settings)}: run `rx-gateway migrate` (or load) first"
                raise RxGatewayError(msg)
            bundle, claims = await admin.export_eob(
                PostgresEob(pool),
                request,
                actor=_actor(),
                generated_at=dt.datetime.now(dt.UTC),
            )
        finally:
            await pool.close()
    finally:
        database.close()
    if out is None:
        sys.stdout.buffer.write(bundle + b"\n")
        sys.stdout.flush()
        return 0
    try:
        await asyncio.to_thread(out.write_bytes, bundle + b"\n")
    except OSError as error:
        msg = f"--out {out}: {error.strerror or error}"
        raise RxGatewayError(msg) from None
    print(f"{claims} ExplanationOfBenefit(s) for member {request.member_id} written to {out}")
    return 0
