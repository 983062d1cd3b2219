"""A generator of realistic synthetic data, so demos, tests and benchmarks run anywhere.

Deterministic for a seed. It writes the directory layout `rx-gateway load` reads, plus
``fixtures.json``, which names well-known members, drugs and pharmacies (a generic, a
multi-source brand, an insulin, a specialty drug, an excluded drug, a family on the
high-deductible plan, a Part D member...) for the demo, the tests and the benchmark.

Shapes and prices follow shared/reference/plan-designs.md: generics cost $2-$40 a month,
brands $200-$1,500, specialty $2,000-$20,000; AWP is several times acquisition cost for
generics; WAC is about AWP / 1.2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rx_gateway.adapters.files.loader import TABLES

BIN_COMMERCIAL = "610999"
BIN_PART_D = "610888"

MOLECULE_STEMS = (
    "ator",
    "simva",
    "rosu",
    "prava",
    "lisino",
    "enala",
    "losar",
    "valsa",
    "amlo",
    "metop",
    "carve",
    "hydro",
    "furo",
    "spirono",
    "metfor",
    "glipi",
    "pioglit",
    "sitag",
    "empag",
    "dapag",
    "sertra",
    "fluox",
    "escital",
    "citalo",
    "bupro",
    "venla",
    "dulox",
    "trazo",
    "mirta",
    "parox",
    "levothy",
    "predni",
    "montel",
    "albut",
    "flutic",
    "budes",
    "omepr",
    "pantop",
    "esomep",
    "famot",
    "gabap",
    "pregab",
    "topir",
    "lamotr",
    "levetir",
    "zolp",
    "clonaz",
    "lorazep",
    "alpraz",
    "quetia",
    "olanz",
    "arip",
    "rispe",
    "lithi",
    "donep",
    "meman",
    "tamsul",
    "finast",
    "sildena",
    "tadala",
    "warfa",
    "apixa",
    "rivarox",
    "clopid",
    "cefal",
    "amoxi",
    "azithr",
    "doxy",
    "cipro",
    "nitrof",
)
MOLECULE_ENDINGS = ("statin", "pril", "sartan", "olol", "ide", "mine", "zole", "pam", "tine", "one")
DRUG_GROUPS = (
    "cardiovascular",
    "diabetes",
    "mental_health",
    "respiratory",
    "gastro",
    "neuro",
    "infection",
    "urology",
    "anticoagulant",
    "thyroid",
)
STATIN_GROUP = "statin"
FIRST_NAMES = (
    "Ava",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "June",
    "Kai",
    "Lena",
    "Milo",
    "Nora",
    "Omar",
    "Pia",
    "Quin",
    "Rosa",
    "Sami",
    "Tess",
)
LAST_NAMES = (
    "Abbot",
    "Brook",
    "Castro",
    "Dunn",
    "Ellis",
    "Frost",
    "Grant",
    "Hale",
    "Irwin",
    "Jonas",
    "Kerr",
    "Lowe",
    "Marsh",
    "Nash",
    "Orr",
    "Pratt",
    "Quill",
    "Reyes",
    "Stone",
)


@dataclass
class _Drug:
    ndc: str
    name: str
    molecule: str
    drug_group: str
    is_brand: bool
    generic_ndc: str | None
    is_specialty: bool
    awp: int
    wac: int | None
    nadac: int | None
    mac: int | None

    def row(self) -> list[Any]:
        return [
            self.ndc,
            self.name,
            self.molecule,
            self.drug_group,
            self.is_brand,
            self.generic_ndc or "",
            self.is_specialty,
            self.awp,
            self.wac or "",
            self.nadac or "",
            self.mac or "",
        ]


@dataclass
class _Builder:
    rng: random.Random
    ndcs: set[str] = field(default_factory=set)
    labelers: list[str] = field(default_factory=list)

    def ndc(self, labeler: str) -> str:
        while True:
            candidate = (
                labeler + f"{self.rng.randrange(10_000):04d}" + f"{self.rng.randrange(100):02d}"
            )
            if candidate not in self.ndcs:
                self.ndcs.add(candidate)
                return candidate

    def labeler(self) -> str:
        if len(self.labelers) < 60 or self.rng.random() < 0.1:
            self.labelers.append(f"{self.rng.randrange(10_000, 99_999):05d}")
        return self.rng.choice(self.labelers)


WELLNESS_RULE = {
    "kind": "WELLNESS",
    "allowed_tiers": [1],
    "allowed_networks": ["preferred"],
    "period": "month",
    "per_period_max_cents": 2_500,
    "fills_per_period_max": 2,
}
# Migraine-style limits on some neuro generics: 18 units and 30 days supplied per 30 days.
PERIOD_LIMIT = (30, 18_000, 30)


def _plans() -> list[dict[str, Any]]:
    copay_bands_generic = [[34, 10_000], [90, 20_000]]
    copay_bands_brand = [[34, 10_000], [90, 25_000]]
    commercial = {
        "plan_id": "COMM-HRA-2026",
        "name": "Commercial copay plan with employer HRA",
        "bin": BIN_COMMERCIAL,
        "pcn": "RXGCOMM",
        "line_of_business": "COMMERCIAL",
        "plan_year_start_month": 1,
        "deductible": {"individual_cents": 25_000, "family_cents": 50_000},
        "out_of_pocket": {"individual_cents": 400_000, "family_cents": 800_000},
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "daw_penalty_codes": [1, 2],
        "networks": {
            "preferred": {
                "awp_discount_bp": 1_800,
                "wac_markup_bp": 300,
                "nadac_markup_bp": 1_000,
                "use_mac": True,
                "dispensing_fee_cents": 100,
            },
            "standard": {
                "awp_discount_bp": 1_500,
                "wac_markup_bp": 500,
                "nadac_markup_bp": 1_500,
                "use_mac": True,
                "dispensing_fee_cents": 75,
            },
        },
        "tiers": {
            "1": {
                "kind": "copay",
                "copay_cents": 1_000,
                "deductible_applies": False,
                "standard_network_extra_cents": 500,
                "days_supply_bands": copay_bands_generic,
            },
            "2": {
                "kind": "copay",
                "copay_cents": 4_000,
                "deductible_applies": True,
                "standard_network_extra_cents": 1_500,
                "days_supply_bands": copay_bands_brand,
            },
            "3": {
                # non-preferred brand: the tier-2 copay plus $25 reported in 136-UN (135-UM
                # for a generic on this tier); $80 in all for 30 days
                "kind": "copay",
                "copay_cents": 5_500,
                "non_preferred_extra_cents": 2_500,
                "deductible_applies": True,
                "standard_network_extra_cents": 1_500,
                "days_supply_bands": copay_bands_brand,
            },
            "4": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_500,
                "coinsurance_min_cents": 10_000,
                "coinsurance_max_cents": 25_000,
                "deductible_applies": True,
                "days_supply_bands": [[34, 10_000]],
            },
        },
        # The benefit stack: a wellness purse pays first for generics at preferred pharmacies
        # (at most 2 fills and $25 a month), then the HRA. Part-time employees' HRA is capped
        # at $150 a quarter.
        "purse_order": [WELLNESS_RULE, {"kind": "HRA", "allowed_tiers": [1, 2, 3]}],
        "purse_order_by_class": {
            "PT": [
                WELLNESS_RULE,
                {
                    "kind": "HRA",
                    "allowed_tiers": [1, 2, 3],
                    "period": "quarter",
                    "per_period_max_cents": 15_000,
                },
            ]
        },
        "prior_authorization_contact": "the plan's PA line 1-800-555-0142 or by ePA",
        "specialty_pharmacy_required": True,
        "extended_supply_days_min": 84,
        "programs": [
            {
                "program_id": "STATIN0-PREFERRED",
                "drug_group": "statin",
                "member_cap_per_30_days_cents": 0,
                "preferred_pharmacies_only": True,
                "generics_only": True,
            },
            {
                "program_id": "INSULIN25",
                "drug_group": "insulin",
                "member_cap_per_30_days_cents": 2_500,
                "deductible_applies": False,
            },
        ],
    }
    coinsurance_bands = [[34, 10_000], [90, 10_000]]
    high_deductible = {
        "plan_id": "HDHP-2026",
        "name": "High-deductible plan (HSA-qualified)",
        "bin": BIN_COMMERCIAL,
        "pcn": "RXGHDHP",
        "line_of_business": "COMMERCIAL",
        "plan_year_start_month": 1,
        # IRS 2026: self-only coverage $1,700; family coverage an aggregate $3,400 (no member
        # of a family meets a deductible below the family minimum). Out of pocket at most
        # $8,500 / $17,000, with an embedded individual limit no higher than self-only.
        "hsa_qualified": True,
        "deductible": {"self_only_cents": 170_000, "family_cents": 340_000},
        "out_of_pocket": {
            "self_only_cents": 850_000,
            "individual_cents": 850_000,
            "family_cents": 1_700_000,
        },
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "daw_penalty_codes": [1, 2],
        "networks": {
            "preferred": {"awp_discount_bp": 1_700, "use_mac": True, "dispensing_fee_cents": 100},
            "standard": {"awp_discount_bp": 1_500, "use_mac": True, "dispensing_fee_cents": 75},
        },
        "generic_required_daw_codes": [0],
        "tiers": {
            "1": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_000,
                "days_supply_bands": coinsurance_bands,
            },
            "2": {
                "kind": "coinsurance",
                "coinsurance_bp": 2_000,
                "days_supply_bands": coinsurance_bands,
            },
            "3": {
                "kind": "coinsurance",
                "coinsurance_bp": 4_000,
                "days_supply_bands": coinsurance_bands,
            },
            "4": {
                "kind": "coinsurance",
                "coinsurance_bp": 3_000,
                "days_supply_bands": [[34, 10_000]],
            },
        },
    }
    part_d_tier = {
        "kind": "coinsurance",
        "coinsurance_bp": 2_500,
        "deductible_applies": True,
        "days_supply_bands": coinsurance_bands,
    }
    part_d = {
        "plan_id": "PARTD-STD-2026",
        "name": "Medicare Part D defined standard benefit 2026",
        "bin": BIN_PART_D,
        "pcn": "RXGPARTD",
        "line_of_business": "MEDICARE_PART_D",
        "plan_year_start_month": 1,
        "deductible": {"individual_cents": 61_500},
        "out_of_pocket": {"individual_cents": 210_000},
        "days_supply_max": 90,
        "refill_too_soon_threshold_bp": 8_000,
        "timely_filing_days": 365,
        "daw_penalty_codes": [],
        "networks": {
            "preferred": {"awp_discount_bp": 1_900, "use_mac": True, "dispensing_fee_cents": 50},
            "standard": {"awp_discount_bp": 1_700, "use_mac": True, "dispensing_fee_cents": 50},
        },
        "tiers": {str(t): dict(part_d_tier) for t in (1, 2, 3, 4)},
        "programs": [
            {
                "program_id": "PARTD-INSULIN35",
                "drug_group": "insulin",
                "member_cap_per_30_days_cents": 3_500,
                "deductible_applies": False,
            }
        ],
    }
    return [commercial, high_deductible, part_d]


def _drugs(builder: _Builder, count_min: int) -> list[_Drug]:
    rng = builder.rng
    drugs: list[_Drug] = []
    index = 0
    while len(drugs) < count_min - 150:
        stem = MOLECULE_STEMS[index % len(MOLECULE_STEMS)]
        ending = MOLECULE_ENDINGS[(index // len(MOLECULE_STEMS)) % len(MOLECULE_ENDINGS)]
        molecule = f"{stem}{ending}"
        strength = rng.choice((5, 10, 20, 25, 40, 50, 100, 250, 500))
        group = STATIN_GROUP if ending == "statin" else DRUG_GROUPS[index % len(DRUG_GROUPS)]
        index += 1
        brand_awp = rng.randrange(700_000, 5_000_000)  # $7-$50 a unit
        if rng.random() < 0.75:  # multi-source: one brand and 1-3 generics
            generics = []
            for _ in range(rng.randrange(1, 4)):
                nadac = rng.randrange(1_000, 130_000)  # $0.01-$1.30 a unit
                generic = _Drug(
                    builder.ndc(builder.labeler()),
                    f"{molecule} {strength} mg tablet",
                    molecule,
                    group,
                    False,
                    None,
                    False,
                    nadac * rng.randrange(5, 20),
                    None,
                    nadac,
                    nadac * rng.randrange(100, 115) // 100,
                )
                generics.append(generic)
            brand = _Drug(
                builder.ndc(builder.labeler()),
                f"{molecule.capitalize()}-BR {strength} mg tablet",
                molecule,
                group,
                True,
                generics[0].ndc,
                False,
                brand_awp,
                brand_awp * 10 // 12,
                None,
                None,
            )
            drugs += [brand, *generics]
        else:  # single-source brand
            drugs.append(
                _Drug(
                    builder.ndc(builder.labeler()),
                    f"{molecule.capitalize()}-SS {strength} mg tablet",
                    molecule,
                    group,
                    True,
                    None,
                    False,
                    brand_awp,
                    brand_awp * 10 // 12,
                    brand_awp * 10 // 13,
                    None,
                )
            )
    for number in range(100):  # specialty: $2,000-$20,000 a fill
        awp = rng.randrange(20_000_000, 200_000_000)
        molecule = f"spec{number:03d}mab"
        drugs.append(
            _Drug(
                builder.ndc(builder.labeler()),
                f"{molecule.capitalize()} injection",
                molecule,
                "specialty",
                True,
                None,
                True,
                awp,
                awp * 10 // 12,
                None,
                None,
            )
        )
    for number in range(50):  # insulins, $30-$50 per mL list
        awp = rng.randrange(3_000_000, 5_000_000)
        molecule = f"insulin-{('lispro', 'aspart', 'glargine', 'detemir', 'degludec')[number % 5]}"
        drugs.append(
            _Drug(
                builder.ndc(builder.labeler()),
                f"{molecule} 100 u/mL vial #{number}",
                molecule,
                "insulin",
                True,
                None,
                False,
                awp,
                awp * 10 // 12,
                None,
                None,
            )
        )
    return drugs


def _formulary(
    plans: list[dict[str, Any]], drugs: list[_Drug], rng: random.Random
) -> list[list[Any]]:
    rows = []
    # step therapy: some single-source brands require a generic of their group first (608);
    # chosen from the NDC, not the random stream, so the rest of the data does not shift
    first_generic: dict[str, str] = {}
    for drug in drugs:
        if not drug.is_brand:
            first_generic.setdefault(drug.drug_group, drug.molecule)
    for plan in plans:
        for drug in drugs:
            status, tier, pa = "covered", 1, False
            qty_limit: int | str = ""
            if drug.is_specialty:
                tier, pa = 4, True
            elif drug.drug_group == "insulin":
                tier = 2
            elif drug.is_brand:
                tier = 3 if drug.generic_ndc else rng.choice((2, 2, 3))
                roll = rng.random()
                if roll < 0.03:
                    status = "excluded"
                elif roll < 0.06:
                    status = "non_formulary"
                elif roll < 0.10:
                    pa = True
            if not drug.is_specialty and rng.random() < 0.1:
                qty_limit = 90_000  # 90 units per fill
            # patient edits: urology products for men only (61), neuro brands for adults (60)
            gender = 1 if drug.drug_group == "urology" else ""
            age_min = 18 if drug.drug_group == "neuro" and drug.is_brand else ""
            step = ""
            single_source = drug.is_brand and not drug.generic_ndc and not drug.is_specialty
            if single_source and int(drug.ndc) % 11 == 0:
                step = first_generic.get(drug.drug_group, "")
            # rolling-period limits (9G, AG), chosen from the NDC like step therapy
            limited = drug.drug_group == "neuro" and not drug.is_brand and int(drug.ndc) % 7 == 0
            period: tuple[Any, ...] = PERIOD_LIMIT if limited else ("", "", "")
            rows.append(
                [
                    plan["plan_id"],
                    drug.ndc,
                    status,
                    tier,
                    pa,
                    qty_limit,
                    "",
                    age_min,
                    "",
                    gender,
                    step,
                    *period,
                ]
            )
    return rows


def _pharmacies(rng: random.Random) -> list[list[Any]]:
    rows = []
    layout = (
        [("preferred", "retail")] * 120
        + [("standard", "retail")] * 60
        + [("preferred", "mail")] * 10
        + [("preferred", "specialty")] * 5
        + [("out_of_network", "retail")] * 5
    )
    for number, (network, kind) in enumerate(layout):
        npi = f"1{rng.randrange(10**8, 10**9):09d}"[:10]
        npi = f"{npi[:-4]}{number:04d}"  # unique
        rows.append([npi, f"Pharmacy {number:03d} ({kind})", network, kind])
    return rows


@dataclass(frozen=True)
class _Employer:
    employer_id: str
    plan_by_class: dict[str, str]
    share: float


EMPLOYERS = (
    # EMP1 is large: the benchmark's hot-employer case draws most of its claims from it.
    _Employer("EMP1", {"FT": "COMM-HRA-2026", "PT": "HDHP-2026", "RET": "PARTD-STD-2026"}, 0.6),
    _Employer(
        "EMP2", {"FT": "COMM-HRA-2026", "PT": "COMM-HRA-2026", "RET": "PARTD-STD-2026"}, 0.25
    ),
    _Employer("EMP3", {"FT": "HDHP-2026", "PT": "HDHP-2026", "RET": "PARTD-STD-2026"}, 0.15),
)
PLAN_LOB = {
    "COMM-HRA-2026": "COMMERCIAL",
    "HDHP-2026": "COMMERCIAL",
    "PARTD-STD-2026": "MEDICARE_PART_D",
}
COVERAGE_START = dt.date(2025, 1, 1)


def _members(
    rng: random.Random, count: int
) -> tuple[list[list[Any]], list[list[Any]], list[list[Any]], list[list[Any]]]:
    members: list[list[Any]] = []
    coverages: list[list[Any]] = []
    purses: list[list[Any]] = []
    funding: list[list[Any]] = []
    family_number = 0
    while len(members) < count:
        family_number += 1
        employer = rng.choices(EMPLOYERS, weights=[e.share for e in EMPLOYERS])[0]
        class_code = rng.choices(("FT", "PT", "RET"), weights=(0.7, 0.15, 0.15))[0]
        plan_id = employer.plan_by_class[class_code]
        family_id = f"F{family_number:06d}"
        cardholder = f"RXG{rng.randrange(10**8, 10**9):09d}"
        retiree = class_code == "RET"
        size = 1 if retiree else rng.choices((1, 2, 3, 4, 5), weights=(35, 25, 18, 15, 7))[0]
        size = min(size, count - len(members))
        last = rng.choice(LAST_NAMES)
        for person in range(1, size + 1):
            member_id = f"M{len(members) + 1:06d}"
            if person == 1:
                age = rng.randrange(65, 88) if retiree else rng.randrange(25, 64)
            elif person == 2:
                age = rng.randrange(25, 64)
            else:
                age = rng.randrange(0, 26)
            born = dt.date(2026 - age, rng.randrange(1, 13), rng.randrange(1, 29))
            members.append(
                [
                    member_id,
                    cardholder,
                    f"{person:03d}",
                    family_id,
                    employer.employer_id,
                    class_code,
                    rng.choice(FIRST_NAMES),
                    last,
                    born.isoformat(),
                    rng.choice((1, 2)),
                ]
            )
            group = f"{employer.employer_id}-{class_code}"
            end, reason = "", ""
            roll = rng.random()
            if roll < 0.02:
                end, reason = "2026-06-30", "terminated"
            coverages.append(
                [
                    member_id,
                    plan_id,
                    group,
                    COVERAGE_START.isoformat(),
                    end,
                    reason,
                    PLAN_LOB[plan_id],
                ]
            )
        if plan_id == "COMM-HRA-2026":
            purse_id = f"HRA-{family_id}"
            purses.append([purse_id, family_id, "HRA", employer.employer_id])
            funding.append(
                [
                    f"FUND-{purse_id}-2026",
                    purse_id,
                    50_000 if size == 1 else 100_000,
                    "2026 HRA allotment",
                    "",
                ]
            )
    _showcase(members, coverages, purses, funding)
    return members, coverages, purses, funding


# Two families beyond the random ones, built without the random stream (so the rest of the
# data does not shift): a full-time family with a wellness purse funded by quarterly
# allotments, and a part-time employee whose HRA has a quarterly cap.
SHOWCASE = {"wellness": "M900001", "part_time": "M900002"}


def _showcase(
    members: list[list[Any]],
    coverages: list[list[Any]],
    purses: list[list[Any]],
    funding: list[list[Any]],
) -> None:
    for member_id, class_code, family_id, born in (
        (SHOWCASE["wellness"], "FT", "F900001", "1979-04-12"),
        (SHOWCASE["part_time"], "PT", "F900002", "1991-09-03"),
    ):
        members.append(
            [
                *(member_id, f"RXG9{member_id[1:]}00", "001", family_id, "EMP2", class_code),
                *("Wren", "Showcase", born, 2),
            ]
        )
        coverages.append(
            [
                *(member_id, "COMM-HRA-2026", f"EMP2-{class_code}"),
                *(COVERAGE_START.isoformat(), "", "", "COMMERCIAL"),
            ]
        )
        hra = f"HRA-{family_id}"
        purses.append([hra, family_id, "HRA", "EMP2"])
        funding.append([f"FUND-{hra}-2026", hra, 50_000, "2026 HRA allotment", ""])
    wellness = "WELL-F900001"
    purses.append([wellness, "F900001", "WELLNESS", "EMP2"])
    # $30 each quarter; the 2027 Q1 allotment is still pending in November 2026
    for start in ("2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01", "2027-01-01"):
        quarter = f"{start[:4]}Q{(int(start[5:7]) - 1) // 3 + 1}"
        funding.append(
            [f"ALLOT-{wellness}-{quarter}", wellness, 3_000, f"wellness {quarter}", start]
        )


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["true" if v is True else "false" if v is False else v for v in row])


def _pick_fixtures(
    drugs: list[_Drug],
    formulary: list[list[Any]],
    pharmacies: list[list[Any]],
    members: list[list[Any]],
    coverages: list[list[Any]],
) -> dict[str, Any]:
    comm = "COMM-HRA-2026"
    entries = {(r[0], r[1]): r for r in formulary}

    def covered(drug: _Drug, plan: str = comm) -> bool:
        """Covered with no PA, quantity limit or step therapy."""
        row = entries[(plan, drug.ndc)]
        return (
            row[2] == "covered" and not row[4] and row[5] == "" and row[10] == "" and row[11] == ""
        )

    def covered_but_step(drug: _Drug) -> bool:
        row = entries[(comm, drug.ndc)]
        return (
            row[2] == "covered"
            and not row[4]
            and row[5] == ""
            and row[7] == ""
            and row[9] == ""
            and row[11] == ""
        )

    def plain(drug: _Drug, plan: str = comm) -> bool:
        """Covered for everyone: no age or gender edit either."""
        row = entries[(plan, drug.ndc)]
        return covered(drug, plan) and row[7] == "" and row[9] == ""

    by_ndc = {d.ndc: d for d in drugs}
    generic = next(
        d for d in drugs if not d.is_brand and plain(d) and all(plain(d, p) for p in PLAN_LOB)
    )
    # a generic outside the $0 statin program: the member pays the tier-1 copay
    generic_copay = next(
        d
        for d in drugs
        if not d.is_brand and d.drug_group != STATIN_GROUP and all(plain(d, p) for p in PLAN_LOB)
    )
    brand = next(
        d
        for d in drugs
        if d.is_brand
        and d.generic_ndc
        and all(plain(d, p) and plain(by_ndc[d.generic_ndc], p) for p in PLAN_LOB)
    )
    preferred_brand = next(
        d
        for d in drugs
        if d.is_brand
        and not d.generic_ndc
        and not d.is_specialty
        and d.drug_group != "insulin"
        and entries[(comm, d.ndc)][3] == 2
        and all(plain(d, p) for p in PLAN_LOB)
    )
    insulin = next(
        d for d in drugs if d.drug_group == "insulin" and all(plain(d, p) for p in PLAN_LOB)
    )
    specialty = next(d for d in drugs if d.is_specialty)
    excluded = next(d for d in drugs if entries[(comm, d.ndc)][2] == "excluded")
    non_formulary = next(d for d in drugs if entries[(comm, d.ndc)][2] == "non_formulary")
    pa_brand = next(
        d
        for d in drugs
        if d.is_brand
        and not d.is_specialty
        and entries[(comm, d.ndc)][4]
        and entries[(comm, d.ndc)][2] == "covered"
    )
    limited = next(
        d
        for d in drugs
        if entries[(comm, d.ndc)][5] != ""
        and entries[(comm, d.ndc)][2] == "covered"
        and not entries[(comm, d.ndc)][4]
    )
    coverage_by_member = {c[0]: c for c in coverages}
    men_only = next(d for d in drugs if entries[(comm, d.ndc)][9] == 1 and covered(d))
    step_drug = next(d for d in drugs if entries[(comm, d.ndc)][10] and covered_but_step(d))
    step_first = next(
        d
        for d in drugs
        if not d.is_brand and d.molecule == entries[(comm, step_drug.ndc)][10] and plain(d)
    )
    adults_only = next(d for d in drugs if entries[(comm, d.ndc)][7] == 18 and covered(d))
    period_limited = next(
        d
        for d in drugs
        if entries[(comm, d.ndc)][11] != ""
        and entries[(comm, d.ndc)][2] == "covered"
        and entries[(comm, d.ndc)][5] == ""
        and entries[(comm, d.ndc)][10] == ""
    )
    family_sizes: dict[str, int] = {}
    for m in members:
        family_sizes[m[3]] = family_sizes.get(m[3], 0) + 1

    def member_ref(m: list[Any]) -> dict[str, Any]:
        c = coverage_by_member[m[0]]
        return {
            "member_id": m[0],
            "cardholder_id": m[1],
            "person_code": m[2],
            "family_id": m[3],
            "group_id": c[2],
            "plan_id": c[1],
            "date_of_birth": str(m[8]).replace("-", ""),
            "gender_code": int(m[9]),
        }

    def find(
        plan: str,
        *,
        family: int | None = None,
        terminated: bool = False,
        skip: set[str] | None = None,
    ) -> list[Any]:
        for m in members:
            c = coverage_by_member[m[0]]
            if c[1] != plan or (c[5] == "terminated") != terminated or m[0] in (skip or set()):
                continue
            size = family_sizes[m[3]]
            if (family is None and size == 1) or (
                family is not None and size >= family and m[2] == "001"
            ):
                return m
        raise LookupError(plan)

    comm_single = find(comm)
    woman = next(
        m
        for m in members
        if coverage_by_member[m[0]][1] == comm and m[9] == 2 and not coverage_by_member[m[0]][5]
    )
    child = next(
        m
        for m in members
        if coverage_by_member[m[0]][1] == comm
        and m[8] > "2010-01-01"
        and not coverage_by_member[m[0]][5]
    )
    comm_family = find(comm, family=3)
    hdhp_family_head = find("HDHP-2026", family=3)
    hdhp_family = [member_ref(m) for m in members if m[3] == hdhp_family_head[3]]
    hdhp_single = find("HDHP-2026")
    part_d = find("PARTD-STD-2026")
    part_d_other = find("PARTD-STD-2026", skip={part_d[0]})
    terminated = next(m for m in members if coverage_by_member[m[0]][5] == "terminated")
    pharmacy = {
        kind: next(p[0] for p in pharmacies if (p[2], p[3]) == kind)
        for kind in (
            ("preferred", "retail"),
            ("standard", "retail"),
            ("preferred", "mail"),
            ("preferred", "specialty"),
            ("out_of_network", "retail"),
        )
    }

    def drug_ref(d: _Drug) -> dict[str, Any]:
        return {
            "ndc": d.ndc,
            "name": d.name,
            "molecule": d.molecule,
            "drug_group": d.drug_group,
            "awp_unit_price_millicents": d.awp,
        }

    return {
        "plans": {
            p: {
                "bin": BIN_PART_D if p.startswith("PARTD") else BIN_COMMERCIAL,
                "pcn": {
                    "COMM-HRA-2026": "RXGCOMM",
                    "HDHP-2026": "RXGHDHP",
                    "PARTD-STD-2026": "RXGPARTD",
                }[p],
            }
            for p in PLAN_LOB
        },
        "members": {
            "commercial_single": member_ref(comm_single),
            "commercial_family_head": member_ref(comm_family),
            "hdhp_family": hdhp_family,
            "hdhp_single": member_ref(hdhp_single),
            "part_d": member_ref(part_d),
            "part_d_other": member_ref(part_d_other),
            "terminated": member_ref(terminated),
            "commercial_woman": member_ref(woman),
            "commercial_child": member_ref(child),
            "commercial_wellness": member_ref(
                next(m for m in members if m[0] == SHOWCASE["wellness"])
            ),
            "commercial_part_time": member_ref(
                next(m for m in members if m[0] == SHOWCASE["part_time"])
            ),
        },
        "drugs": {
            "generic": drug_ref(generic),
            "generic_copay": drug_ref(generic_copay),
            "multi_source_brand": drug_ref(brand) | {"generic_ndc": brand.generic_ndc},
            "preferred_brand": drug_ref(preferred_brand),
            "insulin": drug_ref(insulin),
            "specialty": drug_ref(specialty),
            "excluded": drug_ref(excluded),
            "non_formulary": drug_ref(non_formulary),
            "prior_authorization": drug_ref(pa_brand),
            "quantity_limited": drug_ref(limited) | {"quantity_limit_thousandths": 90_000},
            "men_only": drug_ref(men_only),
            "adults_only": drug_ref(adults_only),
            "step_therapy": drug_ref(step_drug),
            "step_therapy_first": drug_ref(step_first),
            "period_limited": drug_ref(period_limited)
            | {"period_days": 30, "period_quantity_limit_thousandths": 18_000},
        },
        "pharmacies": {
            "preferred": pharmacy[("preferred", "retail")],
            "standard": pharmacy[("standard", "retail")],
            "mail": pharmacy[("preferred", "mail")],
            "specialty": pharmacy[("preferred", "specialty")],
            "out_of_network": pharmacy[("out_of_network", "retail")],
        },
    }


def generate(
    directory: Path, *, seed: int = 2026, members: int = 10_000, drugs: int = 2_000
) -> dict[str, Any]:
    """Write a full dataset into ``directory`` and return its fixtures."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "plans").mkdir(exist_ok=True)
    plans = _plans()
    for plan in plans:
        (directory / "plans" / f"{plan['plan_id']}.json").write_text(
            json.dumps(plan, indent=2) + "\n"
        )
    builder = _Builder(rng)
    drug_list = _drugs(builder, drugs)
    formulary = _formulary(plans, drug_list, rng)
    pharmacies = _pharmacies(rng)
    member_rows, coverages, purses, funding = _members(rng, members)
    _write_csv(
        directory / "drugs.csv",
        list(TABLES["drugs.csv"]),
        [d.row() for d in drug_list],
    )
    _write_csv(
        directory / "formulary.csv",
        list(TABLES["formulary.csv"]),
        formulary,
    )
    _write_csv(directory / "pharmacies.csv", list(TABLES["pharmacies.csv"]), pharmacies)
    _write_csv(
        directory / "members.csv",
        list(TABLES["members.csv"]),
        member_rows,
    )
    family_size: dict[str, int] = {}
    for m in member_rows:
        family_size[m[3]] = family_size.get(m[3], 0) + 1
    family_of = {m[0]: m[3] for m in member_rows}
    _write_csv(
        directory / "coverages.csv",
        list(TABLES["coverages.csv"]),
        [
            # 834 HD05 coverage level: a one-person family has self-only coverage
            [*c, "self_only" if family_size[family_of[c[0]]] == 1 else "family"]
            for c in coverages
        ],
    )
    _write_csv(directory / "purses.csv", list(TABLES["purses.csv"]), purses)
    _write_csv(
        directory / "funding.csv",
        list(TABLES["funding.csv"]),
        funding,
    )
    fixtures = _pick_fixtures(drug_list, formulary, pharmacies, member_rows, coverages)
    pa_member = fixtures["members"]["commercial_family_head"]
    _write_csv(
        directory / "prior_authorizations.csv",
        list(TABLES["prior_authorizations.csv"]),
        [
            [
                "PA-0001",
                pa_member["member_id"],
                fixtures["drugs"]["specialty"]["ndc"],
                "",
                "2026-01-01",
                "2026-12-31",
                "",
            ],
            # Part D member: a drug-group authorization, for the demo's OOP crossing
            [
                "PA-0002",
                fixtures["members"]["part_d"]["member_id"],
                "",
                "specialty",
                "2026-01-01",
                "2026-12-31",
                "",
            ],
        ],
    )
    (directory / "fixtures.json").write_text(json.dumps(fixtures, indent=2) + "\n")
    return fixtures


def active_members(directory: Path) -> list[dict[str, str]]:
    """Members of a dataset whose coverage was not terminated, as claim builders take them."""
    with (directory / "coverages.csv").open(newline="") as handle:
        coverage = {r["member_id"]: r for r in csv.DictReader(handle)}
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
            if not coverage[m["member_id"]]["end_reason"]
        ]
