"""A year of claims with realistic utilization (issue 18), for the members of a synthetic
dataset: what a plan's claims look like, so that the demo, the tests, `rx-gateway simulate`
and `rx-gateway utilization` have something to analyse.

The shapes are commercial and Medicare rules of thumb [M], not a fitted model:
- maintenance therapy grows with age: a member takes 0-1 chronic drugs under 30, up to 2 at
  30-49, 1-3 at 50-64 and 2-5 at 65 and over, each refilled every 30 days at a retail pharmacy,
  or every 90 days by mail (about one member in six fills by mail);
- most chronic drugs are generics; about one chronic drug in eight is a brand (a brand with a
  generic filled as written, DAW 1, about half the time), so the generic dispensing rate lands
  near 85-90%;
- acute fills: 0-4 a year, generics, 10 days;
- about one member in a hundred takes a specialty drug, monthly, at the specialty pharmacy;
- pharmacies: most fills at preferred retail, a fifth at standard retail.
The same seed gives the same claims. Rx numbers come from ``rx_start`` up, one per fill.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb

CHRONIC_GROUPS = ("statin", "cardiovascular", "diabetes", "thyroid")
MAIL_SHARE = 1 / 6
BRAND_SHARE = 1 / 8
DAW_SHARE = 1 / 2
SPECIALTY_SHARE = 1 / 100
STANDARD_PHARMACY_SHARE = 1 / 5


@dataclass(frozen=True, slots=True)
class Fill:
    """One claim of the year: who, what, where, when, and how much."""

    member: dict[str, Any]
    drug: dict[str, Any]
    pharmacy: str
    date_of_service: dt.date
    days_supply: int
    dispense_as_written: int = 0


def _drugs(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """The dataset's drugs by role: generics and brands (with a generic) per chronic group,
    acute generics, specialty drugs; as the claim builders take them."""
    roles: dict[str, list[dict[str, Any]]] = {}
    with (directory / "drugs.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            drug = {
                "ndc": row["ndc"],
                "name": row["name"],
                "molecule": row["molecule"],
                "drug_group": row["drug_group"],
                "awp_unit_price_millicents": int(row["awp_unit_price_millicents"]),
            }
            brand = row["is_brand"] == "true"
            if row["is_specialty"] == "true":
                roles.setdefault("specialty", []).append(drug)
            elif row["drug_group"] in CHRONIC_GROUPS:
                kind = "brand" if brand and row["generic_ndc"] else "generic" if not brand else ""
                if kind:
                    roles.setdefault(f"{row['drug_group']}:{kind}", []).append(drug)
            elif not brand:
                roles.setdefault("acute", []).append(drug)
    return roles


def _age(member: dict[str, Any], on: dt.date) -> int:
    born = dt.date.fromisoformat(
        f"{member['date_of_birth'][:4]}-{member['date_of_birth'][4:6]}-{member['date_of_birth'][6:]}"
    )
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _chronic_count(rng: random.Random, age: int) -> int:
    if age < 30:
        return rng.choice((0, 0, 0, 1))
    if age < 50:
        return rng.choice((0, 1, 1, 2))
    if age < 65:
        return rng.choice((1, 1, 2, 3))
    return rng.choice((2, 3, 4, 5))


def year_fills(
    directory: Path,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    *,
    seed: int = 2026,
    start: dt.date = dt.date(2026, 1, 2),
    end: dt.date = dt.date(2026, 11, 20),
) -> list[Fill]:
    """Every fill of the members from ``start`` to ``end``, in date order."""
    rng = random.Random(seed)
    drugs = _drugs(directory)
    pharmacies = fixtures["pharmacies"]
    fills: list[Fill] = []
    for member in members:
        age = _age(member, start)
        mail = rng.random() < MAIL_SHARE
        for _ in range(_chronic_count(rng, age)):
            group = rng.choice(CHRONIC_GROUPS)
            brand = rng.random() < BRAND_SHARE and f"{group}:brand" in drugs
            pool = drugs.get(f"{group}:{'brand' if brand else 'generic'}", [])
            if not pool:
                continue
            drug = rng.choice(pool)
            daw = 1 if brand and rng.random() < DAW_SHARE else 0
            every = 90 if mail else 30
            day = start + dt.timedelta(days=rng.randrange(every))
            while day <= end:
                where = pharmacies["mail"] if mail else _retail(rng, pharmacies)
                fills.append(Fill(member, drug, where, day, every, daw))
                day += dt.timedelta(days=every + rng.choice((0, 1, 2, 3)))
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 4))):
            day = start + dt.timedelta(days=rng.randrange((end - start).days + 1))
            drug = rng.choice(drugs["acute"])
            fills.append(Fill(member, drug, _retail(rng, pharmacies), day, 10))
        if rng.random() < SPECIALTY_SHARE and drugs.get("specialty"):
            drug = rng.choice(drugs["specialty"])
            day = start + dt.timedelta(days=rng.randrange(30))
            while day <= end:
                fills.append(Fill(member, drug, pharmacies["specialty"], day, 30))
                day += dt.timedelta(days=30)
    return sorted(fills, key=lambda f: (f.date_of_service, f.member["member_id"]))


def _retail(rng: random.Random, pharmacies: dict[str, str]) -> str:
    return pharmacies["standard" if rng.random() < STANDARD_PHARMACY_SHARE else "preferred"]


def year_of_claims(
    directory: Path,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    *,
    seed: int = 2026,
    rx_start: int = 70_000_000,
    start: dt.date = dt.date(2026, 1, 2),
    end: dt.date = dt.date(2026, 11, 20),
) -> Iterator[pb.ClaimRequest]:
    """The year's fills as B1 requests (quantity one unit a day), in date order."""
    fills = year_fills(directory, fixtures, members, seed=seed, start=start, end=end)
    for n, fill in enumerate(fills):
        yield claim_request(
            fixtures,
            fill.member,
            fill.drug,
            pharmacy=fill.pharmacy,
            rx_number=rx_start + n,
            date_of_service=fill.date_of_service.strftime("%Y%m%d"),
            quantity_thousandths=fill.days_supply * 1_000,
            days_supply=fill.days_supply,
            dispense_as_written=fill.dispense_as_written,
        )
