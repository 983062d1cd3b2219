"""A whole dataset: ``generate`` writes the directory `rx-gateway load` reads (plans/*.json,
the CSV tables, fixtures.json); ``active_members`` reads its members back for claim
builders."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from rx_gateway.tools.synthetic.csv_writer import write_table
from rx_gateway.tools.synthetic.drugs import (
    EXCLUDED_BASE,
    NdcSource,
    compounding_ingredients,
    drug_list,
)
from rx_gateway.tools.synthetic.fixtures import fixtures
from rx_gateway.tools.synthetic.formulary import formulary_entries
from rx_gateway.tools.synthetic.pharmacies import payee_list, pharmacy_list
from rx_gateway.tools.synthetic.plans import COMMERCIAL, MEDICAID, plan_documents
from rx_gateway.tools.synthetic.population import population
from rx_gateway.tools.synthetic.rows import (
    CoverageRow,
    DrugRow,
    FormularyRow,
    FundingRow,
    InteractionRow,
    MemberRow,
    OtherCoverageRow,
    PayeeRow,
    PharmacyRow,
    PriorAuthorizationRow,
    PurseRow,
    SponsorRow,
)
from rx_gateway.tools.synthetic.settlement import PROCESSOR, sponsor_list

PLAN_YEAR = ("2026-01-01", "2026-12-31")


def generate(
    directory: Path, *, seed: int = 2026, members: int = 10_000, drugs: int = 2_000
) -> dict[str, Any]:
    """Write a full dataset into ``directory`` and return its fixtures. The same arguments
    write the same bytes."""
    rng = random.Random(seed)  # one stream, drawn in this order: drugs, formulary, ...
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plans").mkdir(exist_ok=True)
    plans = plan_documents()
    for plan in plans:
        (directory / "plans" / f"{plan['plan_id']}.json").write_text(
            json.dumps(plan, indent=2) + "\n"
        )
    drug_rows = drug_list(NdcSource(rng), drugs)
    # Medicaid covers what the commercial plan covers, on the same tiers (its own random draws
    # would shift the rest of the data)
    entries = formulary_entries(
        [plan["plan_id"] for plan in plans if plan["plan_id"] != MEDICAID], drug_rows, rng
    )
    entries += [r._replace(plan_id=MEDICAID) for r in entries if r.plan_id == COMMERCIAL]
    # compounding ingredients (fixed rows: the random stream is not drawn for them)
    bulk = compounding_ingredients()
    drug_rows += bulk
    entries += [
        FormularyRow(
            plan["plan_id"], d.ndc, "excluded" if d.ndc == EXCLUDED_BASE else "covered", 1,
            False, None, None, None, None, None, None, None, None, None,
        )
        for plan in plans
        for d in bulk
    ]  # fmt: skip
    stores = pharmacy_list(rng)
    people = population(rng, members)
    write_table(directory, DrugRow, drug_rows)
    write_table(directory, FormularyRow, entries)
    write_table(directory, PayeeRow, payee_list())
    write_table(directory, PharmacyRow, stores)
    write_table(directory, SponsorRow, sponsor_list())
    (directory / "processor.json").write_text(json.dumps(PROCESSOR, indent=2) + "\n")
    write_table(directory, MemberRow, people.members)
    write_table(directory, CoverageRow, people.coverages)
    write_table(directory, OtherCoverageRow, people.other_coverages)
    write_table(directory, PurseRow, people.purses)
    write_table(directory, FundingRow, people.funding)
    named = fixtures(drug_rows, entries, stores, people)
    drugs_named = named["drugs"]
    write_table(
        directory,
        InteractionRow,
        [
            InteractionRow(
                drugs_named["interacting_a"]["molecule"],
                drugs_named["interacting_b"]["molecule"],
                "1",
                "Major: raises serum levels",
            )
        ],
    )
    start, end = PLAN_YEAR
    write_table(
        directory,
        PriorAuthorizationRow,
        [
            PriorAuthorizationRow(
                pa_number="PA-0001",
                member_id=named["members"]["commercial_family_head"]["member_id"],
                ndc=named["drugs"]["specialty"]["ndc"],
                drug_group=None,
                start_date=start,
                end_date=end,
            ),
            # Part D member: a drug-group authorization, for the demo's OOP crossing
            PriorAuthorizationRow(
                pa_number="PA-0002",
                member_id=named["members"]["part_d"]["member_id"],
                ndc=None,
                drug_group="specialty",
                start_date=start,
                end_date=end,
            ),
        ],
    )
    (directory / "fixtures.json").write_text(json.dumps(named, indent=2) + "\n")
    return named


def active_members(directory: Path) -> list[dict[str, str]]:
    """Members of a dataset whose coverage was not terminated, as claim builders take them."""
    with (directory / "coverages.csv").open(newline="") as handle:
        # the primary coverage: members whose every coverage is secondary are left out
        coverage = {
            r["member_id"]: r
            for r in csv.DictReader(handle)
            if r.get("payer_order", "") in ("", "1")
        }
    with (directory / "members.csv").open(newline="") as handle:
        return [
            {
                "member_id": m["member_id"],
                "cardholder_id": m["cardholder_id"],
                "person_code": m["person_code"],
                "group_id": coverage[m["member_id"]]["group_id"],
                "plan_id": coverage[m["member_id"]]["plan_id"],
                "date_of_birth": m["date_of_birth"].replace("-", ""),
                "gender_code": m["gender_code"],
            }
            for m in csv.DictReader(handle)
            if m["member_id"] in coverage and not coverage[m["member_id"]]["end_reason"]
        ]
