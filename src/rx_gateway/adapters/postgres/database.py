"""Connecting: the pool (every limit explicit), the embedded server, and migrations."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from rx_gateway.config import PoolLimits
from rx_gateway.domain.errors import PreconditionFailed

log = logging.getLogger(__name__)

MIGRATION_LOCK_KEY = 0x52584757  # "RXGW": one migrator at a time across processes


def _encode_jsonb(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """jsonb in binary form through orjson: no text round trip, no json module."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


async def keep_session(_conn: asyncpg.Connection) -> None:
    """The pool's reset hook: nothing to reset.

    asyncpg's default reset runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: one more round trip for every query the hot path makes (it was
    two of the four per claim). Pooled connections here hold no session state: no advisory
    locks, cursors, LISTEN or SET (migrations and the reference listener use connections of
    their own), and asyncpg itself still rolls back a transaction left open before this runs.
    """


# Every statement of the connection planned once (see create_pool), set per connection when the
# pool opens it; not on a Citus coordinator, whose distributed planner needs the parameters'
# values for a statement that spans shards (a generic plan there is an error, not a slow plan).
GENERIC_PLANS_SQL = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false)"
    " WHERE to_regclass('pg_catalog.pg_dist_partition') IS NULL"
)


async def create_pool(
    dsn: str,
    limits: PoolLimits,
    *,
    warm: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    generic_plans: bool = False,
) -> asyncpg.Pool:
    """The pool, every limit explicit. ``warm``: run on each new connection after its codecs
    are set (the claim store's warm-up, so that a connection the pool opens later, when it
    grows or replaces one, is as warm as those opened at start-up). Connections are replaced
    rarely: after 1,000,000 queries (a bound on a backend's cached plans and memory) or 30
    minutes idle.

    ``generic_plans`` (the claim path's pool): every prepared statement is planned once per
    connection (plan_cache_mode = force_generic_plan), again only when a table it reads is
    analyzed or altered. Left to itself PostgreSQL planned the batched member read again on
    every call: its array parameters show the planner how many claims a call carries, so each
    custom plan looked cheaper than the generic one, and planning its dozen branches cost more
    PostgreSQL CPU than running them (about 0.8 ms a round trip; pg_stat_statements with
    track_planning under `rx-gateway bench`). The claim path's statements are lookups by key
    whose best plan does not depend on the values; the admin pool and the CLI's are left to
    PostgreSQL's own choice. Not on Citus (GENERIC_PLANS_SQL): its planner cannot plan a
    multi-shard statement without the parameters' values and counts on the custom plan."""

    async def init(connection: asyncpg.Connection) -> None:
        await init_connection(connection)
        if generic_plans:
            await connection.execute(GENERIC_PLANS_SQL)
        if warm is not None:
            await warm(connection)

    pool = await asyncpg.create_pool(
        dsn,
        min_size=limits.size_min,
        max_size=limits.size_max,
        command_timeout=limits.command_timeout_s,
        max_inactive_connection_lifetime=1_800.0,
        max_queries=1_000_000,
        init=init,
        reset=keep_session,
        server_settings={
            "statement_timeout": str(limits.statement_timeout_ms),
            "application_name": "rx-gateway",
        }
        | ({"role": limits.role} if limits.role else {}),
    )
    assert pool is not None  # noqa: S101 - create_pool returns a pool once awaited
    return pool


class EmbeddedPostgres:
    """A PostgreSQL server of our own under a data directory (the ``pgserver`` package).

    Used when no database URL is configured, so that one command runs the gateway anywhere.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent))
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415 - heavy import, only when the embedded server is used

            self._server = pgserver.get_server(  # type: ignore[attr-defined]
                self.data_dir, cleanup_mode="stop"
            )
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL running", extra={"data_dir": str(self.data_dir)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            # Fast shutdown first: pgserver's own stop is pg_ctl's "smart" mode, which waits
            # for every session to end (60 s at most, then it logs an ERROR and kills the
            # postmaster): seen twice in CI under load at the end of `rx-gateway demo`. The
            # sessions left are our own, closing; "fast" ends them and stops cleanly, and
            # pgserver's cleanup then finds no server to stop.
            import pgserver  # noqa: PLC0415 - loaded by start() already

            with contextlib.suppress(Exception):  # pgserver's cleanup below stops it otherwise
                postmaster = self._server.get_postmaster_info()
                pgserver.pg_ctl(  # type: ignore[attr-defined]
                    ["-m", "fast", "-w", "-t", "30", "stop"],
                    pgdata=self._server.pgdata,
                    user=self._server.system_user,
                )
                # until the postmaster is gone: pgserver's cleanup, finding it still exiting,
                # ran pg_ctl again ("PID file does not exist": an ERROR and a WARNING logged)
                if postmaster is not None:  # (30 s: a loaded CI machine took more than 10)
                    postmaster.process.wait(30)
            self._server.cleanup()
            # pgserver also runs its cleanup at exit, which takes its lock again and so writes
            # the lock file back under XDG_RUNTIME_DIR (the data directory's parent): a demo's
            # temporary directory, removed after stop(), came back holding it
            again = getattr(self._server, "_cleanup", None)
            if again is not None:
                atexit.unregister(again)
            self._server = None


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("rx_gateway.adapters.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(found)


NEWER_SCHEMA = "newer than this rx-gateway knows"


def newer_schema_problem(applied: int | None) -> str | None:
    """Why this release must not run on a schema migrated up to ``applied``, or None: an
    older rx-gateway on a schema a newer one migrated (its SQL would fail, or write what the
    newer functions no longer read). Going back a release is refused, never attempted."""
    newest = max(version for version, _, _ in _migrations())
    if applied is None or applied <= newest:
        return None
    return (
        f"the database's schema is at migration {applied:04d}, {NEWER_SCHEMA}"
        f" ({newest:04d}): run the rx-gateway that migrated it"
    )


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction. Safe to run concurrently."""
    applied_now = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migration")}
        problem = newer_schema_problem(max(done, default=None))
        if problem is not None:
            raise PreconditionFailed(problem)
        for version, name, sql in _migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migration (version, name) VALUES ($1, $2)", version, name
                )
            applied_now.append(name)
            log.info("migration applied", extra={"migration": name})
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def wait_for_database(dsn: str, timeout_s: float) -> None:
    """Retry connecting until the server answers (a freshly started server takes a moment),
    for at most ``timeout_s`` (RX_GATEWAY_DATABASE_START_TIMEOUT_S). The first failure is
    logged at once, so a wrong address is not a silent wait."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    told = False
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=2.0)
        except (OSError, asyncpg.CannotConnectNowError) as error:
            if asyncio.get_running_loop().time() > deadline:
                raise
            if not told:
                told = True
                log.warning(
                    "database not answering, retrying",
                    extra={
                        "problem": type(error).__name__,
                        "retry_for_s": timeout_s,
                        "setting": "RX_GATEWAY_DATABASE_START_TIMEOUT_S",
                    },
                )
            await asyncio.sleep(0.2)
        else:
            await conn.close()
            return
