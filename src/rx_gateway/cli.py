"""The `rx-gateway` command: serve, migrate, load, generate, demo, verify.

A problem the user can fix (a bad file, a busy port, a database with no schema) is one line
``rx-gateway: ...`` on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rx_gateway import logs
from rx_gateway.config import Settings
from rx_gateway.domain.errors import (
    InsecureConfiguration,
    InvalidRequest,
    ReferenceDataError,
    RxGatewayError,
)

if TYPE_CHECKING:
    from rx_gateway.bootstrap import Database

# Commands that open the database: each takes --data-dir before or after its name.
DATABASE_COMMANDS = ("serve", "migrate", "verify", "load")
# Commands that print their own result: their logs default to WARNING (RX_GATEWAY_LOG_LEVEL
# set explicitly, or --verbose, shows the rest).
QUIET_COMMANDS = ("demo", "migrate", "verify", "load")
PORT_MAX = 65_535
GENERATE_MEMBERS_MIN = 100  # fewer may not hold every scripted fixture (depends on the seed)
# grpc's fork handlers only log "Other threads are currently calling into gRPC, skipping
# fork() handlers" when the embedded PostgreSQL's pg_ctl is started or stopped: nothing here
# uses gRPC in a forked child (every child execs). Read by grpc when it is imported.
GRPC_ENVIRONMENT = {"GRPC_ENABLE_FORK_SUPPORT": "0"}


def _run(coroutine: Coroutine[Any, Any, int], settings: Settings) -> int:
    if settings.use_uvloop:
        import uvloop  # noqa: PLC0415 - optional event loop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


def _where(settings: Settings) -> str:
    """The database a command uses, for messages (a URL's credentials left out)."""
    if settings.database_url is None:
        return f"the embedded database in {settings.data_dir}"
    parts = urlsplit(settings.database_url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"database {host}{port}{parts.path or ''}"


def _data_dir_option(settings: Settings) -> str:
    """How to name this data directory again in a suggested command."""
    if settings.database_url is not None or settings.data_dir == Settings().data_dir:
        return ""
    return f"--data-dir {settings.data_dir} "


async def _open(settings: Settings) -> Database:
    """The configured or embedded database, or one line saying why it cannot be reached."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.bootstrap import Database  # noqa: PLC0415 - imports grpc: after main()

    try:
        return await Database.open(settings)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        msg = f"cannot reach {_where(settings)}: {type(error).__name__}: {error}"
        raise RxGatewayError(msg) from error


def _listen_problem(error: InvalidRequest, settings: Settings) -> RxGatewayError | None:
    """A listener that could not bind, named with the setting that chose its address."""
    if error.field == settings.listen_address:
        setting = "--listen / RX_GATEWAY_LISTEN"
    elif error.field == settings.admin_listen_address:
        setting = "RX_GATEWAY_ADMIN_LISTEN"
    else:
        return None
    return RxGatewayError(f"cannot listen on {error.field} ({setting}): {error.problem}")


async def _serve(settings: Settings) -> int:
    from rx_gateway.bootstrap import build_app  # noqa: PLC0415

    database = await _open(settings)
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
        await stop.wait()
        await app.stop()
    finally:
        database.close()
    return 0


async def _serve_workers(settings: Settings, workers: int) -> int:
    """Several server processes on one port (SO_REUSEPORT): the kernel spreads connections.
    The parent starts the database (embedded or configured), migrates it, then supervises."""
    problem = settings.security_problem()
    if problem is not None:
        raise InsecureConfiguration(problem)
    database = await _open(settings)
    children: list[asyncio.subprocess.Process] = []
    try:
        await database.migrate()
        env = dict(
            os.environ,
            RX_GATEWAY_DATABASE_URL=database.dsn,
            RX_GATEWAY_REUSE_PORT="1",
            RX_GATEWAY_ADMIN_TOKENS="",  # one admin listener is enough: run it separately
        )
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
            line = (await child.stdout.readline()).decode()
            if not line.startswith("rx-gateway listening"):
                # the worker has said why on stderr (shared with this process)
                msg = f"worker {len(children)} of {workers} did not start"
                raise RxGatewayError(msg)
        print(
            f"rx-gateway listening on {settings.listen_address} with {workers} workers", flush=True
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        waits = [asyncio.ensure_future(child.wait()) for child in children]
        await asyncio.wait(
            [asyncio.ensure_future(stop.wait()), *waits], return_when="FIRST_COMPLETED"
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.terminate()
        for child in children:
            await child.wait()
        database.close()
    return 0


async def _bench(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from rx_gateway.tools.bench import BenchOptions, run_bench  # noqa: PLC0415

    options = BenchOptions(
        quick=args.quick,
        rates=tuple(int(r) for r in args.rates.split(",")) if args.rates else (),
        seconds=min(args.seconds, 60.0),
        workers=max(1, min(args.workers, 8)),
        out=args.out,
        members=args.members,
    )
    summary = await run_bench(options)
    print(json.dumps(summary), flush=True)
    return 0


def _ncpdp(command: str) -> int:
    """decode: bytes on stdin → JSON; encode: JSON on stdin → bytes. Exit 1 naming the problem."""
    import json  # noqa: PLC0415

    from rx_gateway.ncpdp.codec import CodecError, decode, encode  # noqa: PLC0415
    from rx_gateway.ncpdp.fields import from_json, to_json  # noqa: PLC0415

    data = sys.stdin.buffer.read()
    try:
        if command == "decode":
            print(json.dumps(to_json(decode(data.rstrip(b"\r\n"))), indent=2))
        else:
            sys.stdout.buffer.write(encode(from_json(json.loads(data))))
    except (CodecError, ValueError) as error:
        print(f"rx-gateway ncpdp {command}: {error}", file=sys.stderr)
        return 1
    return 0


async def _migrate(settings: Settings) -> int:
    database = await _open(settings)
    try:
        applied = await database.migrate()
    finally:
        database.close()
    print("applied: " + (", ".join(applied) or "nothing, schema is current"))
    return 0


async def _load(settings: Settings, directory: Path) -> int:
    import asyncpg  # noqa: PLC0415

    database = await _open(settings)
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


async def _verify(settings: Settings) -> int:
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
        return RxGatewayError(f"{problem} in {_where(settings)}: {fix}")

    if settings.database_url is None and not (settings.data_dir.resolve() / "pg").exists():
        # nothing was ever created there: say so without creating a database as a side effect
        raise no_schema("no rx-gateway schema")
    database = await _open(settings)
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


def _check_listen_address(setting: str, address: str) -> None:
    """HOST:PORT with a port of 0-65535 (0: any free port), before anything is started."""
    if address.startswith(("unix:", "unix-abstract:")):
        return  # a grpc socket path: grpc checks it
    host, colon, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not port.isdigit() or int(port) > PORT_MAX:
        msg = f"{setting}: {address!r} is not HOST:PORT with a port of 0-{PORT_MAX}"
        raise InvalidRequest(msg, "e.g. 127.0.0.1:50051")
    if not host:
        msg = f"{setting}: {address!r} names no host"
        raise InvalidRequest(msg, "use 127.0.0.1 for this machine, 0.0.0.0 for every interface")
    try:
        socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        msg = f"{setting}: {address!r}"
        raise InvalidRequest(msg, f"host {host!r} does not resolve ({error})") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rx-gateway", description="rx-gateway: serve, migrate, load, generate, demo, verify."
    )
    data_dir_help = "embedded PostgreSQL data (default .rx-gateway, or RX_GATEWAY_DATA_DIR)"
    parser.add_argument("--data-dir", type=Path, help=data_dir_help)
    # the same option after the command's name; SUPPRESS: absent there, it does not reset
    # a --data-dir given before the name
    database_options = argparse.ArgumentParser(add_help=False)
    database_options.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC gateway", parents=[database_options])
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:50051, or RX_GATEWAY_LISTEN)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port with SO_REUSEPORT (default 1)",
    )
    commands.add_parser("migrate", help="apply database migrations", parents=[database_options])
    commands.add_parser(
        "verify",
        help="check every ledger invariant; non-zero exit names failures",
        parents=[database_options],
    )
    load = commands.add_parser(
        "load",
        help="load plans, formulary, prices, members, funding",
        parents=[database_options],
    )
    load.add_argument("directory", type=Path, help="a data directory (see `generate`)")
    generate = commands.add_parser("generate", help="write a synthetic dataset")
    generate.add_argument("directory", type=Path, help="where to write it (created if absent)")
    generate.add_argument(
        "--seed",
        type=int,
        default=2026,
        help="random seed (default 2026): the same seed writes the same dataset",
    )
    generate.add_argument(
        "--members",
        type=int,
        default=10_000,
        help=f"synthetic members (default 10000; at least {GENERATE_MEMBERS_MIN}, so that every"
        " scripted fixture is drawn)",
    )
    demo = commands.add_parser(
        "demo", help="scripted claims over real gRPC on the embedded database"
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo's database afterwards")
    demo.add_argument(
        "--verbose", action="store_true", help="show the gateway's logs (INFO) as well"
    )
    ncpdp = commands.add_parser("ncpdp", help="NCPDP D.0 transmissions for debugging a switch")
    ncpdp_commands = ncpdp.add_subparsers(dest="ncpdp_command", required=True)
    ncpdp_commands.add_parser(
        "decode", help="a raw request or response on stdin → readable JSON on stdout"
    )
    ncpdp_commands.add_parser("encode", help="that JSON on stdin → the raw bytes on stdout")
    bench = commands.add_parser(
        "bench", help="open-loop benchmark against the floor (needs rx-gateway[bench])"
    )
    bench.add_argument("--quick", action="store_true", help="the short mode (under 90 s)")
    bench.add_argument("--rates", help="comma-separated arrival rates (claims/s) to step over")
    bench.add_argument("--seconds", type=float, default=0.0, help="seconds per rate")
    bench.add_argument("--workers", type=int, default=1, help="server processes (SO_REUSEPORT)")
    bench.add_argument("--members", type=int, default=10_000, help="synthetic members")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="report directory")
    return parser


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
        _check_listen_address(
            "--listen" if args.listen else "RX_GATEWAY_LISTEN", settings.listen_address
        )
        if settings.admin_tokens:
            _check_listen_address("RX_GATEWAY_ADMIN_LISTEN", settings.admin_listen_address)
            if settings.admin_listen_address == settings.listen_address and not (
                settings.listen_address.endswith(":0")
            ):
                raise InvalidRequest(
                    "RX_GATEWAY_ADMIN_LISTEN",
                    f"the admin interface needs an address of its own, not the claim"
                    f" listener's {settings.listen_address}",
                )
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    for name, value in GRPC_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args, Settings.from_env(os.environ))
    except RxGatewayError as error:
        print(f"rx-gateway: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(_log_level(args, settings))
    try:
        if args.command == "serve":
            if args.workers > 1:
                return _run(_serve_workers(settings, args.workers), settings)
            return _run(_serve(settings), settings)
        if args.command == "migrate":
            return _run(_migrate(settings), settings)
        if args.command == "verify":
            return _run(_verify(settings), settings)
        if args.command == "load":
            return _run(_load(settings, args.directory), settings)
        if args.command == "generate":
            from rx_gateway.tools.synthetic import generate  # noqa: PLC0415

            try:
                generate(args.directory, seed=args.seed, members=args.members)
            except (LookupError, StopIteration):
                # the fixtures (a family on each plan, a Part D member...) were not all drawn
                msg = (
                    f"--members {args.members} is too few to draw every scripted fixture"
                    f" with seed {args.seed}: use {GENERATE_MEMBERS_MIN} or more"
                )
                raise RxGatewayError(msg) from None
            print(f"synthetic dataset written to {args.directory}")
            return 0
        if args.command == "ncpdp":
            return _ncpdp(args.ncpdp_command)
        if args.command == "bench":
            # the load generator always on uvloop, the most efficient loop here: then
            # RX_GATEWAY_UVLOOP (passed on to the gateway under test) compares the gateway's
            # loops alone
            return _run(_bench(args), replace(settings, use_uvloop=True))
        from rx_gateway.tools.demo import run_demo  # noqa: PLC0415

        return _run(run_demo(settings, keep=args.keep, verbose=args.verbose), settings)
    except ReferenceDataError as error:
        # a directory-level problem has no line: "DIR: problem", not "DIR:0: field ..."
        where = f"{error}" if error.line else f"{error.file}: {error.problem}"
        print(f"rx-gateway: {where}", file=sys.stderr)
        return 1
    except RxGatewayError as error:
        print(f"rx-gateway: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
