"""`rx-gateway utilization` end to end: a sponsor's members fill a multi-source brand and a
maintenance generic at retail over the real gRPC client, one brand fill reversed; the command's
summary is the database's own sums over the sponsor's families and the period, and each
opportunity's saving is what a direct replay of the stored claims through the simulator, with
the same fills changed, gives. Each mistake a user can make is one line."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.adapters.postgres.simulation import read_history
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.domain.simulation import period_filter, replay
from rx_gateway.domain.utilization import generic_moves, mail_moves, transform_of
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.tools.synthetic.dataset import active_members
from rx_gateway.tools.synthetic.plans import COMMERCIAL
from tests.e2e.test_pde import cli  # noqa: F401 - the fixture

FIRST, LAST = dt.date(2026, 8, 1), dt.date(2026, 10, 31)
MONTHS = ("20260803", "20260902", "20261002")

# The standing claims of the sponsor's families (a family with a claim of the sponsor's in the
# period) in the period, as the claim rows hold them.
STORED_SQL = """
WITH families AS (
    SELECT DISTINCT c.family_id
    FROM claim c JOIN family f ON f.family_id = c.family_id JOIN plan p ON p.plan_id = c.plan_id
    WHERE c.date_of_service BETWEEN $1 AND $2
      AND CASE WHEN coalesce(p.document->>'sponsor_id', 'employer') = 'employer'
               THEN f.employer_id ELSE p.document->>'sponsor_id' END = $3
)
SELECT count(*) AS fills,
       coalesce(sum((c.response->'pricing'->>'allowed_amount_cents')::bigint), 0) AS allowed,
       coalesce(sum((c.response->'pricing'->>'plan_paid_cents')::bigint), 0) AS plan,
       coalesce(sum((c.response->'pricing'->>'patient_pay_amount_cents')::bigint), 0) AS member,
       count(*) FILTER (WHERE d.is_brand AND d.generic_ndc IS NOT NULL) AS brand_with_generic,
       count(*) FILTER (WHERE NOT d.is_brand) AS generic
FROM claim c JOIN drug d ON d.ndc = c.product_id
WHERE c.family_id IN (SELECT family_id FROM families)
  AND c.date_of_service BETWEEN $1 AND $2
  AND NOT EXISTS (SELECT 1 FROM claim_reversal r
                  WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)
"""


@pytest.fixture(scope="module")
def sponsor_members(dataset: tuple[Path, dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Commercial members no other test bills for, of the employer that has most of them."""
    with (dataset[0] / "members.csv").open(newline="") as handle:
        employer = {m["member_id"]: m["employer_id"] for m in csv.DictReader(handle)}
    members = [m for m in active_members(dataset[0])[520:595] if m["plan_id"] == COMMERCIAL]
    sponsor = Counter(employer[m["member_id"]] for m in members).most_common(1)[0][0]
    return sponsor, [m for m in members if employer[m["member_id"]] == sponsor][:8]


async def _claims(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]], rx: Any
) -> dict[str, set[str]]:
    """Per member, each month: the multi-source brand and a maintenance generic at a preferred
    retail pharmacy, 30 days each; the first member's last brand fill reversed."""
    drugs, pharmacy = fixtures["drugs"], fixtures["pharmacies"]["preferred"]
    paid: dict[str, set[str]] = {"brand": set(), "generic": set(), "reversed": set()}
    for number, member in enumerate(members):
        last_brand: tuple[Any, str] | None = None
        for day in MONTHS:
            for role in ("multi_source_brand", "generic_copay"):
                request = claim_request(
                    fixtures,
                    member,
                    drugs[role],
                    pharmacy=pharmacy,
                    rx_number=rx(),
                    date_of_service=day,
                )
                response = await client.submit(request)
                assert response.transaction_response_status == "P", response.rejects
                icn = response.internal_control_number
                if role == "multi_source_brand":
                    paid["brand"].add(icn)
                    last_brand = (request, icn)
                else:
                    paid["generic"].add(icn)
        if number == 0 and last_brand is not None:
            reversal = await client.reverse(reversal_for(last_brand[0]))
            assert reversal.transaction_response_status == "A", reversal.rejects
            paid["reversed"].add(last_brand[1])
    return paid


async def _direct(dsn: str, sponsor: str) -> dict[str, dict[str, int]]:
    """Each opportunity's saving by a replay of the stored claims through the simulator, as
    stored and with the opportunity's fills changed (plan and member), and the 993-A7s moved."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, init=init_connection)
    try:
        snapshot = await PostgresReferenceLoader(pool).load_snapshot()
    finally:
        await pool.close()
    conn = await asyncpg.connect(dsn)
    try:
        await init_connection(conn)
        history = await read_history(conn, FIRST, LAST, sponsor, snapshot)
    finally:
        await conn.close()
    inside = period_filter(FIRST, LAST)
    events, households = history.events, history.households

    def totals(transform: Any) -> tuple[int, int]:
        plan = member = 0
        for r in replay(events, households, snapshot, snapshot, inside, transform):
            pricing = r.response.pricing
            if r.in_period and r.paid and not r.reversed_later and pricing is not None:
                plan += pricing.plan_paid_cents
                member += pricing.patient_pay_amount_cents
        return plan, member

    base = totals(None)
    out: dict[str, dict[str, int]] = {}
    for kind, moves in (
        ("generic", generic_moves(events, snapshot, FIRST, LAST)),
        ("mail_90_day", mail_moves(events, snapshot, FIRST, LAST)),
    ):
        plan, member = totals(transform_of(moves))
        out[kind] = {
            "plan": base[0] - plan,
            "member": base[1] - member,
            "moved": sum(len(m.icns) for m in moves),
        }
        out[kind + "_icns"] = {icn: 1 for m in moves for icn in m.icns}
    return out


async def test_utilization_of_a_sponsor(
    client: GatewayClient,
    conn: asyncpg.Connection,
    loaded_dsn: str,
    fixtures: dict[str, Any],
    sponsor_members: tuple[str, list[dict[str, Any]]],
    rx_number: Any,
    cli: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    sponsor, members = sponsor_members
    assert len(members) >= 3
    paid = await _claims(client, fixtures, members, rx_number)
    out = tmp_path / "report"
    code, stdout, stderr = await cli(
        "utilization",
        "--sponsor",
        sponsor,
        "--from",
        FIRST.isoformat(),
        "--to",
        LAST.isoformat(),
        "--out",
        str(out),
    )
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    # the summary is the database's own sums
    stored: Any = await conn.fetchrow(STORED_SQL, FIRST, LAST, sponsor)
    overall = summary["overall"]
    assert overall["fills"] == stored["fills"] == summary["paid_standing"]
    assert overall["allowed_cents"] == stored["allowed"]
    assert overall["plan_paid_cents"] == stored["plan"]
    assert overall["member_paid_cents"] == stored["member"]
    assert summary["brand_with_generic_available"]["fills"] == stored["brand_with_generic"]
    assert summary["generic"]["fills"] == stored["generic"]
    assert summary["generic_dispensing_rate"] == round(stored["generic"] / stored["fills"], 4)
    assert summary["reversed"] >= 1
    assert sum(b["fills"] for b in summary["by"]["tier"].values()) == stored["fills"]
    assert summary["by"]["pharmacy_class"]["retail"]["fills"] >= len(members) * 6 - 1
    assert summary["by"]["supply"]["30-day"]["fills"] >= len(members) * 6 - 1
    assert summary["purses"]["breakage_cents"] == (
        summary["purses"]["funded_cents"]
        - summary["purses"]["spent_before_period_cents"]
        - summary["purses"]["spent_in_period_cents"]
    )
    # each opportunity's saving is a direct replay's, and takes in these members' fills
    direct = await _direct(loaded_dsn, sponsor)
    found = {o["kind"]: o for o in report["opportunities"]}
    for kind in ("generic", "mail_90_day"):
        opportunity = found[kind]
        assert opportunity["not_payable"] == 0, opportunity
        assert opportunity["baseline_reproduced"] == opportunity["baseline_replayed"]
        assert opportunity["fills_moved"] == direct[kind]["moved"]
        assert opportunity["plan_saving_cents"] == direct[kind]["plan"]
        assert opportunity["member_saving_cents"] == direct[kind]["member"]
    standing_brands = paid["brand"] - paid["reversed"]
    assert standing_brands <= set(direct["generic_icns"])
    assert paid["generic"] <= set(direct["mail_90_day_icns"])
    # a generic for the brand saves the plan money; the headline says how much
    assert found["generic"]["plan_saving_cents"] > 0
    assert found["mail_90_day"]["members"] >= len(members)
    assert found["mail_90_day"]["headline"].startswith(
        f"Moving {found['mail_90_day']['fills_moved']} maintenance fill(s)"
    )
    assert found["mail_90_day"]["headline"] in stdout
    markdown = (out / "report.md").read_text()
    assert markdown.startswith(f"# Utilization: sponsor {sponsor}")
    assert "## Opportunities" in markdown and "Generic dispensing rate" in markdown
    # without --out: the Markdown on stdout
    code, stdout, stderr = await cli(
        "utilization", "--sponsor", sponsor, "--from", "2026-08-01", "--to", "2026-10-31"
    )
    assert code == 0, stderr
    assert stdout.startswith(f"# Utilization: sponsor {sponsor}")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--sponsor", "NO-SUCH-SPONSOR"), "no such sponsor"),
        (("--from", "2026-05-01", "--to", "2026-04-01"), "is after --to"),
        (("--from", "2019-01-01", "--to", "2019-12-31"), "no claims of sponsor"),
    ],
)
async def test_each_mistake_is_one_line(
    cli: Any,  # noqa: F811 - the fixture
    sponsor_members: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    options: tuple[str, ...],
    expected: str,
) -> None:
    arguments = {"--sponsor": sponsor_members[0], "--from": "2026-08-01", "--to": "2026-10-31"}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        arguments[flag] = value
    out = tmp_path / "report"
    flat = [x for pair in arguments.items() for x in pair]
    code, _, stderr = await cli("utilization", *flat, "--out", str(out))
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rx-gateway: "), stderr
    assert expected in lines[0], lines[0]
    assert not (out / "report.json").exists()
