"""The commands that open the database: migrate, load, verify, citus."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError

if TYPE_CHECKING:
    from rx_gateway.bootstrap import Database


def _where(settings: Settings) -> str:
    """The database a command uses, for messages (a URL's credentials left out)."""
    if settings.database_url is None:
        return f"the embedded database in {settings.data_dir}"
    parts = urlsplit(settings.database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        return "the database of RX_GATEWAY_DATABASE_URL (not a postgresql:// URL)"
    # a socket URL (postgresql:///db?host=/run/postgresql) names its host in the query
    socket = parse_qs(parts.query).get("host", [""])[0]
    host = parts.hostname or socket or "localhost"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        port = ""
    return f"database {host}{port}{parts.path or ''}"


def schema_error(problem: str, settings: Settings, fix: str) -> RxGatewayError:
    """A schema_problem as one line: where, and ``fix`` (what to run), except for a schema a
    newer release migrated, whose problem already says what to do (migrating cannot help)."""
    from rx_gateway.adapters.postgres.database import NEWER_SCHEMA  # noqa: PLC0415

    if NEWER_SCHEMA in problem:
        return RxGatewayError(f"{problem} ({_where(settings)})")
    return RxGatewayError(f"{problem} in {_where(settings)}: {fix}")


def _data_dir_option(settings: Settings) -> str:
    """How to name this data directory again in a suggested command."""
    if settings.database_url is not None or settings.data_dir == Settings().data_dir:
        return ""
    return f"--data-dir {settings.data_dir} "


async def open_database(settings: Settings) -> Database:
    """The configured or embedded database, or one line saying why it cannot be reached."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.errors import server_message  # noqa: PLC0415
    from rx_gateway.bootstrap import Database  # noqa: PLC0415 - imports grpc: after main()

    try:
        return await Database.open(settings)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        said = server_message(error) if isinstance(error, asyncpg.PostgresError) else error
        msg = f"cannot reach {_where(settings)}: {type(error).__name__}: {said}"
        raise RxGatewayError(msg) from error


async def migrate(settings: Settings) -> int:
    database = await open_database(settings)
    try:
        applied = await database.migrate()
    finally:
        database.close()
    print("applied: " + (", ".join(applied) or "nothing, schema is current"))
    return 0


async def load(settings: Settings, directory: Path) -> int:
    import asyncpg  # noqa: PLC0415

    database = await open_database(settings)
    try:
        await database.migrate()
        try:
            counts = await database.load(directory)
        except asyncpg.PostgresError as error:
            # a rule only the database knows (a key already stored under another row): its
            # DETAIL may quote values, PHI included, so only the rule is named
            rule = getattr(error, "constraint_name", None) or type(error).__name__
            table = getattr(error, "table_name", None)
            msg = (
                f"{directory}: the database refused the data ({rule}"
                f"{' on table ' + table if table else ''}); nothing was loaded"
            )
            raise RxGatewayError(msg) from None
    finally:
        database.close()
    print("loaded: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0


async def verify(settings: Settings) -> int:
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.verify import schema_problem, verify_ledger  # noqa: PLC0415

    def no_schema(problem: str) -> RxGatewayError:
        again = _data_dir_option(settings)
        fix = (
            f"run `rx-gateway {again}load DIR` to load data (or `rx-gateway {again}migrate`"
            " for an empty schema), then verify"
            if problem.startswith("no ")
            else f"run `rx-gateway {again}migrate`, then verify"
        )
        return schema_error(problem, settings, fix)

    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        # nothing was ever created there: say so without creating a database as a side effect
        raise no_schema("no rx-gateway schema")
    database = await open_database(settings)
    try:
        conn = await asyncpg.connect(database.dsn)
        try:
            problem = await schema_problem(conn)
            if problem is not None:
                raise no_schema(problem)
            await init_connection(conn)
            results = await verify_ledger(conn)
        finally:
            await conn.close()
    finally:
        database.close()
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.name}")
        for problem in result.problems:
            print(f"       {problem}")
    return 0 if all(r.passed for r in results) else 1


async def citus(settings: Settings, *, apply: bool) -> int:
    """`rx-gateway citus plan` prints the statements still to run to distribute a migrated
    database on a Citus coordinator; `citus distribute` runs them (idempotent)."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.citus import (  # noqa: PLC0415
        CitusUnavailable,
        distribute,
        plan_distribution,
    )
    from rx_gateway.adapters.postgres.verify import schema_problem  # noqa: PLC0415

    database = await open_database(settings)
    try:
        conn = await asyncpg.connect(database.dsn)
        try:
            problem = await schema_problem(conn)
            if problem is not None:
                raise schema_error(problem, settings, "run `rx-gateway migrate` first")
            try:
                steps = await (distribute(conn) if apply else plan_distribution(conn))
            except CitusUnavailable as error:
                raise RxGatewayError(f"{_where(settings)}: {error}") from None
        finally:
            await conn.close()
    finally:
        database.close()
    if not steps:
        print("the database already has the distributed layout: nothing to do")
    for step in steps:
        print(f"-- {step.why}\n{step.sql};")
    return 0


@contextlib.asynccontextmanager
async def ledger_connection(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """The commands that read the ledger (export, simulate, utilization): a connection to a
    migrated database (jsonb through orjson) and a one-connection pool beside it, or one line
    saying what is missing and what to run."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.verify import schema_problem  # noqa: PLC0415

    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        msg = f"no rx-gateway schema in {_where(settings)}: run `rx-gateway load DIR` first"
        raise RxGatewayError(msg)
    database = await open_database(settings)
    try:
        conn = await asyncpg.connect(database.dsn)
        try:
            problem = await schema_problem(conn)
            if problem is not None:
                raise schema_error(problem, settings, "run `rx-gateway migrate` (or load) first")
            await init_connection(conn)
            pool = await asyncpg.create_pool(
                database.dsn, min_size=1, max_size=1, init=init_connection
            )
            try:
                yield conn, pool
            finally:
                await pool.close()
        finally:
            await conn.close()
    finally:
        database.close()
