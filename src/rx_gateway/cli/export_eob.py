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
import sys
from pathlib import Path

from rx_gateway.cli.database import ledger_connection
from rx_gateway.cli.outputs import check_writable_file
from rx_gateway.cli.parser import date_range
from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in this environment
        return "cli"


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from rx_gateway.adapters.postgres.eob import PostgresEob  # noqa: PLC0415
    from rx_gateway.service_layer import admin  # noqa: PLC0415

    date_from, date_to = date_range(args)
    request = admin.eob_request(args.member, date_from, date_to)
    out: Path | None = args.out
    if out is not None:
        await asyncio.to_thread(check_writable_file, out)
    async with ledger_connection(settings) as (_, pool):
        bundle, claims = await admin.export_eob(
            PostgresEob(pool),
            request,
            actor=_actor(),
            generated_at=dt.datetime.now(dt.UTC),
        )
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
