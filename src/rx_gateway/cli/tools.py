"""The tool commands: generate, demo, bench, ncpdp (the runtime imports none of them)."""

from __future__ import annotations

import argparse
import sys

from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.jsontext import parse_json

GENERATE_MEMBERS_MIN = 100  # fewer may not hold every scripted fixture (depends on the seed)


async def bench(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from rx_gateway.tools.bench import BenchOptions, run_bench  # noqa: PLC0415
    from rx_gateway.tools.bench.stack import front_problem  # noqa: PLC0415

    # before minutes of measuring
    if args.out.exists() and not args.out.is_dir():
        msg = f"--out {args.out}: is a file, not a directory for the report"
        raise RxGatewayError(msg)
    if args.front and (problem := front_problem()) is not None:
        raise RxGatewayError(problem)
    options = BenchOptions(
        quick=args.quick,
        rates=args.rates or (),
        seconds=args.seconds,
        workers=max(1, min(args.workers, 8)),
        out=args.out,
        members=args.members,
        front=args.front == "haproxy",
        front_inflight=args.front_inflight,
        front_queue_ms=args.front_queue_ms,
    )
    summary = await run_bench(options)
    print(json.dumps(summary), flush=True)
    return 0


def ncpdp(command: str) -> int:
    """decode: bytes on stdin → JSON; encode: JSON on stdin → bytes. Exit 1 naming the problem."""
    import json  # noqa: PLC0415

    from rx_gateway.ncpdp.codec import CodecError, decode, encode  # noqa: PLC0415
    from rx_gateway.ncpdp.fields import from_json, to_json  # noqa: PLC0415

    data = sys.stdin.buffer.read()
    if not data.strip():
        wanted = "a D.0 transmission's bytes" if command == "decode" else "a transmission's JSON"
        print(f"rx-gateway ncpdp {command}: nothing on stdin: give {wanted}", file=sys.stderr)
        return 1
    if command == "decode" and not data.isascii():
        # the gateway answers that field's transaction R8; a debugging tool says where it is
        at = next(k for k, byte in enumerate(data) if byte > 0x7F)
        print(
            f"rx-gateway ncpdp decode: not ASCII at byte {at} (0x{data[at]:02x}): D.0 is ASCII",
            file=sys.stderr,
        )
        return 1
    try:
        if command == "decode":
            print(json.dumps(to_json(decode(data.rstrip(b"\r\n"))), indent=2))
        else:
            try:
                document = parse_json(data)
            except ValueError as error:  # json's own words alone did not say what was wrong
                msg = f"stdin is not JSON ({error}): give what `rx-gateway ncpdp decode` prints"
                raise ValueError(msg) from None
            sys.stdout.buffer.write(encode(from_json(document)))
    except (CodecError, ValueError) as error:
        print(f"rx-gateway ncpdp {command}: {error}", file=sys.stderr)
        return 1
    return 0


def generate(args: argparse.Namespace) -> int:
    from rx_gateway.tools.synthetic import generate as write_dataset  # noqa: PLC0415

    try:
        write_dataset(args.directory, seed=args.seed, members=args.members)
    except OSError as error:  # a file where the directory goes, no permission, ...
        msg = f"{args.directory}: cannot write the dataset there ({error.strerror or error})"
        raise RxGatewayError(msg) from None
    except (LookupError, StopIteration):
        # the fixtures (a family on each plan, a Part D member...) were not all drawn
        msg = (
            f"--members {args.members} is too few to draw every scripted fixture"
            f" with seed {args.seed}: use {GENERATE_MEMBERS_MIN} or more"
        )
        raise RxGatewayError(msg) from None
    print(f"synthetic dataset written to {args.directory}")
    if args.x12_834:
        from rx_gateway.tools.synthetic.x12_834 import write_834_files  # noqa: PLC0415

        files = write_834_files(args.directory)
        print(
            f"its members and coverage as {len(files)} X12 834 files (one per sponsor) in"
            f" {args.directory / '834'}: `rx-gateway enroll FILE` applies each"
        )
    return 0


async def demo(settings: Settings, args: argparse.Namespace) -> int:
    from rx_gateway.tools.demo import run_demo  # noqa: PLC0415

    return await run_demo(settings, keep=args.keep, verbose=args.verbose, out=args.out)
