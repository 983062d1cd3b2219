"""The `rx-gateway` command: serve, migrate, load, verify, citus, generate, demo, bench, ncpdp.

A problem the user can fix (a bad file, a busy port, a database with no schema) is one line
``rx-gateway: ...`` on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any

from rx_gateway import logs
from rx_gateway.cli import database, serving, settlement, tools
from rx_gateway.cli.parser import build_parser
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InvalidRequest, ReferenceDataError, RxGatewayError

__all__ = ["build_parser", "main"]

# Commands that print their own result: their logs default to WARNING (RX_GATEWAY_LOG_LEVEL
# set explicitly, or --verbose, shows the rest).
SETTLEMENT_COMMANDS = ("settle", "invoice", "funding", "reconcile", "balances")
QUIET_COMMANDS = (
    "demo",
    "migrate",
    "verify",
    "load",
    "citus",
    "enroll",
    "export",
    "simulate",
    "utilization",
    *SETTLEMENT_COMMANDS,
)
# grpc's fork handlers only log "Other threads are currently calling into gRPC, skipping
# fork() handlers" when the embedded PostgreSQL's pg_ctl is started or stopped: nothing here
# uses gRPC in a forked child (every child execs). Read by grpc when it is imported.
# GRPC_VERBOSITY: grpc's own lines on stderr only for errors (each failed TLS handshake wrote an
# INFO line that is not JSON: anyone able to connect could fill the log); set it to override.
GRPC_ENVIRONMENT = {"GRPC_ENABLE_FORK_SUPPORT": "0", "GRPC_VERBOSITY": "ERROR"}


def _run(coroutine: Coroutine[Any, Any, int], settings: Settings) -> int:
    """A database command's coroutine on the configured loop. What the database refuses that
    reaches this far (a command's own rules are checked before) is a start-up or setup
    mistake (a login without a privilege, a role past its connection limit): one line."""
    import asyncpg  # noqa: PLC0415 - a database command's

    from rx_gateway.adapters.postgres.errors import server_message  # noqa: PLC0415

    try:
        if settings.use_uvloop:
            import uvloop  # noqa: PLC0415 - optional event loop

            return uvloop.run(coroutine)
        return asyncio.run(coroutine)
    except asyncpg.InsufficientPrivilegeError as error:
        msg = (
            f"the database refused this login a privilege the command needs"
            f" ({server_message(error)}): run"
            " `rx-gateway migrate` as the database's owner, and serve as a login that may SET"
            " ROLE to the application role"
        )
        raise RxGatewayError(msg) from None
    except asyncpg.TooManyConnectionsError as error:
        msg = (
            f"the database refused a connection ({server_message(error)}): lower"
            " RX_GATEWAY_DB_POOL_SIZE_MIN"
            "/RX_GATEWAY_DB_POOL_SIZE_MAX (and --workers), or raise the server's or the"
            " login's connection limit"
        )
        raise RxGatewayError(msg) from None
    except asyncpg.PostgresError as error:  # its message only: a DETAIL may quote values
        msg = f"the database refused: {type(error).__name__}: {server_message(error)}"
        raise RxGatewayError(msg) from None


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    if args.command not in QUIET_COMMANDS or "RX_GATEWAY_LOG_LEVEL" in os.environ:
        return settings.log_level
    return "INFO" if getattr(args, "verbose", False) else "WARNING"


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The environment's settings with the command line's options over them, checked."""
    if args.data_dir:
        settings = replace(settings, data_dir=args.data_dir)
    if args.command == "serve":
        if args.listen:
            settings = replace(settings, listen_address=args.listen)
        serving.check_listen_address(
            "--listen" if args.listen else "RX_GATEWAY_LISTEN", settings.listen_address
        )
        if settings.admin_tokens:
            serving.check_listen_address("RX_GATEWAY_ADMIN_LISTEN", settings.admin_listen_address)
            if settings.admin_listen_address == settings.listen_address and not (
                settings.listen_address.endswith(":0")
            ):
                raise InvalidRequest(
                    "RX_GATEWAY_ADMIN_LISTEN",
                    f"the admin interface needs an address of its own, not the claim"
                    f" listener's {settings.listen_address}",
                )
        taken = {settings.listen_address: "the claim listener's"}
        if settings.admin_tokens:
            taken.setdefault(settings.admin_listen_address, "the admin interface's")
        metrics = settings.metrics_listen_address
        if metrics is not None and not metrics.endswith(":0") and metrics in taken:
            raise InvalidRequest(
                "RX_GATEWAY_METRICS_LISTEN",
                f"the metrics listener needs an address of its own, not {taken[metrics]} {metrics}",
            )
    return settings


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command = args.command
    if command == "serve":
        if args.workers > 1:
            return _run(serving.serve_workers(settings, args.workers), settings)
        return _run(serving.serve(settings), settings)
    if command == "migrate":
        return _run(database.migrate(settings), settings)
    if command == "verify":
        return _run(database.verify(settings), settings)
    if command == "load":
        return _run(database.load(settings, args.directory), settings)
    if command == "citus":
        return _run(database.citus(settings, apply=args.citus_command == "distribute"), settings)
    if command in SETTLEMENT_COMMANDS:
        return _run(_settlement(args, settings), settings)
    if command == "enroll":
        from rx_gateway.cli import enroll  # noqa: PLC0415 - only for this command

        return _run(enroll.run(settings, args.file, report=args.report, ack=args.ack), settings)
    if command == "export" and args.export_command == "eob":
        from rx_gateway.cli import export_eob  # noqa: PLC0415 - only for this command

        return _run(export_eob.run(settings, args), settings)
    if command == "export":
        from rx_gateway.cli import export_pde  # noqa: PLC0415 - only for this command

        return _run(export_pde.run(settings, args), settings)
    if command == "simulate":
        from rx_gateway.cli import simulate  # noqa: PLC0415 - only for this command

        return _run(simulate.run(settings, args), settings)
    if command == "utilization":
        from rx_gateway.cli import utilization  # noqa: PLC0415 - only for this command

        return _run(utilization.run(settings, args), settings)
    if command == "generate":
        return tools.generate(args)
    if command == "ncpdp":
        return tools.ncpdp(args.ncpdp_command)
    if command == "bench":
        # the load generator always on uvloop, the most efficient loop here: then
        # RX_GATEWAY_UVLOOP (passed on to the gateway under test) compares the gateway's
        # loops alone
        return _run(tools.bench(args), replace(settings, use_uvloop=True))
    return _run(tools.demo(settings, args), settings)


def _settlement(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, int]:
    day = settlement.parse_day
    if args.command == "settle":
        return settlement.settle(settings, day(args.through), args.out)
    if args.command == "invoice":
        return settlement.invoice(settings, day(args.through), args.out)
    if args.command == "funding":
        return settlement.receive_funding(settings, args.file)
    if args.command == "reconcile":
        as_of = day(args.as_of) if args.as_of else None
        return settlement.reconcile(
            settings, args.bank, args.out, as_of, args.unconfirmed_after_days
        )
    return settlement.balances(settings, day(args.as_of) if args.as_of else None)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C is: what it opened is closed on the
    way out (the embedded PostgreSQL stopped; by default SIGTERM ended the process at once
    and left the database server running, an orphan). `serve` handles SIGTERM itself."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)  # signals reach the main thread only (a caller's own thread)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        if previous is not None:  # None: a handler set outside Python, not ours to restore
            signal.signal(signal.SIGTERM, previous)  # a caller in this process keeps its own


def _main(argv: Sequence[str] | None) -> int:
    for name, value in GRPC_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args, Settings.from_env(os.environ))
    except RxGatewayError as error:
        print(f"rx-gateway: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(_log_level(args, settings))
    try:
        code = _dispatch(args, settings)
        sys.stdout.flush()  # buffered output meets a closed pipe here, not at exit
    except ReferenceDataError as error:
        # a directory-level problem has no line: "DIR: problem", not "DIR:0: field ..."
        where = f"{error}" if error.line else f"{error.file}: {error.problem}"
        print(f"rx-gateway: {where}", file=sys.stderr)
        return 1
    except RxGatewayError as error:
        print(f"rx-gateway: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader of the output went away (`| head`): stop quietly, as a shell tool does,
        # and keep the interpreter's last flush of stdout from failing again on the way out
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as stopped:
        terminated = isinstance(stopped, _Terminated)
        with contextlib.suppress(Exception):
            print("terminated" if terminated else "interrupted", file=sys.stderr)
        return 143 if terminated else 130
    return code
