"""The command line's grammar."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any, NoReturn

from rx_gateway.cli.tools import GENERATE_MEMBERS_MIN
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.domain.settlement.reconciliation import UNCONFIRMED_AFTER_DAYS


def _day(value: str) -> str:
    """A YYYY-MM-DD option, checked here so a bad one is a usage line."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        msg = f"{value!r} is not a date YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None
    if not 2000 <= day.year <= 2199:
        msg = f"{value!r} is outside the years 2000-2199"
        raise argparse.ArgumentTypeError(msg)
    return value


def date_range(args: argparse.Namespace) -> tuple[dt.date | None, dt.date | None]:
    """--from and --to (``date_from``, ``date_to``, checked by _day) as dates, None when not
    given; one clear line when --from is after --to."""
    first = None if args.date_from is None else dt.date.fromisoformat(args.date_from)
    last = None if args.date_to is None else dt.date.fromisoformat(args.date_to)
    if first is not None and last is not None and first > last:
        msg = f"--from {first} is after --to {last}"
        raise RxGatewayError(msg)
    return first, last


def required_date_range(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    """date_range of a command whose --from and --to are required (argparse made sure)."""
    first, last = date_range(args)
    if first is None or last is None:  # pragma: no cover - argparse requires both
        msg = "--from and --to are required"
        raise RxGatewayError(msg)
    return first, last


def _days(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 3650:
        msg = f"{value!r} is not a number of days 1-3650"
        raise argparse.ArgumentTypeError(msg)
    return int(value)


# More server processes than this on one machine is a typo, not a deployment (each opens its
# own database pool)
PROCESSES_MAX = 64


def _processes(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= PROCESSES_MAX:
        msg = f"{value!r} is not a number of processes 1-{PROCESSES_MAX}"
        raise argparse.ArgumentTypeError(msg)
    return int(value)


FRONT_VALUE_MAX = 10_000  # calls in flight, or ms of waiting: far past anything useful


def _front_value(value: str) -> int:
    """--front-inflight, --front-queue-ms: a whole number 1-FRONT_VALUE_MAX."""
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= FRONT_VALUE_MAX:
        msg = f"{value!r} is not a whole number 1-{FRONT_VALUE_MAX}"
        raise argparse.ArgumentTypeError(msg)
    return int(value)


BENCH_RATE_MAX = 100_000  # claims/s: far past what one machine's gateway takes
BENCH_SECONDS_MAX = 60.0


def _rates(value: str) -> tuple[int, ...]:
    """--rates: comma-separated whole claims per second, each 1-100000."""
    parts = value.split(",")
    if not all(p.strip().isascii() and p.strip().isdigit() for p in parts) or not all(
        0 < int(p) <= BENCH_RATE_MAX for p in parts
    ):
        msg = f"{value!r} is not comma-separated rates of 1-{BENCH_RATE_MAX} claims/s"
        raise argparse.ArgumentTypeError(msg)
    return tuple(int(p) for p in parts)


def _seconds(value: str) -> float:
    """--seconds: 0 (the mode's default) up to a minute per rate."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= BENCH_SECONDS_MAX:  # NaN fails too
        msg = f"{value!r} is not a number of seconds 0-{BENCH_SECONDS_MAX:g} (0: the default)"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def _members(value: str) -> int:
    """--members: at least GENERATE_MEMBERS_MIN, so that every scripted fixture is drawn."""
    if not (value.isascii() and value.isdigit()) or int(value) < GENERATE_MEMBERS_MIN:
        msg = f"{value!r} is not a number of members of at least {GENERATE_MEMBERS_MIN}"
        raise argparse.ArgumentTypeError(msg)
    return int(value)


def add_interop_commands(commands: Any, database_options: argparse.ArgumentParser) -> None:
    """Enrollment in (X12 834), member and regulator files out (CARIN EOB, Part D PDE)."""
    enroll = commands.add_parser(
        "enroll",
        help="apply an X12 834 enrollment file (all or nothing); --report lists paid claims"
        " that later coverage changes put in question",
        parents=[database_options],
    )
    enroll.add_argument("file", type=Path, nargs="?", help="an 834 (005010X220A1) file")
    enroll.add_argument(
        "--report",
        action="store_true",
        help="list claims paid under coverage a later 834 re-dated (nothing changes)",
    )
    enroll.add_argument(
        "--ack",
        type=Path,
        metavar="FILE",
        help="write the file's 999 implementation acknowledgment here first (accepted or"
        " rejected), then apply the file",
    )
    export = commands.add_parser("export", help="member and regulator files: CARIN EOB, Part D PDE")
    export_commands = export.add_subparsers(dest="export_command", required=True)
    eob = export_commands.add_parser(
        "eob",
        help="a member's claims as a FHIR R4 Bundle of CARIN BB pharmacy ExplanationOfBenefit",
        parents=[database_options],
    )
    eob.add_argument("--member", required=True, help="the member ID")
    eob.add_argument("--from", dest="date_from", type=_day, help="first date of service")
    eob.add_argument("--to", dest="date_to", type=_day, help="last date of service")
    eob.add_argument("--out", type=Path, help="write the Bundle here (default: stdout)")
    pde = export_commands.add_parser(
        "pde",
        help="Part D prescription drug event records of a plan's paid claims and reversals",
        parents=[database_options],
    )
    pde.add_argument("--plan", required=True, help="the Part D plan ID")
    pde.add_argument("--from", dest="date_from", type=_day, required=True, help="first date")
    pde.add_argument("--to", dest="date_to", type=_day, required=True, help="last date")
    pde.add_argument("--out", type=Path, help="write the file here (default: stdout)")


def add_simulate_command(commands: Any, database_options: argparse.ArgumentParser) -> None:
    """Plan designs tested on real claims (issue 18)."""
    simulate = commands.add_parser(
        "simulate",
        help="replay stored claims under another plan design; report against what happened",
        parents=[database_options],
    )
    simulate.add_argument(
        "--design", type=Path, required=True, help="a design JSON (plan patches, formulary moves)"
    )
    simulate.add_argument("--from", dest="date_from", type=_day, help="first date of service")
    simulate.add_argument("--to", dest="date_to", type=_day, help="last date of service")
    simulate.add_argument("--sponsor", help="only the claims billed to this sponsor")
    simulate.add_argument("--out", type=Path, required=True, help="the report's directory")
    utilization = commands.add_parser(
        "utilization",
        help="a sponsor's observed use and the savings opportunities its claims show",
        parents=[database_options],
    )
    utilization.add_argument("--sponsor", required=True, help="the sponsor (e.g. an employer)")
    utilization.add_argument(
        "--from", dest="date_from", type=_day, required=True, help="first date of service"
    )
    utilization.add_argument(
        "--to", dest="date_to", type=_day, required=True, help="last date of service"
    )
    utilization.add_argument(
        "--out", type=Path, help="write report.md and report.json here (default: print Markdown)"
    )


def add_settlement_commands(commands: Any, database_options: argparse.ArgumentParser) -> None:
    settle = commands.add_parser(
        "settle",
        help="close pharmacy pay cycles ending by a date: 835 and JSON per payee",
        parents=[database_options],
    )
    settle.add_argument("--through", type=_day, required=True, help="YYYY-MM-DD")
    settle.add_argument("--out", type=Path, default=Path("settlement"), help="where the files go")
    invoice = commands.add_parser(
        "invoice",
        help="close sponsor billing cycles ending by a date: CSV and JSON per sponsor",
        parents=[database_options],
    )
    invoice.add_argument("--through", type=_day, required=True, help="YYYY-MM-DD")
    invoice.add_argument("--out", type=Path, default=Path("settlement"), help="where the files go")
    funding = commands.add_parser("funding", help="sponsor payments", parents=[database_options])
    funding_commands = funding.add_subparsers(dest="funding_command", required=True)
    receive = funding_commands.add_parser(
        "receive",
        help="record sponsor payments from a CSV (sponsor_id,invoice_id,amount_cents,"
        "received_on,reference)",
        parents=[database_options],
    )
    receive.add_argument("file", type=Path)
    reconcile = commands.add_parser(
        "reconcile",
        help="match the bank's confirmations to remittances and sponsor payments",
        parents=[database_options],
    )
    reconcile.add_argument(
        "--bank", type=Path, required=True, help="CSV: direction,trace,amount_cents,posted_on"
    )
    reconcile.add_argument("--out", type=Path, default=Path("settlement"), help="report directory")
    reconcile.add_argument("--as-of", type=_day, help="YYYY-MM-DD (default today, UTC)")
    reconcile.add_argument(
        "--unconfirmed-after-days",
        type=_days,
        default=UNCONFIRMED_AFTER_DAYS,
        help=f"a remittance with no confirmation this long after its pay date is an exception"
        f" (default {UNCONFIRMED_AFTER_DAYS})",
    )
    balances = commands.add_parser(
        "balances",
        help="what each payee is owed, each sponsor billed and paid",
        parents=[database_options],
    )
    balances.add_argument("--as-of", type=_day, help="YYYY-MM-DD (default today, UTC)")


class OneLineParser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr naming it, and exit status 2 (argparse's own
    answer is the usage and the error on two lines)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("rx-gateway").strip()
        where = f"{command}: " if command else ""
        self.exit(2, f"rx-gateway: {where}{message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rx-gateway",
        description="rx-gateway: serve, migrate, load, verify, citus, settle, invoice, enroll,"
        " export, generate, demo, bench.",
    )
    data_dir_help = "embedded PostgreSQL data (default .rx-gateway, or RX_GATEWAY_DATA_DIR)"
    parser.add_argument("--data-dir", type=Path, help=data_dir_help)
    # the same option after the command's name; SUPPRESS: absent there, it does not reset
    # a --data-dir given before the name
    database_options = OneLineParser(add_help=False)
    database_options.add_argument(
        "--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC gateway", parents=[database_options])
    serve.add_argument("--listen", help="host:port (default 127.0.0.1:50051, or RX_GATEWAY_LISTEN)")
    serve.add_argument(
        "--workers",
        type=_processes,
        default=1,
        help="server processes sharing the port with SO_REUSEPORT (default 1)",
    )
    commands.add_parser("migrate", help="apply database migrations", parents=[database_options])
    citus = commands.add_parser(
        "citus",
        help="distribute a migrated database on a Citus cluster by family",
        parents=[database_options],
    )
    citus_commands = citus.add_subparsers(dest="citus_command", required=True)
    citus_commands.add_parser(
        "plan", help="print the SQL still to run (nothing changes)", parents=[database_options]
    )
    citus_commands.add_parser(
        "distribute", help="run it: idempotent, in order", parents=[database_options]
    )
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
    add_settlement_commands(commands, database_options)
    add_interop_commands(commands, database_options)
    add_simulate_command(commands, database_options)
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
        type=_members,
        default=10_000,
        help=f"synthetic members (default 10000; at least {GENERATE_MEMBERS_MIN}, so that every"
        " scripted fixture is drawn)",
    )
    generate.add_argument(
        "--834",
        dest="x12_834",
        action="store_true",
        help="also write the members and coverage as X12 834 files, one per sponsor (DIR/834)",
    )
    demo = commands.add_parser(
        "demo", help="scripted claims over real gRPC on the embedded database"
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo's database afterwards")
    demo.add_argument(
        "--verbose", action="store_true", help="show the gateway's logs (INFO) as well"
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("demo-settlement"),
        help="where the week's 835s, invoices, EOB and PDE files are written (default"
        " ./demo-settlement: not ./settlement, where `settle` and `invoice` write by default)",
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
    bench.add_argument(
        "--rates", type=_rates, help="comma-separated arrival rates (claims/s) to step over"
    )
    bench.add_argument(
        "--seconds", type=_seconds, default=0.0, help="seconds per rate (0: the mode's, max 60)"
    )
    bench.add_argument(
        "--workers", type=_processes, default=1, help="server processes (SO_REUSEPORT)"
    )
    bench.add_argument("--members", type=_members, default=10_000, help="synthetic members")
    bench.add_argument(
        "--front",
        choices=["haproxy"],
        help="also measure HAProxy in front (deploy/haproxy/haproxy.cfg): capacity and overload",
    )
    bench.add_argument(
        "--front-inflight",
        type=_front_value,
        default=16,
        help="with --front: calls HAProxy lets into the gateway at once (default 16)",
    )
    bench.add_argument(
        "--front-queue-ms",
        type=_front_value,
        default=20,
        help="with --front: ms a call may wait for a slot before it is refused (default 20)",
    )
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="report directory")
    return parser
