"""The system under test: a fresh database (embedded, or on RX_GATEWAY_DATABASE_URL's server),
the gateway as separate `rx-gateway serve` process(es), and the process tree walk that finds
the processes to meter."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from rx_gateway.adapters.postgres.database import EmbeddedPostgres

BUSINESS_DATE = "2026-11-23"


def parent_pid(pid: int) -> int | None:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def process_tree(root: int | None) -> list[int]:
    """A process and the processes it started: the gateway and the workers of `serve
    --workers`, or the benchmark's PostgreSQL (its postmaster, backends, WAL writer,
    autovacuum...; other clusters on the machine are not counted). None, for a server on
    another machine: nothing."""
    if root is None:
        return []
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_pid(int(entry.name)) == root:
            pids.append(int(entry.name))
    return pids


async def postmaster_pid(dsn: str) -> int | None:
    """The postmaster of the server behind ``dsn``, when it runs on this machine."""
    conn = await asyncpg.connect(dsn)
    try:
        # read while the backend lives: it exits with the connection
        return _local_postmaster(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()


def _local_postmaster(backend: int) -> int | None:
    """The parent of a PostgreSQL backend, if that backend is a process on this machine."""
    with contextlib.suppress(OSError):
        if Path(f"/proc/{backend}/comm").read_text().strip() == "postgres":
            return parent_pid(backend)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def bench_database(workdir: Path) -> AsyncIterator[str]:
    """A fresh database: on RX_GATEWAY_DATABASE_URL's server, or an embedded one."""
    url = os.environ.get("RX_GATEWAY_DATABASE_URL")
    if not url:
        embedded = EmbeddedPostgres(workdir / "pg")
        dsn = await asyncio.to_thread(embedded.start)
        try:
            yield dsn
        finally:
            embedded.stop()
        return
    name = f"rxgw_bench_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.contextmanager
def gateway_process(dsn: str, port: int, workers: int, workdir: Path) -> Iterator[int]:
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_DATA_DIR=str(workdir / "state"),
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE,  # the synthetic claims are dated in 2026
        RX_GATEWAY_ADMIN_TOKENS="",
        RX_GATEWAY_DEV_MODE="1",  # plaintext on 127.0.0.1: TLS would be measured separately
    )
    command = [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"]
    if workers > 1:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert server.stdout is not None  # noqa: S101 - PIPE above
        line = server.stdout.readline().decode()
        if not line.startswith("rx-gateway listening"):
            msg = f"the gateway did not start: {line!r}"
            raise RuntimeError(msg)
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
