"""The system under test: a fresh database (embedded, or on RX_GATEWAY_DATABASE_URL's server),
the gateway as separate `rx-gateway serve` process(es), and the process tree walk that finds
the processes to meter."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from rx_gateway.adapters.postgres.database import EmbeddedPostgres

BUSINESS_DATE = "2026-11-23"


def parent_pid(pid: int) -> int | None:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def worker_pids(root: int, workers: int) -> list[int]:
    """The processes of `serve` that serve calls: the root itself, or under --workers (N > 1)
    the workers it started (its children), not the parent that supervises them."""
    return sorted(process_tree(root)[1:]) if workers > 1 else [root]


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


def _server_env(dsn: str, workdir: Path) -> dict[str, str]:
    """The environment of the servers under test (the gateway and the claim-shaped floor): no
    metrics listener unless one is asked for (gateway_process's ``metrics_port``)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RX_GATEWAY_METRICS_LISTEN", "PROMETHEUS_MULTIPROC_DIR"}
    }
    return dict(
        inherited,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_DATA_DIR=str(workdir / "state"),
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE,  # the synthetic claims are dated in 2026
        RX_GATEWAY_ADMIN_TOKENS="",
        RX_GATEWAY_DEV_MODE="1",  # plaintext on 127.0.0.1: TLS would be measured separately
    )


def _started(
    server: subprocess.Popen[bytes], ready: str, what: str, log: Path | None = None
) -> None:
    assert server.stdout is not None  # noqa: S101 - PIPE
    line = server.stdout.readline().decode()
    if not line.startswith(ready):
        said = log.read_text(errors="replace")[-2000:] if log is not None and log.exists() else ""
        msg = f"{what} did not start: {line!r} {said}"
        raise RuntimeError(msg)


def _stop(servers: list[subprocess.Popen[bytes]]) -> None:
    for server in servers:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def gateway_process(
    dsn: str, port: int, workers: int, workdir: Path, metrics_port: int | None = None
) -> Iterator[int]:
    """`rx-gateway serve` on 127.0.0.1:``port`` (``workers`` processes under one parent when
    more than one), its Prometheus metrics on 127.0.0.1:``metrics_port`` if given (under
    --workers the parent serves one scrape for all workers). Yields the root process's id."""
    command = [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = _server_env(dsn, workdir)
    if metrics_port is not None:
        env["RX_GATEWAY_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        _started(server, "rx-gateway listening", "the gateway")
        yield server.pid
    finally:
        _stop([server])


@contextlib.contextmanager
def floor_process(
    dsn: str, port: int, workers: int, workdir: Path, response: bytes
) -> Iterator[list[int]]:
    """The claim-shaped floor (floor_server), as many processes as the gateway has (several
    share the port with SO_REUSEPORT, as `serve --workers` does). ``response``: a gateway's
    ClaimResponse, the size of the floor's answers. Yields the processes' ids."""
    template = workdir / "floor-response.bin"
    template.write_bytes(response)
    env = _server_env(dsn, workdir) | ({"RX_GATEWAY_REUSE_PORT": "1"} if workers > 1 else {})
    command = [
        sys.executable,
        "-m",
        "rx_gateway.tools.bench.floor_server",
        "--listen",
        f"127.0.0.1:{port}",
        "--response",
        str(template),
    ]
    log = workdir / "floor-server.log"
    servers: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as stderr:
        try:
            for _ in range(workers):
                server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    command, env=env, stdout=subprocess.PIPE, stderr=stderr
                )
                servers.append(server)
                _started(server, "rx-gateway floor listening", "the claim-shaped floor", log)
            yield [server.pid for server in servers]
        finally:
            _stop(servers)


FRONT_CONFIG = Path(__file__).resolve().parents[4] / "deploy" / "haproxy" / "haproxy.cfg"
FRONT_READY_S = 10.0
FRONT_HAPROXY_MIN = (2, 4)  # default-path, and h2 to servers with maxconn queueing


@functools.cache
def haproxy_version() -> tuple[int, ...]:
    """The installed HAProxy's version (major, minor), or () when it cannot be told (asked
    once per process: the tests' skip conditions and the bench's check all ask)."""
    try:
        said = subprocess.run(
            ["haproxy", "-v"],  # noqa: S607 - found on PATH by front_problem
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"version (\d+)\.(\d+)", said)
    return (int(match.group(1)), int(match.group(2))) if match else ()


def front_problem(config: Path = FRONT_CONFIG) -> str | None:
    """Why `bench --front haproxy` cannot run here (None: it can): checked before minutes of
    measuring."""
    if shutil.which("haproxy") is None:
        return (
            "--front haproxy: no haproxy on PATH"
            " (install HAProxy 2.4 or later, e.g. apt install haproxy)"
        )
    version = haproxy_version()
    if version < FRONT_HAPROXY_MIN:
        shown = ".".join(map(str, version)) if version else "unknown"
        return (
            f"--front haproxy: HAProxy {shown} is too old for deploy/haproxy"
            f" (it needs {'.'.join(map(str, FRONT_HAPROXY_MIN))} or later)"
        )
    if not config.is_file():
        return (
            f"--front haproxy: {config} not found"
            " (it ships in the source checkout: run the bench from one)"
        )
    return None


@contextlib.contextmanager
def front_process(
    listen_port: int,
    gateway_port: int,
    inflight: int,
    queue_ms: int,
    workdir: Path,
    config: Path = FRONT_CONFIG,
    settings: Mapping[str, str] | None = None,
) -> Iterator[int]:
    """HAProxy with the repository's deploy/haproxy/haproxy.cfg (or ``config``, with its
    further RX_FRONT_* ``settings``) in front of the gateway on 127.0.0.1:``gateway_port``:
    switches' calls on 127.0.0.1:``listen_port``, at most ``inflight`` of them in the gateway,
    a call refused (RESOURCE_EXHAUSTED) after waiting ``queue_ms`` for a slot. One process in
    the foreground (-db); yields its id once it accepts connections."""
    env = dict(
        os.environ,
        **(settings or {}),
        RX_FRONT_LISTEN=f"127.0.0.1:{listen_port}",
        RX_FRONT_GATEWAY=f"127.0.0.1:{gateway_port}",
        RX_FRONT_INFLIGHT=str(inflight),
        RX_FRONT_QUEUE_TIMEOUT=f"{queue_ms}ms",
    )
    log = workdir / "haproxy.log"
    with log.open("ab") as output:
        front = subprocess.Popen(  # noqa: S603 - HAProxy found on PATH, the repository's config
            ["haproxy", "-db", "-f", str(config)],  # noqa: S607
            env=env,
            stdout=output,
            stderr=output,
        )
        try:
            _accepting(front, listen_port, log)
            yield front.pid
        finally:
            _stop([front])


def _accepting(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Wait until ``process`` accepts connections on 127.0.0.1:``port`` (or say why not)."""
    waited = 0.0
    while waited < FRONT_READY_S:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
        waited += 0.05
    said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    msg = f"haproxy did not start on 127.0.0.1:{port}: {said}"
    raise RuntimeError(msg)
