"""`rx-gateway simulate` end to end: claims paid, rejected and reversed over the real gRPC
client, then replayed by the command from what the database stored. The unchanged design
answers every one of them exactly as stored (the reproduction rate, printed first), the real
totals are the stored ones, a formulary move flips the moved drug's paid claims, a lower
copay lowers what the plan's members pay; each mistake a user can make is one line."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.tools.synthetic.dataset import active_members
from rx_gateway.tools.synthetic.plans import COMMERCIAL
from tests.e2e.test_pde import cli  # noqa: F401 - the fixture

FIRST, LAST = "2026-02-01", "2026-10-31"


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Members no other test bills for."""
    return active_members(dataset[0])[1420:1460]  # members no other test bills for


async def _history(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]], rx: Any
) -> dict[str, Any]:
    """Per member: a brand each month from February, a generic with a copay every other
    month, a generic for 90 days by mail each quarter (rewarded on the commercial plan, twice
    a year), one fill in three members reversed, one claim at an out-of-network pharmacy
    (rejected, the member known). What was paid, reversed and rejected, by 993-A7."""
    paid: dict[str, Any] = {}
    reversed_: set[str] = set()
    rejected = 0
    drugs = fixtures["drugs"]
    for number, member in enumerate(members):
        requests = []
        for month in range(2, 11):
            day = f"2026{month:02d}{(number % 20) + 3:02d}"
            requests.append(("preferred_brand", "preferred", day))
            if month % 2 == 0:
                requests.append(("generic_copay", "preferred", day))
            if month in (3, 6, 9):  # 90 days by mail: a reward on the commercial plan (twice)
                requests.append(("generic", "mail", day))
        requests.append(("generic_copay", "out_of_network", "20260615"))
        sent = []
        for drug, pharmacy, day in requests:
            days = 90 if pharmacy == "mail" else 30
            request = claim_request(
                fixtures,
                member,
                drugs[drug],
                pharmacy=fixtures["pharmacies"][pharmacy],
                rx_number=rx(),
                date_of_service=day,
                quantity_thousandths=days * 1_000,
                days_supply=days,
            )
            response = await client.submit(request)
            if response.transaction_response_status == "P":
                paid[response.internal_control_number] = (member, drug)
                sent.append((request, response))
            else:
                rejected += 1
        if number % 3 == 0 and len(sent) > 2:
            request, response = sent[2]
            reversal = await client.reverse(reversal_for(request))
            assert reversal.transaction_response_status == "A", reversal.rejects
            reversed_.add(response.internal_control_number)
    return {"paid": paid, "reversed": reversed_, "rejected": rejected}


def _design(tmp_path: Path, fixtures: dict[str, Any]) -> Path:
    design = {
        "name": "tier 1 at $5, the preferred brand excluded",
        "plans": {COMMERCIAL: {"tiers": {"1": {"copay_cents": 500}}}},
        "formulary": [
            {
                "plan_id": COMMERCIAL,
                "ndc": fixtures["drugs"]["preferred_brand"]["ndc"],
                "status": "excluded",
            }
        ],
    }
    path = tmp_path / "design.json"
    path.write_text(json.dumps(design))
    return path


async def _stored_totals(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n,"
        " coalesce(sum((c.response->'pricing'->>'plan_paid_cents')::bigint), 0) AS plan,"
        " coalesce(sum((c.response->'pricing'->>'patient_pay_amount_cents')::bigint), 0)"
        " AS member"
        " FROM claim c WHERE c.date_of_service BETWEEN $1::date AND $2::date"
        " AND NOT EXISTS (SELECT 1 FROM claim_reversal r"
        "                 WHERE r.family_id = c.family_id AND r.claim_id = c.claim_id)",
        dt.date.fromisoformat(FIRST),
        dt.date.fromisoformat(LAST),
    )
    return {
        "paid_claims": row["n"],
        "plan_paid_cents": row["plan"],
        "member_paid_cents": row["member"],
    }


async def test_a_design_replayed_on_stored_claims(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    cli: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    history = await _history(client, fixtures, members, rx_number)
    assert history["reversed"] and history["rejected"] >= len(members)
    out = tmp_path / "report"
    code, stdout, stderr = await cli(
        "simulate",
        "--design",
        str(_design(tmp_path, fixtures)),
        "--from",
        FIRST,
        "--to",
        LAST,
        "--out",
        str(out),
    )
    assert code == 0, stderr
    first = stdout.splitlines()[0]
    assert first.startswith("reproduction rate: "), stdout
    report = json.loads((out / "report.json").read_text())
    # every claim of these members answered as stored (others' claims: see not_reproduced)
    mine = set(history["paid"])
    assert not mine & set(report["reproduction"]["not_reproduced"]), report["reproduction"]
    if not report["reproduction"]["not_reproduced"]:
        assert first.startswith("reproduction rate: 100.00%")
    # the real side is what the database holds
    stored = await _stored_totals(conn)
    real = report["overall"]["real"]
    assert {k: real[k] for k in stored} == stored
    # the excluded brand: each of its fills of a commercial member that stands flips
    brand_fills = {
        icn
        for icn, (member, drug) in history["paid"].items()
        if drug == "preferred_brand"
        and member["plan_id"] == COMMERCIAL
        and icn not in history["reversed"]
    }
    assert brand_fills
    flips = {f["internal_control_number"]: f for f in report["flips"]}
    assert brand_fills <= set(flips)
    assert all(flips[i]["real"] == "paid" and flips[i]["rejects"] == ["70"] for i in brand_fills)
    # the generic's copay halved: the plan pays more on tier 1, the members less
    tier_1 = report["by"]["tier"]["1"]
    assert tier_1["simulated"]["plan_paid_cents"] > tier_1["real"]["plan_paid_cents"]
    assert report["members_most_affected"]["paying_less"]
    assert all(
        m["member_id"].startswith("M") for m in report["members_most_affected"]["paying_less"]
    )
    assert set(report["by"]) == {
        "month",
        "tier",
        "drug_group",
        "age_band",
        "line_of_business",
        "utilization_band",
    }
    assert "2026-02" in report["by"]["month"] and "COMMERCIAL" in report["by"]["line_of_business"]
    markdown = (out / "report.md").read_text()
    assert markdown.splitlines()[2].startswith("Reproduction rate")
    assert "## By month" in markdown and "## Claims whose outcome flips" in markdown


@pytest.mark.parametrize(
    ("design", "options", "expected"),
    [
        ("{not json", (), "not JSON"),
        ('{"plans": {"NO-SUCH-PLAN": {}}}', (), "plans.NO-SUCH-PLAN: no such plan"),
        ('{"plans": {}}', (), "changes nothing"),
        (
            '{"formulary": [{"plan_id": "COMM-HRA-2026", "ndc": "x", "tier": 2}]}',
            (),
            "no such drug",
        ),
        (
            '{"plans": {"COMM-HRA-2026": {"tiers": {"1": {"copay_cents": -5}}}}}',
            (),
            "copay_cents",
        ),
        # a tier removed while drugs are on it, a misspelled field: a traceback, and ignored
        ('{"plans": {"COMM-HRA-2026": {"tiers": {"1": null}}}}', (), "tiers: tier 1 is gone"),
        (
            '{"plans": {"COMM-HRA-2026": {"tiers": {"1": {"copay_centz": 500}}}}}',
            (),
            "tiers.1.copay_centz",
        ),
        (
            '{"plans": {"COMM-HRA-2026": {}}}',
            ("--from", "2026-05-01", "--to", "2026-04-01"),
            "after",
        ),
        (
            '{"plans": {"COMM-HRA-2026": {}}}',
            ("--from", "2019-01-01", "--to", "2019-12-31"),
            "no stored claims",
        ),
    ],
)
async def test_each_mistake_is_one_line(
    cli: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
    design: str,
    options: tuple[str, ...],
    expected: str,
) -> None:
    path = tmp_path / "design.json"
    path.write_text(design)
    out = tmp_path / "report"
    code, _, stderr = await cli("simulate", "--design", str(path), *options, "--out", str(out))
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rx-gateway: "), stderr
    assert expected in lines[0], lines[0]
    assert not (out / "report.json").exists()


async def test_a_sponsor_s_claims_alone(
    client: GatewayClient,
    dataset: tuple[Path, dict[str, Any]],
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    cli: Any,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """--sponsor: only the families billed to that sponsor (an employer, for the commercial
    plan) are replayed; their excluded brand fills flip, nobody else's."""
    with (dataset[0] / "members.csv").open(newline="") as handle:
        employer = {m["member_id"]: m["employer_id"] for m in csv.DictReader(handle)}
    commercial = [m for m in members if m["plan_id"] == COMMERCIAL]
    sponsor = employer[commercial[0]["member_id"]]
    for member in commercial[:3]:
        request = claim_request(
            fixtures,
            member,
            fixtures["drugs"]["preferred_brand"],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service="20261102",
        )
        await client.submit(request)
    out = tmp_path / "report"
    code, stdout, stderr = await cli(
        "simulate",
        "--design",
        str(_design(tmp_path, fixtures)),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-20",
        "--sponsor",
        sponsor,
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert stdout.startswith("reproduction rate: ")
    report = json.loads((out / "report.json").read_text())
    assert report["flips"]
    assert {employer[f["member_id"]] for f in report["flips"]} == {sponsor}
    assert report["sponsor"] == sponsor
