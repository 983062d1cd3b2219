"""The demo's member who arrives by X12 834 (issue 17), and whose year is then followed to the
files that leave the gateway.

Two 834s, as two sponsors would send them: the state enrolls the member in Medicaid for the
first half of 2026, then an employer enrolls the same card in its plan from July. One member,
one history: the script bills a fill under each coverage (and Medicaid after it ended), then
the demo writes the member's CARIN EOB Bundle and the Part D plan's PDE file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway.config import Settings
from rx_gateway.tools.synthetic.plans import MEDICAID, MEDICAID_GROUP
from rx_gateway.tools.synthetic.x12_834 import enrollment_834

COMMERCIAL = "COMM-HRA-2026"
COMMERCIAL_GROUP = "EMP2-FT"
PART_D = "PARTD-STD-2026"
NEWCOMER = {
    "member_id": "E834M0001",
    "cardholder_id": "E834000001",
    "person_code": "001",
    "family_id": "FE834001",
    "employer_id": "EMP2",
    "class_code": "FT",
    "first_name": "Rosa",
    "last_name": "Demo",
    "date_of_birth": "1991-05-14",
    "gender_code": "2",
}


def _span(plan_id: str, group_id: str, start: str, end: str, line: str) -> dict[str, str]:
    return {
        "member_id": NEWCOMER["member_id"],
        "plan_id": plan_id,
        "group_id": group_id,
        "start_date": start,
        "end_date": end,
        "end_reason": "expired" if end else "",
        "line_of_business": line,
        "coverage_level": "self_only",
        "payer_order": "",
    }


def newcomer_files(directory: Path) -> list[Path]:
    """The two 834s: Medicaid January to June, then the employer's plan from July."""
    directory.mkdir(parents=True, exist_ok=True)
    files = [
        (
            "STATE-MEDICAID",
            _span(MEDICAID, MEDICAID_GROUP, "2026-01-01", "2026-06-30", "MEDICAID"),
            901,
        ),
        ("EMP2", _span(COMMERCIAL, COMMERCIAL_GROUP, "2026-07-01", "", "COMMERCIAL"), 902),
    ]
    written = []
    for sponsor, span, control in files:
        path = directory / f"{sponsor}-{control}.834"
        path.write_text(
            enrollment_834(sponsor, [NEWCOMER], [span], control_number=control),
            encoding="ascii",
        )
        written.append(path)
    return written


def newcomer(plan_id: str) -> dict[str, Any]:
    """The newcomer as the claim builders take a member, billed to ``plan_id``."""
    return {
        "member_id": NEWCOMER["member_id"],
        "cardholder_id": NEWCOMER["cardholder_id"],
        "person_code": NEWCOMER["person_code"],
        "family_id": NEWCOMER["family_id"],
        "group_id": MEDICAID_GROUP if plan_id == MEDICAID else COMMERCIAL_GROUP,
        "plan_id": plan_id,
        "date_of_birth": NEWCOMER["date_of_birth"].replace("-", ""),
        "gender_code": int(NEWCOMER["gender_code"]),
    }


async def enroll_newcomer(settings: Settings, dsn: str, directory: Path) -> None:
    """Apply the two 834s as `rx-gateway enroll` does (it prints what each changed)."""
    from rx_gateway.cli import enroll  # noqa: PLC0415 - the command's own path

    for path in await asyncio.to_thread(newcomer_files, directory):
        await enroll.run(replace(settings, database_url=dsn), path, report=False)


async def files_out(settings: Settings, dsn: str, out: Path) -> str:
    """The newcomer's EOB Bundle and the Part D plan's PDE file, written under ``out``, as
    `rx-gateway export eob` and `export pde` write them (each prints what it wrote); a line
    saying what the Bundle holds."""
    from rx_gateway.cli import export_eob, export_pde  # noqa: PLC0415

    here = replace(settings, database_url=dsn)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    eob_path = out / f"eob-{NEWCOMER['member_id']}.json"
    await export_eob.run(
        here,
        argparse.Namespace(
            member=NEWCOMER["member_id"], date_from=None, date_to=None, out=eob_path
        ),
    )
    pde_path = out / f"pde-{PART_D}.txt"
    await export_pde.run(
        here,
        argparse.Namespace(plan=PART_D, date_from="2026-01-01", date_to="2026-12-31", out=pde_path),
    )
    bundle = json.loads(await asyncio.to_thread(eob_path.read_text))
    eobs = [e["resource"] for e in bundle.get("entry", ())]
    plans = sorted(
        {
            str(k.get("value"))
            for e in eobs
            for c in e.get("contained", ())
            if c.get("resourceType") == "Coverage"
            for k in c.get("class", ())
        }
    )
    return (
        f"member {NEWCOMER['member_id']} (enrolled by two 834s): {len(eobs)} CARIN"
        f" ExplanationOfBenefit (coverage classes {', '.join(plans)}) in {eob_path}"
    )
