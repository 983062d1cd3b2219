"""`rx-gateway serve`: one process, or N sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rx_gateway.addresses import PORT_MAX, split_listen_address
from rx_gateway.cli.database import open_database
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InsecureConfiguration, InvalidRequest, RxGatewayError

if TYPE_CHECKING:
    from rx_gateway.bootstrap import Database
    from rx_gateway.observability.metrics import MetricsListener

log = logging.getLogger(__name__)


def _listen_problem(error: InvalidRequest, settings: Settings) -> RxGatewayError | None:
    """A listener that could not bind, named with the setting that chose its address."""
    if error.field == settings.listen_address:
        setting = "--listen / RX_GATEWAY_LISTEN"
    elif error.field == settings.admin_listen_address:
        setting = "RX_GATEWAY_ADMIN_LISTEN"
    elif error.field == settings.metrics_listen_address:
        setting = "RX_GATEWAY_METRICS_LISTEN"
    else:
        return None
    return RxGatewayError(f"cannot listen on {error.field} ({setting}): {error.problem}")


async def serve(settings: Settings) -> int:
    from rx_gateway.bootstrap import build_app  # noqa: PLC0415

    database = await open_database(settings)
    try:
        try:
            app = await build_app(settings, database.dsn)
        except InvalidRequest as error:
            problem = _listen_problem(error, settings)
            if problem is None:
                raise
            raise problem from None
        # What start-up built (the reference snapshot, grpc and asyncpg internals) lives as
        # long as the process: keep it out of the cyclic collector's full passes.
        gc.freeze()
        print(f"rx-gateway listening on port {app.port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        parent = os.environ.get("RX_GATEWAY_PARENT_PID", "")
        watcher = (
            asyncio.ensure_future(_stop_without_parent(int(parent), stop))
            if parent.isdigit()
            else None
        )
        await stop.wait()
        if watcher is not None:
            watcher.cancel()
        await app.stop()
    finally:
        database.close()
    return 0


PARENT_CHECK_S = 1.0


async def _stop_without_parent(parent: int, stop: asyncio.Event) -> None:
    """A worker of `serve --workers` whose parent is gone (killed with SIGKILL, say) stops
    instead of serving on as an orphan on the shared port."""
    while True:  # polled: no event says a parent died (short of Linux's prctl before exec)
        await asyncio.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            break
    log.warning("the supervising process is gone: stopping")
    stop.set()


async def serve_workers(settings: Settings, workers: int) -> int:
    """Several server processes on one port (SO_REUSEPORT): the kernel spreads connections.
    The parent starts the database (embedded or configured), migrates it, then supervises."""
    problem = settings.security_problem()
    if problem is not None:
        raise InsecureConfiguration(problem)
    split = split_listen_address(settings.listen_address)
    if split is not None and split[1] == 0:  # each worker would pick a port of its own
        raise InvalidRequest(
            "--listen", "--workers shares one port between the workers: give a port, not 0"
        )
    from rx_gateway.bootstrap import tls_files  # noqa: PLC0415 - imports grpc: after main()

    if split is not None and split[0]:
        from rx_gateway.grpc_api.security import port_problem  # noqa: PLC0415

        # a port another `serve --workers` holds (SO_REUSEPORT) would be joined by ours, and
        # the kernel would spread claims over both gateways: unshared, the probe finds it
        problem = port_problem(*split, shared=False)
        if problem is not None:
            raise InvalidRequest(settings.listen_address, problem)
    tls_files(settings)  # a bad certificate or key: named once here, not by each worker
    if settings.switches_file is not None:  # a bad switch table: said once, here
        from rx_gateway.grpc_api.security import SwitchTable  # noqa: PLC0415

        SwitchTable.from_file(settings.switches_file, settings.trusted_fronts)
    if settings.admin_tokens:
        log.warning(
            "the admin interface is not served under --workers: run one `rx-gateway serve`"
            " (without --workers) with RX_GATEWAY_ADMIN_TOKENS for it"
        )
    metrics = _WorkerMetrics.start(settings)  # then a busy port fails before any work
    children: list[asyncio.subprocess.Process] = []
    forwarders: list[asyncio.Future[None]] = []
    database: Database | None = None
    try:
        database = await open_database(settings)
        await database.migrate()
        env = dict(
            os.environ,
            RX_GATEWAY_DATABASE_URL=database.dsn,
            RX_GATEWAY_REUSE_PORT="1",
            RX_GATEWAY_ADMIN_TOKENS="",  # one admin listener is enough: run it separately
            RX_GATEWAY_METRICS_LISTEN="",  # the workers write their metrics; this process serves
            RX_GATEWAY_PARENT_PID=str(os.getpid()),  # a worker stops when this process is gone
        )
        env.pop(MULTIPROCESS_VARIABLE, None)
        if metrics.directory is not None:
            env[MULTIPROCESS_VARIABLE] = str(metrics.directory)
        for _ in range(workers):
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "rx_gateway",
                "serve",
                "--listen",
                settings.listen_address,
                env=env,
                stdout=asyncio.subprocess.PIPE,
            )
            children.append(child)
            assert child.stdout is not None  # noqa: S101 - PIPE above
            while True:  # what a worker prints before it listens (a console exporter's spans)
                line = (await child.stdout.readline()).decode()
                if line.startswith("rx-gateway listening"):
                    break
                if not line:  # it ended: it has said why on stderr (shared with this process)
                    msg = f"worker {len(children)} of {workers} did not start"
                    raise RxGatewayError(msg)
                sys.stdout.write(line)
        print(
            f"rx-gateway listening on {settings.listen_address} with {workers} workers", flush=True
        )
        # what the workers write to stdout from now on (the console trace exporter's spans)
        # goes on to this process's: a pipe nobody reads would block them
        forwarders += [
            asyncio.ensure_future(_forward(child.stdout))
            for child in children
            if child.stdout is not None
        ]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waits = {asyncio.ensure_future(child.wait()): n for n, child in enumerate(children, 1)}
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(stop.wait()), *waits], return_when="FIRST_COMPLETED"
        )
        if not stop.is_set():
            # a signal sent to the whole process group may reach a worker first: give this
            # process's own a moment before calling the worker's end a failure
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SIBLING_SIGNAL_GRACE_S)
        if not stop.is_set():
            ended = next(w for w in waits if w in done)
            child = children[waits[ended] - 1]
            log.error(
                "a worker stopped: stopping the others",
                extra={"worker": waits[ended], "pid": child.pid, "status": child.returncode},
            )
            msg = (
                f"worker {waits[ended]} of {workers} (pid {child.pid}) stopped"
                f" ({_exit_status(child.returncode)}); the other workers were stopped too:"
                " restart the gateway"
            )
            raise RxGatewayError(msg)
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            await child.wait()
        for forwarder in forwarders:
            with contextlib.suppress(Exception):
                await forwarder  # ends at the worker's end of file
        metrics.close(children)
        if database is not None:
            database.close()
    return 0


async def _forward(stream: asyncio.StreamReader) -> None:
    """Copy a worker's stdout to this process's until the worker closes it (in chunks: a
    line longer than the reader's limit would stop a line-by-line copy, and the pipe would
    fill again)."""
    while chunk := await stream.read(FORWARD_CHUNK_BYTES):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


FORWARD_CHUNK_BYTES = 64 * 1024


def _exit_status(code: int | None) -> str:
    """How a process ended, for a message: its exit status or the signal that killed it."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit status {code}"


MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SIBLING_SIGNAL_GRACE_S = 1.0


METRICS_DIRECTORY_PREFIX = "rx-gateway-metrics-"  # then the supervising process's pid


def _remove_stale_metrics_directories() -> None:
    """The metrics files of a `serve --workers` whose parent was killed (SIGKILL: no clean-up)
    stay in the temporary directory: removed at the next start, when their pid is gone."""
    for stale in Path(tempfile.gettempdir()).glob(f"{METRICS_DIRECTORY_PREFIX}*-*"):
        pid = stale.name.removeprefix(METRICS_DIRECTORY_PREFIX).partition("-")[0]
        if not pid.isdigit() or not stale.is_dir() or stale.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:  # alive (another user's: no permission) or not ours to judge
            continue


@dataclass
class _WorkerMetrics:
    """Under --workers, one scrape sees every worker: the workers write their metrics to files
    in a fresh temporary directory (prometheus_client's multiprocess mode), and this process
    serves the sum on RX_GATEWAY_METRICS_LISTEN. Nothing when that is not set."""

    directory: Path | None = None
    listener: MetricsListener | None = None

    @classmethod
    def start(cls, settings: Settings) -> _WorkerMetrics:
        if settings.metrics_listen_address is None:
            return cls()
        from rx_gateway.observability.metrics import start_metrics_listener  # noqa: PLC0415

        _remove_stale_metrics_directories()
        directory = Path(tempfile.mkdtemp(prefix=f"{METRICS_DIRECTORY_PREFIX}{os.getpid()}-"))
        try:
            listener = start_metrics_listener(
                settings.metrics_listen_address,
                multiprocess_dir=directory,
                cert_file=settings.tls_cert_file,
                key_file=settings.tls_key_file,
            )
        except InvalidRequest as error:
            shutil.rmtree(directory, ignore_errors=True)
            raise _listen_problem(error, settings) or error from None
        log.info("metrics listening", extra={"port": listener.port})
        return cls(directory, listener)

    def close(self, children: list[asyncio.subprocess.Process]) -> None:
        if self.directory is None or self.listener is None:
            return
        from rx_gateway.observability.metrics import forget_process  # noqa: PLC0415

        for child in children:
            forget_process(child.pid, self.directory)
        self.listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def check_listen_address(setting: str, address: str) -> None:
    """HOST:PORT with a port of 0-65535 (0: any free port), before anything is started."""
    if address.startswith(("unix:", "unix-abstract:")):
        return  # a grpc socket path: grpc checks it
    split = split_listen_address(address)
    if split is None:
        msg = f"{setting}: {address!r} is not HOST:PORT with a port of 0-{PORT_MAX}"
        raise InvalidRequest(msg, "e.g. 127.0.0.1:50051")
    host, port = split
    if not host:
        msg = f"{setting}: {address!r} names no host"
        raise InvalidRequest(msg, "use 127.0.0.1 for this machine, 0.0.0.0 for every interface")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        msg = f"{setting}: {address!r}"
        raise InvalidRequest(msg, f"host {host!r} does not resolve ({error})") from None
