"""`rx-gateway utilization --sponsor ID --from YYYY-MM-DD --to YYYY-MM-DD [--out DIR]` (issue 18):
a sponsor's observed use in a period from the stored claims (spend and counts by tier, drug
group, pharmacy class and network, supply band; the generic dispensing rate, brands filled
where a generic was available, the specialty share, purse use and breakage), and the
opportunities the claims show, each sized by replaying them through the simulator with the
fills changed (domain/utilization.py). Markdown on stdout, or report.md and report.json under
--out. Reads only; a mistake is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from rx_gateway.cli.database import ledger_connection
from rx_gateway.cli.outputs import check_report_dir, write_report_dir
from rx_gateway.cli.parser import required_date_range
from rx_gateway.config import Settings
from rx_gateway.domain.errors import RxGatewayError
from rx_gateway.domain.money import format_cents
from rx_gateway.domain.reference import ReferenceSnapshot
from rx_gateway.domain.simulation import Household, StoredEvent
from rx_gateway.domain.utilization import (
    DIMENSIONS,
    Bucket,
    Opportunity,
    Summary,
    opportunities,
    summarise,
)

TITLES = {
    "tier": "By tier",
    "drug_group": "By drug group",
    "pharmacy_class": "By pharmacy class",
    "network": "By pharmacy network",
    "supply": "30 vs 90 day (days supply)",
}
WHAT = {
    "generic": "Filling {fills} brand fill(s) that have a generic ({members} member(s)) with the"
    " generic",
    "mail_90_day": "Moving {fills} maintenance fill(s) ({members} member(s)) to {new} 90-day"
    " mail fill(s)",
}


async def _read(
    settings: Settings, args: argparse.Namespace, first: dt.date, last: dt.date
) -> tuple[ReferenceSnapshot, list[StoredEvent], dict[str, Household], int]:
    from rx_gateway.adapters.postgres.reference_loader import (  # noqa: PLC0415
        PostgresReferenceLoader,
    )
    from rx_gateway.adapters.postgres.simulation import (  # noqa: PLC0415
        read_history,
        sponsor_known,
    )

    async with ledger_connection(settings) as (conn, pool):
        if not await sponsor_known(conn, args.sponsor):
            msg = f"--sponsor {args.sponsor}: no such sponsor"
            raise RxGatewayError(msg)
        snapshot = await PostgresReferenceLoader(pool).load_snapshot()
        history = await read_history(conn, first, last, args.sponsor, snapshot)
    return snapshot, history.events, history.households, history.claims_without_requests


def _money(cents: int) -> str:
    return format_cents(cents)


def headline(opportunity: Opportunity) -> str:
    """One line: what changes and what it saves (a negative saving is a cost)."""
    if not opportunity.new_fills:
        return {
            "generic": "no brand fill with a generic available to move",
            "mail_90_day": "no maintenance fills at retail to move to 90-day mail",
        }[opportunity.kind]
    what = WHAT[opportunity.kind].format(
        fills=opportunity.fills_moved, members=opportunity.members, new=opportunity.new_fills
    )

    def effect(cents: int, who: str, verbs: tuple[str, str]) -> str:
        """``who`` saves ``cents``, or pays more (a negative saving)."""
        saves, pays = verbs
        return (
            f"{who} {saves} {_money(cents)}"
            if cents >= 0
            else f"{who} {pays} {_money(-cents)} more"
        )

    parts = [
        effect(opportunity.plan_saving_cents, "the plan", ("saves", "pays")),
        effect(opportunity.member_saving_cents, "members", ("save", "pay")),
    ]
    if opportunity.purse_saving_cents:
        parts.append(effect(opportunity.purse_saving_cents, "the purses", ("save", "pay")))
    return f"{what}: {', '.join(parts)}"


def _table(title: str, rows: dict[str, Bucket]) -> list[str]:
    lines = [
        f"| {title} | fills | total cost | plan paid | member paid | purse paid |",
        "|---|---|---|---|---|---|",
    ]
    for key in sorted(rows):
        b = rows[key]
        lines.append(
            f"| {key} | {b.fills} | {_money(b.allowed_cents)} | {_money(b.plan_paid_cents)}"
            f" | {_money(b.member_paid_cents)} | {_money(b.purse_paid_cents)} |"
        )
    return lines


def markdown(
    summary: Summary, found: list[Opportunity], sponsor: str, first: dt.date, last: dt.date
) -> str:
    overall = summary.overall
    purses = summary.purses
    lines = [
        f"# Utilization: sponsor {sponsor}, {first} to {last}",
        "",
        f"Claims decided: {summary.claims} ({summary.paid} paid and standing, {summary.reversed}"
        f" reversed, {summary.rejected} rejected). Money is that of the fills that stand; total"
        " cost is the allowed amount.",
        "",
        *_table("", {"all fills": overall}),
        "",
        f"- Generic dispensing rate: **{summary.generic_dispensing_rate:.1%}**"
        f" ({summary.generic.fills} of {overall.fills} fills)",
        f"- Brand filled where a generic was available: {summary.brand_with_generic.fills}"
        f" fill(s), {_money(summary.brand_with_generic.allowed_cents)} total cost,"
        f" {_money(summary.brand_with_generic.plan_paid_cents)} plan paid",
        f"- Specialty share of total cost: **{summary.specialty_share:.1%}**"
        f" ({summary.specialty.fills} fill(s), {_money(summary.specialty.allowed_cents)})",
        f"- Purses ({purses.purses}): {_money(purses.spent_in_period_cents)} paid on the"
        f" period's claims; funded {_money(purses.funded_cents)} by {last}, spent"
        f" {_money(purses.spent_before_cents + purses.spent_in_period_cents)};"
        f" breakage (funding not spent) **{_money(purses.breakage_cents)}**",
        "",
        "## Opportunities (sized by replaying the claims through the simulator)",
        "",
    ]
    for opportunity in found:
        lines.append(f"- {headline(opportunity)}.")
        if opportunity.not_payable:
            lines.append(
                f"  ({opportunity.not_payable} candidate fill(s) left as they were: the plan"
                " would reject the change.)"
            )
    replayed = found[0].replayed if found else 0
    reproduced = found[0].reproduced if found else 0
    lines += [
        "",
        f"The unchanged replay answered {reproduced} of {replayed} stored claims exactly as"
        " stored; savings are the unchanged replay less the changed one, over the period.",
        "",
    ]
    for dimension in DIMENSIONS:
        lines += [f"## {TITLES[dimension]}", "", *_table(dimension, summary.by[dimension]), ""]
    return "\n".join(lines)


def document(
    summary: Summary, found: list[Opportunity], sponsor: str, first: dt.date, last: dt.date
) -> dict[str, Any]:
    return {
        "sponsor": sponsor,
        "period": {"from": first.isoformat(), "to": last.isoformat()},
        "summary": summary.as_dict(),
        "opportunities": [o.as_dict() | {"headline": headline(o)} for o in found],
    }


async def run(settings: Settings, args: argparse.Namespace) -> int:
    first, last = required_date_range(args)
    out: Path | None = args.out
    if out is not None:
        check_report_dir(out)
    snapshot, events, households, skipped = await _read(settings, args, first, last)
    summary = summarise(events, households, snapshot, first, last)
    if not summary.claims:
        left_out = (
            f" ({skipped} paid claim(s) stored before requests were kept cannot be read)"
            if skipped
            else ""
        )
        msg = f"no claims of sponsor {args.sponsor} from {first} to {last}{left_out}"
        raise RxGatewayError(msg)
    found = await asyncio.to_thread(opportunities, events, households, snapshot, first, last)
    text = markdown(summary, found, args.sponsor, first, last)
    if out is None:
        print(text, end="")
        return 0
    await asyncio.to_thread(
        write_report_dir, out, text, document(summary, found, args.sponsor, first, last)
    )
    for opportunity in found:
        print(headline(opportunity))
    print(f"{out}: report.md, report.json")
    return 0
