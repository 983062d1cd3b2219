"""Issue 17, end to end: a member's year followed from an 834 add, through claims under two
coverages, to their CARIN EOB Bundle and their Part D PDEs.

The employer's 834 enrolls the member in its plan for January to June (the member turns 65 in
June); Medicare's Part D sponsor's 834 enrolls the same card from July. A fill in March is
adjudicated on the employer plan, one in August on Part D. The EOB Bundle (validated by an
independent FHIR model library) holds both; the Part D plan's PDE file holds the August fill
with both money identities, read by the positions the README documents."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic.claims import claim_request
from tests.e2e.test_enroll import _card, _enroll
from tests.e2e.test_pde import _det, _identities
from tests.support_834 import coverage, interchange, member
from tests.unit.test_eob import validate_bundle

COMMERCIAL, PART_D = "COMM-HRA-2026", "PARTD-STD-2026"
CARD, MEMBER_ID = "E834Y0001", "E834Y1"


def _fill(fixtures: dict[str, Any], who: dict[str, Any], rx: int, day: str) -> Any:
    return claim_request(
        fixtures,
        who,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=day,
    )


async def _paid(client: GatewayClient, request: Any) -> Any:
    response = await client.submit(request)
    assert response.transaction_response_status == "P", response.rejects
    return response


async def test_a_members_year_from_834_to_eob_and_pde(
    app: App,
    loaded_dsn: str,
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
    tmp_path: Path,
) -> None:
    part_d_group = fixtures["members"]["part_d"]["group_id"]
    employer = _card(CARD, COMMERCIAL, "EMP2-FT") | {"date_of_birth": "19610615"}
    medicare = _card(CARD, PART_D, part_d_group) | {"date_of_birth": "19610615"}
    first = await _enroll(
        loaded_dsn,
        interchange(
            member(CARD, member_id=MEMBER_ID, group="EMP2-FT", born="19610615",
                   lines=coverage(COMMERCIAL, begin="20260101", end="20260630")),
            sender="E834YEMP", sponsor="EMP2", control=41,
        ),
    )  # fmt: skip
    second = await _enroll(
        loaded_dsn,
        interchange(
            member(CARD, member_id=MEMBER_ID, group=part_d_group, born="19610615",
                   lines=coverage(PART_D, begin="20260701")),
            sender="E834YPDP", sponsor="PDP-SPONSOR", control=42,
        ),
    )  # fmt: skip
    assert first.applied and second.applied
    assert first.counts.members_added == 1 and second.counts.members_added == 0
    spans = await conn.fetch(
        "SELECT c.plan_id, c.start_date, c.end_date FROM coverage c JOIN member m"
        " ON m.family_id = c.family_id AND m.member_id = c.member_id"
        " WHERE m.cardholder_id = $1 ORDER BY c.start_date",
        CARD,
    )
    assert [(r[0], r[1], r[2]) for r in spans] == [
        (COMMERCIAL, dt.date(2026, 1, 1), dt.date(2026, 6, 30)),
        (PART_D, dt.date(2026, 7, 1), None),
    ]

    march = await _paid(client, _fill(fixtures, employer, rx_number(), "20260310"))
    august = await _paid(client, _fill(fixtures, medicare, rx_number(), "20260810"))
    assert march.plan_id == COMMERCIAL and august.plan_id == PART_D
    # the employer plan no longer covers August: the card is billed to the wrong plan
    late = _fill(fixtures, employer, rx_number(), "20260811")
    assert (await client.submit(late)).transaction_response_status == "R"

    member_id = await conn.fetchval("SELECT member_id FROM member WHERE cardholder_id = $1", CARD)
    eob_file, pde_file = tmp_path / "eob.json", tmp_path / "pde.txt"
    await _cli(loaded_dsn, "export", "eob", "--member", member_id, "--out", str(eob_file))
    eobs = validate_bundle(eob_file.read_bytes())
    by_number = {e["identifier"][0]["value"]: e for e in eobs}
    assert set(by_number) == {march.internal_control_number, august.internal_control_number}
    for answer in (march, august):
        item = by_number[answer.internal_control_number]["item"][0]
        paid = {
            a["category"]["coding"][0]["code"]: Decimal(str(a["amount"]["value"]))
            for a in item["adjudication"]
            if "amount" in a
        }
        assert paid["paidtoprovider"] * 100 == answer.pricing.total_amount_paid_cents
        assert paid["paidbypatientcash"] * 100 == answer.pricing.patient_pay_amount_cents

    today = dt.datetime.now(dt.UTC).date().isoformat()
    await _cli(loaded_dsn, "export", "pde", "--plan", PART_D, "--from", today, "--to", today,
               "--out", str(pde_file))  # fmt: skip
    details = [_det(line) for line in pde_file.read_text().splitlines() if line[:3] == "DET"]
    ours = [d for d in details if d["icn"] == august.internal_control_number]
    assert len(ours) == 1
    assert not [d for d in details if d["icn"] == march.internal_control_number]
    (record,) = ours
    _identities(record)
    assert record["cardholder_id"] == CARD and record["date_of_service"] == "20260810"
    assert record["patient"] == august.pricing.patient_pay_amount_cents
    assert json.loads(eob_file.read_text())["type"] == "collection"


async def _cli(dsn: str, *args: str) -> None:
    """The console script in a process of its own, on the test database."""
    import os
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rx_gateway",
        *args,
        env=dict(os.environ, RX_GATEWAY_DATABASE_URL=dsn),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, (out, err)
