"""Enrollment by X12 834 in the demo (issue 17): the synthetic population is loaded through one
834 per sponsor, and one more member arrives by two sponsors' 834s; their year is then
followed to the files that leave the gateway.

Two 834s, as two sponsors would send them: the state enrolls the member in Medicaid for the
first half of 2026, then an employer enrolls the same card in its plan from July. One member,
one history: the script bills a fill under each coverage (and Medicaid after it ended), then
the demo writes the member's CARIN EOB Bundle and the Part D plan's PDE file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from rx_gateway.bootstrap import Database
from rx_gateway.config import Settings
from rx_gateway.tools.synthetic.plans import MEDICAID, MEDICAID_GROUP
from rx_gateway.tools.synthetic.x12_834 import enrollment_834, write_834_files

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


# What an 834 does not carry, loaded after the files enrolled the members it names
AFTER_ENROLLMENT = (
    "purses.csv",
    "funding.csv",
    "prior_authorizations.csv",
    "other_coverages.csv",
)
# What the 834s carry instead
ENROLLED = ("members.csv", "coverages.csv")


def _split(directory: Path) -> tuple[Path, Path]:
    """The dataset as two directories: the reference data (plans, drugs, pharmacies, ...),
    and what refers to enrolled members (purses, funding, authorizations, other payers)."""
    reference, after = directory / "reference", directory / "after-enrollment"
    for target in (reference, after):
        target.mkdir(exist_ok=True)
    for entry in directory.iterdir():
        if entry.name in ENROLLED or entry in (reference, after) or entry.name == "834":
            continue
        target = after if entry.name in AFTER_ENROLLMENT else reference
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)
    return reference, after


async def _enroll(dsn: str, files: list[Path]) -> int:
    """Apply 834 files in order as `rx-gateway enroll` does (quietly); members added."""
    import asyncpg  # noqa: PLC0415

    from rx_gateway.adapters.files.x12_834 import X12EnrollmentReader  # noqa: PLC0415
    from rx_gateway.adapters.postgres.database import init_connection  # noqa: PLC0415
    from rx_gateway.adapters.postgres.enrollment import PostgresEnrollment  # noqa: PLC0415
    from rx_gateway.adapters.postgres.reference_loader import (  # noqa: PLC0415
        PostgresReferenceLoader,
    )
    from rx_gateway.service_layer import enrollment  # noqa: PLC0415

    added = 0
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    try:
        plans = (await PostgresReferenceLoader(pool).load_snapshot()).plans
        store = PostgresEnrollment(pool)
        for path in files:
            data = await asyncio.to_thread(path.read_bytes)
            outcome = await enrollment.enroll(
                X12EnrollmentReader(), store, data, path.name, plans, actor="demo"
            )
            added += outcome.counts.members_added
    finally:
        await pool.close()
    return added


async def load_through_834(database: Database, directory: Path) -> dict[str, int]:
    """The synthetic population loaded as a plan would receive it: the reference data, then
    each sponsor's 834 (`rx-gateway generate --834` writes them), then purses, funding,
    authorizations and other payers' coverage, which an 834 does not carry."""
    files = await asyncio.to_thread(write_834_files, directory)
    reference, after = await asyncio.to_thread(_split, directory)
    counts = await database.load(reference)
    counts["members_enrolled_by_834"] = await _enroll(database.dsn, files)
    for name, value in (await database.load(after)).items():
        counts[name] = counts.get(name, 0) + value
    counts["834_files"] = len(files)
    return counts


async def enroll_newcomer(dsn: str, directory: Path) -> None:
    """Apply the newcomer's two 834s."""
    await _enroll(dsn, await asyncio.to_thread(newcomer_files, directory))


async def files_out(settings: Settings, dsn: str, out: Path) -> str:
    """The newcomer's EOB Bundle and the Part D plan's PDE file, written under ``out``, as
    `rx-gateway export eob` and `export pde` write them; what they said, and a line saying
    what the Bundle holds."""
    from rx_gateway.cli import export_eob, export_pde  # noqa: PLC0415

    here = replace(settings, database_url=dsn)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    eob_path = out / f"eob-{NEWCOMER['member_id']}.json"
    pde_path = out / f"pde-{PART_D}.txt"
    said = io.StringIO()  # what each command prints, said after the table instead
    with contextlib.redirect_stdout(said):
        await export_eob.run(
            here,
            argparse.Namespace(
                member=NEWCOMER["member_id"], date_from=None, date_to=None, out=eob_path
            ),
        )
        await export_pde.run(
            here,
            argparse.Namespace(
                plan=PART_D, date_from="2026-01-01", date_to="2026-12-31", out=pde_path
            ),
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
    return said.getvalue() + (
        f"member {NEWCOMER['member_id']} (enrolled by two 834s): {len(eobs)} CARIN"
        f" ExplanationOfBenefit (coverage classes {', '.join(plans)}) in {eob_path}"
    )


# The demo's changed design: tier-1 generics at $5 instead of $10 on the commercial plan.
DEMO_DESIGN = {
    "name": "commercial tier 1 at $5",
    "plans": {COMMERCIAL: {"tiers": {"1": {"copay_cents": 500}}}},
}


async def simulate_design(settings: Settings, dsn: str, out: Path) -> str:
    """`rx-gateway simulate` of the demo's claims under DEMO_DESIGN: its headline lines (the
    reproduction rate first), the report under ``out``."""
    from rx_gateway.cli import simulate  # noqa: PLC0415

    design = out / "design.json"
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(design.write_text, json.dumps(DEMO_DESIGN), "utf-8")
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        await simulate.run(
            replace(settings, database_url=dsn),
            argparse.Namespace(design=design, date_from=None, date_to=None, sponsor=None, out=out),
        )
    return said.getvalue().rstrip()
