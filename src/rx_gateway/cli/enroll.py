"""`rx-gateway enroll FILE.834` applies an X12 834 enrollment file (all or nothing);
`rx-gateway enroll --report` lists the paid claims that enrollment put in question.

A bad file is one line naming the file, the segment and the element, and nothing is applied;
the same file applied again changes nothing and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import tempfile
from pathlib import Path

from rx_gateway.cli.database import _where, open_database
from rx_gateway.config import Settings
from rx_gateway.domain.enrollment import EnrollmentOutcome, ReviewItem
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.domain.money import format_cents

ACTOR = "enroll"  # the audit log's actor for the command (the admin interface names the operator)


async def run(
    settings: Settings, file: Path | None, *, report: bool, ack: Path | None = None
) -> int:
    if ack is not None and file is None:
        msg = "enroll: --ack acknowledges an 834 file: give the file"
        raise RxGatewayError(msg)
    if file is None and not report:
        msg = "enroll: give an 834 file to apply, or --report"
        raise RxGatewayError(msg)
    if ack is not None and file is not None:
        if await asyncio.to_thread(_same, ack, file):
            msg = f"enroll: --ack {ack} is the 834 file itself: name another file for the 999"
            raise RxGatewayError(msg)
        await asyncio.to_thread(_writable, ack)
    data = await asyncio.to_thread(_read, file) if file is not None else None

    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.files.x12_834 import X12EnrollmentReader  # noqa: PLC0415
    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.enrollment import PostgresEnrollment  # noqa: PLC0415
    from rx_gateway.adapters.postgres.reference_loader import (  # noqa: PLC0415
        PostgresReferenceLoader,
    )
    from rx_gateway.service_layer import enrollment  # noqa: PLC0415

    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        msg = f"no rx-gateway schema in {_where(settings)}: run `rx-gateway load DIR` first"
        raise RxGatewayError(msg)
    database = await open_database(settings)
    try:
        await database.migrate()
        pool = await asyncpg.create_pool(database.dsn, min_size=1, max_size=2, init=init_connection)
        try:
            store = PostgresEnrollment(pool)
            if file is not None and data is not None:
                reader = X12EnrollmentReader()
                if ack is not None:  # the 999 first: written whether or not the file applies
                    answer = await enrollment.acknowledge(reader, store, data, str(file))
                    await asyncio.to_thread(_write, ack, answer.text)
                    verdict = "accepted" if answer.accepted else "rejected"
                    print(f"{ack}: 999 written, the file {verdict}")
                plans = (await PostgresReferenceLoader(pool).load_snapshot()).plans
                outcome = await enrollment.enroll(
                    reader, store, data, str(file), plans, actor=ACTOR
                )
                _print_outcome(outcome, str(file))
            if report:
                _print_review(await enrollment.review(store))
        finally:
            await pool.close()
    finally:
        database.close()
    return 0


def _same(one: Path, other: Path) -> bool:
    return os.path.realpath(one) == os.path.realpath(other)


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as error:
        msg = f"{file}: cannot read it ({error.strerror or type(error).__name__})"
        raise RxGatewayError(msg) from None


def _writable(path: Path) -> None:
    """The 999's path names a regular file this user may replace, or nothing yet: never a
    device, a directory or a read-only file (renaming over it would replace it)."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return
    except OSError as error:
        msg = f"{path}: cannot write the 999 ({error.strerror or type(error).__name__})"
        raise RxGatewayError(msg) from None
    if not stat.S_ISREG(found.st_mode):
        msg = f"{path}: not a regular file: name a file for the 999 (nothing applied)"
        raise RxGatewayError(msg)
    if not os.access(path, os.W_OK):
        msg = f"{path}: read-only: name a file you may write for the 999 (nothing applied)"
        raise RxGatewayError(msg)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: written to a new file beside it, flushed to disk, then renamed
    over it (a write that fails, a full disk, leaves what was there). A file replaced keeps
    its mode; a new one gets the mode a new file gets (the umask's)."""
    _writable(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        why = error.strerror or type(error).__name__
        msg = f"{path}: cannot write the 999 ({why}); nothing applied"
        raise RxGatewayError(msg) from None
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(name, mode)
        os.replace(name, path)
    except (OSError, UnicodeError) as error:
        with contextlib.suppress(OSError):
            os.unlink(name)
        why = getattr(error, "strerror", None) or type(error).__name__
        msg = f"{path}: cannot write the 999 ({why}); nothing applied"
        raise RxGatewayError(msg) from None


def _print_outcome(outcome: EnrollmentOutcome, file: str) -> None:
    """``file`` as the user named it: an earlier file (``outcome.source``, as it was named
    then) may be the one this file's content was applied as."""
    when = f"{outcome.applied_at:%Y-%m-%d %H:%M %Z}".strip()
    if outcome.applied:
        print(
            f"{file}: applied as enrollment file {outcome.file_id}"
            f" (ISA13 {outcome.interchange_control_number})"
        )
    else:
        earlier = "" if outcome.source == file else f"{outcome.source}, "
        print(
            f"{file}: already applied as enrollment file {outcome.file_id}"
            f" ({earlier}ISA13 {outcome.interchange_control_number}, {when}): nothing changed"
        )
    print(f"  {outcome.summary()}")
    if outcome.applied and outcome.claims_for_review:
        print("  `rx-gateway enroll --report` lists the claims for review")


def _print_review(items: list[ReviewItem]) -> None:
    print(
        f"claims for review: {len(items)} paid under coverage a later 834 re-dated"
        " (listed only: nothing is reversed)"
    )
    for item in items:
        before = f"{item.coverage_start}..{item.coverage_end_before or 'open'}"
        after = item.coverage_end_after or "open"
        print(
            f"  {item.internal_control_number}  member {item.member_id}  plan {item.plan_id}"
            f"  service {item.date_of_service}  plan paid {format_cents(item.plan_paid_cents)}"
            f"  coverage {before}, now ends {after}"
            f"  (file {item.file_id} {item.file_name}, {item.flagged_at:%Y-%m-%d})"
        )
