"""The `rx-gateway` command: serve, migrate, load, generate, demo, verify."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from rx_gateway.domain.errors import RxGatewayError


def _run(coroutine: Coroutine[Any, Any, int], settings: Settings) -> int:
    if settings.use_uvloop:
        import uvloop  # noqa: PLC0415 - optional event loop

        return uvloop.run(coroutine)
    return asyncio.run(coroutine)


async def _serve(settings: Settings) -> int:
    database = await Database.open(settings)
    try:
        app = await build_app(settings, database.dsn)
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
