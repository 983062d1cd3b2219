"""`rx-gateway simulate --design FILE.json [--from DATE] [--to DATE] [--sponsor ID] --out DIR`
(issue 18): the stored claims of a period replayed in their original order under another plan
design (adapters/plan_design.py), on an in-memory copy of member state (domain/simulation.py),
and compared with what really happened. It prints the reproduction rate first (the replay
under the unchanged design answering exactly what was answered), then the headline numbers,
and writes report.json, report.md and, when matplotlib is installed (the bench extra), two
plots under --out. Reads only; a mistake is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

from rx_gateway.cli.database import ledger_connection
from rx_gateway.cli.outputs import check_report_dir, write_report_dir
from rx_gateway.cli.parser import date_range
from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.simulation import (
    DIMENSIONS,
    Comparison,
    Report,
    compare,
    most_affected,
    period_filter,
    replay,
    with_purse_funding,
)
from rx_gateway.jsontext import parse_json

MOST_AFFECTED = 10
FLIPS_LISTED = 50
NOT_REPRODUCED_LISTED = 1_000


def _design(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"--design {path}: no such file"
        raise RxGatewayError(msg) from None
    except (OSError, UnicodeDecodeError) as error:
        msg = f"--design {path}: cannot read: {error}"
        raise RxGatewayError(msg) from None
    try:
        return parse_json(text)
    except json.JSONDecodeError as error:
        msg = f"--design {path}:{error.lineno}: not JSON: {error.msg}"
        raise RxGatewayError(msg) from None


async def _read(
    settings: Settings,
    design: Any,
    source: str,
    args: argparse.Namespace,
    first: dt.date | None,
    last: dt.date | None,
) -> tuple[ReferenceSnapshot, ReferenceSnapshot, Any]:
    from rx_gateway.adapters.plan_design import apply_design  # noqa: PLC0415
    from rx_gateway.adapters.postgres.reference_loader import (  # noqa: PLC0415
        PostgresReferenceLoader,
    )
    from rx_gateway.adapters.postgres.simulation import (  # noqa: PLC0415
        plan_documents,
        read_history,
    )

    async with ledger_connection(settings) as (conn, pool):
        real = await PostgresReferenceLoader(pool).load_snapshot()
        documents = await plan_documents(conn)
        alternative = apply_design(design, source, documents, real)
        history = await read_history(conn, first, last, args.sponsor, real)
    return real, alternative, history


def _money(cents: int) -> str:
    return format_cents(cents)


def _change(real: int, simulated: int) -> str:
    delta = simulated - real
    sign = "+" if delta > 0 else ""
    percent = f" ({sign}{delta * 100 / real:.1f}%)" if real else ""
    return f"{sign}{_money(delta)}{percent}"


MEASURES = (
    ("plan paid", "plan_paid_cents"),
    ("member paid", "member_paid_cents"),
    ("purse spending", "purse_paid_cents"),
    ("sponsor cost", "sponsor_cost_cents"),
)


def _row(label: str, comparison: Comparison) -> str:
    real, simulated = comparison.real.as_dict(), comparison.simulated.as_dict()
    cells = [label, f"{real['paid_claims']} → {simulated['paid_claims']}"]
    for _, key in MEASURES:
        cells.append(
            f"{_money(real[key])} → {_money(simulated[key])} ({_change(real[key], simulated[key])})"
        )
    return "| " + " | ".join(cells) + " |"


def _table(title: str, rows: dict[str, Comparison]) -> list[str]:
    header = "| " + title + " | paid claims | " + " | ".join(m for m, _ in MEASURES) + " |"
    lines = [header, "|" + "---|" * (2 + len(MEASURES))]
    lines += [_row(key, rows[key]) for key in sorted(rows)]
    return lines


def _markdown(
    report: Report, name: str, args: argparse.Namespace, speed: str, plots: list[str]
) -> str:
    period = f"{args.date_from or 'the first claim'} to {args.date_to or 'the last'}"
    up, down = most_affected(report, MOST_AFFECTED)
    lines = [
        f"# Plan design simulation: {name}",
        "",
        f"Reproduction rate (the unchanged design): **{report.reproduction_rate:.2%}**"
        f" ({report.reproduced} of {report.claims_replayed} stored claims answered exactly as"
        " stored)",
        "",
        f"Claims in the period ({period}"
        + (f", sponsor {args.sponsor}" if args.sponsor else "")
        + f"): {report.claims_in_period}; {speed}.",
        "",
        "## Overall (real → simulated)",
        "",
        *_table("", {"all claims": report.overall}),
        "",
        "Money is that of the claims that stand (paid, not reversed). A claim the design"
        " rejects counts as nothing paid by anyone: what the member does then (pay cash, switch"
        " drugs) is not modelled. Sponsor cost is the plan's payment plus what its purses paid.",
        "",
    ]
    for plot in plots:
        lines += [f"![{plot}]({plot})", ""]
    if not plots:
        lines += ["(No plots: matplotlib is not installed; `pip install rx-gateway[bench]`.)", ""]
    titles = {
        "month": "By month (date of service)",
        "tier": "By tier (the real formulary's)",
        "drug_group": "By drug group",
        "age_band": "By age band",
        "line_of_business": "By line of business",
        "utilization_band": "By utilization band (the member's claims in the period)",
    }
    for dimension in DIMENSIONS:
        lines += [f"## {titles[dimension]}", "", *_table(dimension, report.by[dimension]), ""]
    lines += ["## Members most affected (by member ID)", ""]
    lines += ["| member | change in what the member paid |", "|---|---|"]
    lines += [f"| {m} | {_change(0, c)} |" for m, c in up + down] or ["| (none) | |"]
    lines += ["", f"## Claims whose outcome flips ({len(report.flips)})", ""]
    lines += ["| 993-A7 | member | date | product | real | simulated | rejects |"]
    lines += ["|---|---|---|---|---|---|---|"]
    lines += [
        f"| {f.internal_control_number} | {f.member_id} | {f.date_of_service} | {f.product_id}"
        f" | {f.real} | {f.simulated} | {','.join(f.rejects)} |"
        for f in report.flips[:FLIPS_LISTED]
    ]
    if len(report.flips) > FLIPS_LISTED:
        lines.append(f"\n({len(report.flips) - FLIPS_LISTED} more in report.json)")
    return "\n".join(lines) + "\n"


def _json(report: Report, name: str, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    up, down = most_affected(report, MOST_AFFECTED)
    return {
        "design": name,
        "period": {"from": args.date_from, "to": args.date_to},
        "sponsor": args.sponsor,
        "reproduction": {
            "rate": report.reproduction_rate,
            "reproduced": report.reproduced,
            "claims": report.claims_replayed,
            "not_reproduced": report.not_reproduced[:NOT_REPRODUCED_LISTED],
        },
        "claims_in_period": report.claims_in_period,
        "replay_seconds": round(seconds, 3),
        "overall": report.overall.as_dict(),
        "by": {d: {k: c.as_dict() for k, c in sorted(report.by[d].items())} for d in DIMENSIONS},
        "members_most_affected": {
            "paying_more": [{"member_id": m, "change_cents": c} for m, c in up],
            "paying_less": [{"member_id": m, "change_cents": c} for m, c in down],
        },
        "flips": [
            {
                "internal_control_number": f.internal_control_number,
                "member_id": f.member_id,
                "date_of_service": f.date_of_service,
                "product_id": f.product_id,
                "real": f.real,
                "simulated": f.simulated,
                "rejects": list(f.rejects),
            }
            for f in report.flips
        ],
    }


def _plots(report: Report, out: Path) -> list[str]:
    """Cost by month and the distribution of the change in member pay, or none."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return []
    months = sorted(report.by["month"])
    real = [report.by["month"][m].real.sponsor_cost_cents / 100 for m in months]
    simulated = [report.by["month"][m].simulated.sponsor_cost_cents / 100 for m in months]
    member_real = [report.by["month"][m].real.member_paid_cents / 100 for m in months]
    member_simulated = [report.by["month"][m].simulated.member_paid_cents / 100 for m in months]
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.plot(months, real, marker="o", label="sponsor cost, real")
    axis.plot(months, simulated, marker="o", label="sponsor cost, simulated")
    axis.plot(months, member_real, marker=".", linestyle="--", label="member paid, real")
    axis.plot(months, member_simulated, marker=".", linestyle="--", label="member paid, simulated")
    axis.set_ylabel("$")
    axis.set_title("Cost by month (date of service)")
    axis.legend()
    axis.tick_params(axis="x", rotation=45)
    figure.tight_layout()
    figure.savefig(out / "cost_by_month.png", dpi=100)
    plt.close(figure)
    changes = [c / 100 for c in report.member_change_cents.values()]
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.hist(changes or [0], bins=30)
    axis.set_xlabel("change in what the member paid over the period ($)")
    axis.set_ylabel("members")
    axis.set_title("Distribution of member pay change")
    figure.tight_layout()
    figure.savefig(out / "member_pay_change.png", dpi=100)
    plt.close(figure)
    return ["cost_by_month.png", "member_pay_change.png"]


async def run(settings: Settings, args: argparse.Namespace) -> int:
    first, last = date_range(args)
    out: Path = args.out
    check_report_dir(out)
    design = _design(args.design)
    real, alternative, history = await _read(settings, design, str(args.design), args, first, last)
    inside = period_filter(first, last)
    if not any(inside(e) for e in history.events):
        where = f" with --sponsor {args.sponsor}" if args.sponsor else ""
        skipped = (
            f" ({history.claims_without_requests} paid claim(s) stored before requests were kept"
            " cannot be replayed)"
            if history.claims_without_requests
            else ""
        )
        msg = (
            f"no stored claims to replay from {first or 'the start'} to {last or 'the end'}"
            f"{where}{skipped}"
        )
        raise RxGatewayError(msg)
    started = time.perf_counter()
    reproduction = replay(history.events, history.households, real, real, lambda _e: False)
    from rx_gateway.adapters.plan_design import purse_funding_scales  # noqa: PLC0415

    # purse funding is each family's from its start: the design's purses start as funded
    scales = purse_funding_scales(design, str(args.design))
    funded = with_purse_funding(history.households, scales)
    replayed = replay(history.events, funded, real, alternative, inside)
    seconds = time.perf_counter() - started
    report = compare(replayed, history.households, real, alternative, reproduction)
    claims = len(reproduction) + len(replayed)
    speed = f"{claims} replays in {seconds:.2f} s ({claims / seconds if seconds else 0:,.0f}/s)"
    name = str(design.get("name") or args.design.name)
    print(
        f"reproduction rate: {report.reproduction_rate:.2%} ({report.reproduced} of"
        f" {report.claims_replayed} stored claims reproduced exactly)"
    )
    if history.claims_without_requests:
        print(
            f"left out: {history.families_without_requests} family(ies) with"
            f" {history.claims_without_requests} paid claim(s) stored before requests were kept"
        )
    overall = report.overall
    print(f"design {name}: {report.claims_in_period} claims in the period; {speed}")
    for label, key in MEASURES:
        before, after = overall.real.as_dict()[key], overall.simulated.as_dict()[key]
        print(f"  {label}: {_money(before)} -> {_money(after)} ({_change(before, after)})")
    print(f"  outcome flips: {len(report.flips)}")
    plots = await asyncio.to_thread(_plots_safe, report, out)
    markdown = _markdown(report, name, args, speed, plots)
    await asyncio.to_thread(write_report_dir, out, markdown, _json(report, name, args, seconds))
    print(f"{out}: report.md, report.json" + "".join(f", {p}" for p in plots))
    return 0


def _plots_safe(report: Report, out: Path) -> list[str]:
    try:
        out.mkdir(exist_ok=True)
    except OSError as error:
        msg = f"--out {out}: cannot write: {error.strerror or error}"
        raise RxGatewayError(msg) from None
    return _plots(report, out)
