"""The `rx-gateway` command: serve, migrate, load, generate, demo, verify."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway import logs
from rx_gateway.bootstrap import Database, build_app
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InsecureConfiguration, RxGatewayError


def _run(coroutine: Coroutine[Any, Any, int], settings: Settings) -> int:
    if settings.use_uvloop:
        import uvloop  # noqa: PLC0415 - optional event loop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


async def _serve(settings: Settings) -> int:
    database = await Database.open(settings)
    try:
        app = await build_app(settings, database.dsn)
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
    database = await Database.open(settings)
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
            assert child.stdout is not None  # noqa: S101 - PIPE above
            line = (await child.stdout.readline()).decode()
            if not line.startswith("rx-gateway listening"):
                msg = f"a worker did not start: {line!r}"
                raise OSError(msg)
            children.append(child)
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

    from rx_gateway.benchmark import BenchOptions, run_bench  # noqa: PLC0415

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
    database = await Database.open(settings)
    try:
        applied = await database.migrate()
    finally:
        database.close()
    print("applied: " + (", ".join(applied) or "nothing, schema is current"))
    return 0


async def _load(settings: Settings, directory: Path) -> int:
    database = await Database.open(settings)
    try:
        await database.migrate()
        counts = await database.load(directory)
    finally:
        database.close()
    print("loaded: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return 0


async def _verify(settings: Settings) -> int:
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.verify import verify_ledger  # noqa: PLC0415

    database = await Database.open(settings)
    try:
        conn = await asyncpg.connect(database.dsn)
        try:
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rx-gateway", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, help="embedded PostgreSQL data (default .rx-gateway)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC gateway")
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:50051)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port with SO_REUSEPORT (default 1)",
    )
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("verify", help="check every ledger invariant; non-zero exit names failures")
    load = commands.add_parser("load", help="load plans, formulary, prices, members, funding")
    load.add_argument("directory", type=Path)
    generate = commands.add_parser("generate", help="write a synthetic dataset")
    generate.add_argument("directory", type=Path)
    generate.add_argument("--seed", type=int, default=2026)
    generate.add_argument("--members", type=int, default=10_000)
    demo = commands.add_parser(
        "demo", help="scripted claims over real gRPC on the embedded database"
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo's database afterwards")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except RxGatewayError as error:
        print(f"rx-gateway: configuration error: {error}", file=sys.stderr)
        return 2
    if args.data_dir:
        settings = replace(settings, data_dir=args.data_dir)
    logs.configure(settings.log_level)
    try:
        if args.command == "serve":
            if args.listen:
                settings = replace(settings, listen_address=args.listen)
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
            from rx_gateway.data.synthetic import generate  # noqa: PLC0415

            generate(args.directory, seed=args.seed, members=args.members)
            print(f"synthetic dataset written to {args.directory}")
            return 0
        if args.command == "ncpdp":
            return _ncpdp(args.ncpdp_command)
        if args.command == "bench":
            # the load generator always on uvloop, the most efficient loop here: then
            # RX_GATEWAY_UVLOOP (passed on to the gateway under test) compares the gateway's
            # loops alone
            return _run(_bench(args), replace(settings, use_uvloop=True))
        from rx_gateway.demo import run_demo  # noqa: PLC0415

        return _run(run_demo(settings, keep=args.keep), settings)
    except RxGatewayError as error:
        print(f"rx-gateway: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
