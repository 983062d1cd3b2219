"""`serve --workers N`: a worker that dies stops the service with a line saying which and how
(a supervisor restarts it), and what the workers write to stdout reaches the parent's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from rx_gateway.client import GatewayClient
from rx_gateway.tools.bench.stack import free_port, worker_pids
from tests.support import BUSINESS_DATE, generic_fill


def _serve(dsn: str, port: int, **extra: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_DEV_MODE="1",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE.isoformat(),
        RX_GATEWAY_LOG_LEVEL="WARNING",
        **extra,
    )
    env.pop("RX_GATEWAY_METRICS_LISTEN", None)
    listen = f"127.0.0.1:{port}"
    return subprocess.Popen(
        [sys.executable, "-m", "rx_gateway", "serve", "--listen", listen, "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def _workers_of(server: subprocess.Popen[bytes]) -> list[int]:
    """The two workers of a started `serve --workers 2`, once it says it listens."""
    assert server.stdout is not None
    line = await asyncio.to_thread(server.stdout.readline)
    assert line.decode().startswith("rx-gateway listening"), line
    workers = worker_pids(server.pid, 2)
    assert len(workers) == 2
    return workers


async def test_a_worker_that_dies_stops_the_service_with_one_line(loaded_dsn: str) -> None:
    """kill -9 of one worker: the parent stops the other and exits 1 with one line naming the
    worker, its pid and the signal (not 0 and silence, which a supervisor would not restart)."""
    server = _serve(loaded_dsn, free_port())
    try:
        workers = await _workers_of(server)
        os.kill(workers[1], signal.SIGKILL)
        _, errors = await asyncio.to_thread(server.communicate, timeout=60)
    finally:
        if server.returncode is None:
            server.kill()
            server.communicate()
    assert server.returncode == 1, errors
    text = errors.decode()
    assert "Traceback" not in text
    lines = [x for x in text.splitlines() if x.startswith("rx-gateway:")]
    assert len(lines) == 1, text
    assert f"(pid {workers[1]}) stopped (killed by SIGKILL)" in lines[0]
    assert "restart the gateway" in lines[0]
    assert all(not os.path.exists(f"/proc/{pid}") for pid in workers)  # none left behind


async def test_the_workers_stdout_reaches_the_parents_and_does_not_block_them(
    loaded_dsn: str, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """With the console trace exporter the workers print spans to stdout: the parent passes
    them on (a pipe nobody read filled up and blocked the workers' exporters, and shutdown
    waited 30 s for them), and SIGTERM stops the service within the drain time."""
    pytest.importorskip("opentelemetry.sdk.trace", reason="needs the otel extra")
    port = free_port()
    # spans exported every 0.5 s, not at shutdown alone: the flush on shutdown is bounded (2 s)
    server = _serve(
        loaded_dsn,
        port,
        RX_GATEWAY_OTEL="1",
        OTEL_TRACES_EXPORTER="console",
        OTEL_BSP_SCHEDULE_DELAY="500",
    )
    try:
        assert server.stdout is not None
        # spans exported within 0.5 s may come before the line (a worker's start-up
        # spans): the parent passes them on and still finds its workers' listening lines
        line = b""
        while not line.startswith(b"rx-gateway listening"):
            line = await asyncio.to_thread(server.stdout.readline)
            assert line, server.communicate()[1].decode()[-3000:]
        # the parent's stdout read as it comes (the workers' spans pass through it)
        passed: list[bytes] = []
        said: list[bytes] = []
        stdout, stderr = server.stdout, server.stderr
        assert stderr is not None
        readers = [
            threading.Thread(target=lambda: passed.extend(iter(stdout.readline, b""))),
            threading.Thread(target=lambda: said.extend(iter(stderr.readline, b""))),
        ]
        for reader in readers:
            reader.start()
        member = fixtures["members"]["commercial_single"]
        async with GatewayClient(f"127.0.0.1:{port}") as client:
            for _ in range(3):
                request = generic_fill(fixtures, member, rx_number(), "20261112")
                assert (await client.submit(request)).transaction_response_status in "PR"
        # the batch processor exports every 0.5 s (above): the claims' spans arrive while the
        # service runs (waiting a fixed 3 s and reading at exit lost them now and then)
        for _ in range(200):
            if b'"name": "adjudicate"' in b"".join(passed):
                break
            await asyncio.sleep(0.1)
        began = time.monotonic()
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 60)
        took = time.monotonic() - began
        for reader in readers:
            await asyncio.to_thread(reader.join, 10)
        errors = b"".join(said)
    finally:
        if server.returncode is None:
            server.kill()
            server.communicate()
    out = b"".join(passed)
    assert server.returncode == 0, errors
    assert took < 15, took  # the drain (5 s), not the 30 s an exporter blocked on a pipe took
    assert b'"name": "adjudicate"' in out, out[-2000:]


async def test_workers_stop_when_their_parent_is_killed(loaded_dsn: str) -> None:
    """kill -9 of the parent: the workers notice within seconds and stop (they served on as
    orphans on the shared port, and a restarted gateway shared it with them)."""
    server = _serve(loaded_dsn, free_port())
    workers: list[int] = []
    try:
        workers = await _workers_of(server)
        server.kill()
        await asyncio.to_thread(server.wait, 10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{pid}") and _running(pid) for pid in workers
        ):
            await asyncio.sleep(0.2)
        assert not any(os.path.exists(f"/proc/{pid}") and _running(pid) for pid in workers)
    finally:
        if server.returncode is None:
            server.kill()
        for pid in workers:  # none may outlive the test, whatever it found
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Not a zombie waiting for a parent that is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def test_a_second_serve_workers_on_a_held_port_is_refused(loaded_dsn: str) -> None:
    """A port another `serve --workers` holds: the second one's workers joined it (the probe
    and grpc both set SO_REUSEPORT) and the kernel spread claims over two gateways (one
    claim was paid twice, once in each database). Refused with one line, as a plain `serve`
    on that port is."""
    port = free_port()
    first = _serve(loaded_dsn, port)
    second: subprocess.Popen[bytes] | None = None
    try:
        await _workers_of(first)
        second = _serve(loaded_dsn, port)
        _, errors = await asyncio.to_thread(second.communicate, timeout=60)
        assert second.returncode != 0, errors
        text = errors.decode()
        assert "Traceback" not in text
        lines = [x for x in text.splitlines() if x.startswith("rx-gateway:")]
        assert len(lines) == 1 and f"port {port} is already in use" in lines[0], text
        plain = subprocess.run(
            [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"],
            env=dict(os.environ, RX_GATEWAY_DATABASE_URL=loaded_dsn, RX_GATEWAY_DEV_MODE="1"),
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert plain.returncode != 0 and b"already in use" in plain.stderr, plain.stderr
    finally:
        for server in (first, second):
            if server is not None and server.poll() is None:
                server.send_signal(signal.SIGTERM)
                await asyncio.to_thread(server.communicate, timeout=60)


def test_the_unshared_probe_refuses_a_port_held_on_any_address(monkeypatch: Any) -> None:
    """A host resolving to ::1 and 127.0.0.1 ("localhost"), another gateway's workers on
    127.0.0.1 only: the probe passed at the first address that bound (::1) and our workers
    joined the other's IPv4 listener. Unshared, a held address refuses; shared (a worker
    beside its siblings), it is taken."""
    import socket

    from rx_gateway.grpc_api.security import port_problem

    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        real = socket.getaddrinfo

        def both(host: str, number: int, **kw: Any) -> Any:
            return [*real("::1", number, **kw), *real("127.0.0.1", number, **kw)]

        monkeypatch.setattr(socket, "getaddrinfo", both)
        problem = port_problem("localhost", port, shared=False)
        assert problem is not None and "already in use" in problem
        assert port_problem("localhost", port, shared=True) is None


def test_the_probe_takes_a_host_whose_ipv6_the_machine_lacks(monkeypatch: Any) -> None:
    """IPv6 disabled, "localhost" resolving to 127.0.0.1 then ::1: creating the IPv6 probe
    fails (EAFNOSUPPORT), a traceback once the probe stopped returning at the first address
    that bound. An address family the host lacks is an unusable address: the port is free."""
    import errno
    import socket

    from rx_gateway.grpc_api.security import port_problem

    real_info, real_socket = socket.getaddrinfo, socket.socket

    def both(host: str, number: int, **kw: Any) -> Any:
        return [*real_info("127.0.0.1", number, **kw), *real_info("::1", number, **kw)]

    def no_ipv6(family: int = socket.AF_INET, *args: Any, **kw: Any) -> Any:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real_socket(family, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", both)
    monkeypatch.setattr(socket, "socket", no_ipv6)
    assert port_problem("localhost", 0, shared=False) is None


def test_metrics_files_of_a_killed_supervisor_are_removed_at_the_next_start() -> None:
    """`serve --workers` killed with SIGKILL leaves its metrics directory in the temporary
    directory (nothing runs on the way out): the next start removes the ones whose process
    is gone, and leaves a live one's."""
    import tempfile
    from pathlib import Path

    from rx_gateway.cli.serving import (
        METRICS_DIRECTORY_PREFIX,
        _remove_stale_metrics_directories,
    )

    gone_pid = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that is gone
    gone_pid.wait()
    base = Path(tempfile.gettempdir())
    stale = base / f"{METRICS_DIRECTORY_PREFIX}{gone_pid.pid}-test"
    live = base / f"{METRICS_DIRECTORY_PREFIX}{os.getpid()}-test"
    for directory in (stale, live):
        directory.mkdir(exist_ok=True)
        (directory / "counter_1.db").write_bytes(b"")
    try:
        _remove_stale_metrics_directories()
        assert not stale.exists() and live.exists()
    finally:
        for directory in (stale, live):
            if directory.exists():
                for file in directory.iterdir():
                    file.unlink()
                directory.rmdir()
