"""How fast `rx-gateway simulate` replays claims (issue 18): the pure replay of
domain/simulation.py on synthetic claims, no database (the command reads its history in a
handful of statements, then replays in memory: this is the part that grows with the claims).

    python benchmarks/simulate_bench.py                   # 100,000 claims
    python benchmarks/simulate_bench.py --claims 20000    # quicker

1. A synthetic dataset (the generator's plans, drugs, formulary, pharmacies and members) is
   written to a temporary directory and read back as a reference snapshot and households
   (members and coverages; no purses, accumulators start at zero).
2. ``--claims`` claims are made for the active members, a fill every 1-3 weeks through 2026 of
   a few named drugs (generics, brands, insulin, a non-formulary drug: paid and rejected), at
   preferred, standard and mail pharmacies, and decided once in order as the "stored" history.
3. Timed: the replay under the unchanged design (the reproduction rate, which must be 100%),
   and the replay under a design (tier 1 copay $5, the preferred brand excluded), then the
   comparison. Replays per second are printed.

On a shared 2-core machine absolute times are noise: run it more than once.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rx_gateway.adapters.files.loader import read_dataset
from rx_gateway.adapters.plan_design import apply_design
from rx_gateway.domain.claim import ClaimRequest, Header
from rx_gateway.domain.member import Coverage, CoverageEndReason, Member
from rx_gateway.domain.reference import (
    CoverageLevel,
    Drug,
    FormularyEntry,
    FormularyStatus,
    Pharmacy,
    PharmacyNetwork,
    ReferenceSnapshot,
)
from rx_gateway.domain.simulation import (
    Household,
    MemberBase,
    StoredEvent,
    compare,
    period_filter,
    replay,
)
from rx_gateway.tools.synthetic.dataset import active_members, generate
from rx_gateway.tools.synthetic.plans import COMMERCIAL

BUSINESS_DATE = dt.date(2026, 12, 31)
DRUGS = (
    "generic",
    "generic_copay",
    "preferred_brand",
    "multi_source_brand",
    "insulin",
    "non_formulary",
)
PHARMACIES = ("preferred", "preferred", "standard", "mail")


def _columns(name: str) -> list[str]:
    from rx_gateway.adapters.files.tables import TABLES  # noqa: PLC0415

    return list(TABLES[name])


def _snapshot(directory: Path) -> tuple[ReferenceSnapshot, dict[str, Any], Any]:
    dataset = read_dataset(directory)
    rows = {
        name: [dict(zip(_columns(name), r, strict=True)) for r in dataset.rows(name)]
        for name in ("drugs.csv", "formulary.csv", "pharmacies.csv")
    }
    drugs = [
        Drug(**(r | {"therapeutic_class": r["therapeutic_class"] or ""})) for r in rows["drugs.csv"]
    ]
    formulary = [
        FormularyEntry(**(r | {"status": FormularyStatus(r["status"])}))
        for r in rows["formulary.csv"]
    ]
    pharmacies = [
        Pharmacy(r["npi"], r["name"], PharmacyNetwork(r["network"]), r["kind"])
        for r in rows["pharmacies.csv"]
    ]
    plans = [plan for plan, _ in dataset.plans]
    documents = {plan.plan_id: document for plan, document in dataset.plans}
    snapshot = ReferenceSnapshot.build("bench", plans, drugs, formulary, pharmacies)
    return snapshot, documents, dataset


def _households(dataset: Any) -> dict[str, Household]:
    coverages: dict[str, list[Coverage]] = {}
    for r in dataset.rows("coverages.csv"):
        c = dict(zip(_columns("coverages.csv"), r, strict=True))
        coverages.setdefault(c["member_id"], []).append(
            Coverage(
                c["plan_id"],
                c["group_id"],
                c["start_date"],
                c["end_date"],
                CoverageEndReason(c["end_reason"]) if c["end_reason"] else None,
                c["line_of_business"],
                CoverageLevel(c["coverage_level"] or "family"),
                payer_order=c["payer_order"] or 1,
            )
        )
    members: dict[str, dict[str, MemberBase]] = {}
    for r in dataset.rows("members.csv"):
        m = dict(zip(_columns("members.csv"), r, strict=True))
        member = Member(
            m["member_id"],
            m["cardholder_id"],
            m["person_code"],
            m["family_id"],
            m["employer_id"],
            m["class_code"],
            m["date_of_birth"],
            m["gender_code"],
        )
        members.setdefault(member.family_id, {})[member.member_id] = MemberBase(
            member, tuple(sorted(coverages.get(member.member_id, ()), key=lambda c: c.start))
        )
    return {family: Household(family, people) for family, people in members.items()}


def _claims(
    fixtures: dict[str, Any], members: list[dict[str, str]], count: int, snapshot: ReferenceSnapshot
) -> list[tuple[str, str, ClaimRequest]]:
    """(family, member, request) in date order, ``count`` of them."""
    rng = random.Random(18)
    family_of = {m["member_id"]: m for m in members}
    per_member = max(1, count // len(members) + 1)
    dated: list[tuple[dt.date, int, str, ClaimRequest]] = []
    rx = 0
    for member in members:
        day = dt.date(2026, 1, 2) + dt.timedelta(days=rng.randrange(14))
        for _ in range(per_member):
            drug = fixtures["drugs"][rng.choice(DRUGS)]
            pharmacy = fixtures["pharmacies"][rng.choice(PHARMACIES)]
            plan = snapshot.plans[member["plan_id"]]
            quantity = rng.choice((30_000, 30_000, 90_000))
            ingredient = quantity * drug["awp_unit_price_millicents"] // 1_000_000
            rx += 1
            request = ClaimRequest(
                header=Header(plan.bin, plan.pcn, pharmacy, day.strftime("%Y%m%d")),
                cardholder_id=member["cardholder_id"],
                group_id=member["group_id"],
                person_code=member["person_code"],
                patient_relationship_code=1,
                date_of_birth="",
                gender_code=0,
                prescription_reference_number=f"{rx:012d}",
                fill_number=0,
                product_id_qualifier="03",
                product_id=drug["ndc"],
                quantity_dispensed_thousandths=quantity,
                days_supply=quantity // 1_000,
                dispense_as_written=0,
                date_prescription_written="",
                number_of_refills_authorized=0,
                prior_authorization_number="",
                prescriber_id="1234567893",
                ingredient_cost_submitted_cents=ingredient,
                dispensing_fee_submitted_cents=150,
                usual_and_customary_charge_cents=(ingredient + 150) * 12 // 10,
                gross_amount_due_cents=ingredient + 150,
            )
            dated.append((day, rx, member["member_id"], request))
            day += dt.timedelta(days=rng.randrange(7, 22))
            if day.year > 2026:
                break
    dated.sort(key=lambda d: (d[0], d[1]))
    return [
        (family_of[member_id]["family_id"], member_id, request)
        for _, _, member_id, request in dated[:count]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=6_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"generating {args.members} members' dataset ...", file=sys.stderr)
        fixtures = generate(directory, members=args.members)
        snapshot, documents, dataset = _snapshot(directory)
        households = _households(dataset)
        members = [
            m | {"family_id": next(f for f, h in households.items() if m["member_id"] in h.members)}
            for m in active_members(directory)
        ]
    claims = _claims(fixtures, members, args.claims, snapshot)
    # the "stored" history: decided once, in order, under the real design
    draft = [
        StoredEvent(
            k,
            family,
            member,
            f"ICN{k:09d}",
            request=request,
            business_date=BUSINESS_DATE,
            authorization_number=f"{k:012d}",
        )
        for k, (family, member, request) in enumerate(claims)
    ]
    print(f"deciding {len(draft)} claims once (the stored history) ...", file=sys.stderr)
    history = [
        dataclasses.replace(
            r.event,
            real=r.response if r.paid else None,
            real_rejects=tuple(x.code.value for x in r.response.rejects),
        )
        for r in replay(draft, households, snapshot, snapshot, lambda _e: False)
    ]
    design = apply_design(
        {
            "name": "bench",
            "plans": {COMMERCIAL: {"tiers": {"1": {"copay_cents": 500}}}},
            "formulary": [
                {
                    "plan_id": COMMERCIAL,
                    "ndc": fixtures["drugs"]["preferred_brand"]["ndc"],
                    "status": "excluded",
                }
            ],
        },
        "bench design",
        documents,
        snapshot,
    )
    started = time.perf_counter()
    reproduction = replay(history, households, snapshot, snapshot, lambda _e: False)
    reproduced_s = time.perf_counter() - started
    replayed = replay(history, households, snapshot, design, period_filter(None, None))
    replayed_s = time.perf_counter() - started - reproduced_s
    report = compare(replayed, households, snapshot, design, reproduction)
    total_s = time.perf_counter() - started
    paid = sum(1 for e in history if e.real is not None)
    print(f"claims: {len(history)} ({paid} paid, {len(history) - paid} rejected)")
    print(f"reproduction rate: {report.reproduction_rate:.2%}")
    print(f"replay, unchanged design: {reproduced_s:.2f} s ({len(history) / reproduced_s:,.0f}/s)")
    print(f"replay, design: {replayed_s:.2f} s ({len(history) / replayed_s:,.0f}/s)")
    print(f"both replays and the comparison: {total_s:.2f} s; flips: {len(report.flips)}")
    return 0 if report.reproduction_rate == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
