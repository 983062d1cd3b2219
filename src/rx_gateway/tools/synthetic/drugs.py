"""The drug list: multi-source molecules (a brand and 1-3 generics), single-source brands,
specialty injectables and insulins, each with its list prices per unit (millicents)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rx_gateway.tools.synthetic.catalogue import (
    DRUG_GROUPS,
    INSULIN_GROUP,
    INSULIN_KINDS,
    MOLECULE_ENDINGS,
    MOLECULE_STEMS,
    SPECIALTY_GROUP,
    STATIN_GROUP,
)
from rx_gateway.tools.synthetic.rows import DrugRow

SPECIALTY_COUNT = 100
INSULIN_COUNT = 50
LABELERS_MIN = 60  # labelers drawn before any is reused


@dataclass
class NdcSource:
    """Unique 11-digit NDCs: a 5-digit labeler, a 4-digit product, a 2-digit package."""

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
        if len(self.labelers) < LABELERS_MIN or self.rng.random() < 0.1:
            self.labelers.append(f"{self.rng.randrange(10_000, 99_999):05d}")
        return self.rng.choice(self.labelers)

    def next(self) -> str:
        """A new NDC of a labeler, a new one or one seen before."""
        return self.ndc(self.labeler())


DUPLICATION_GROUP = "mental_health"
DUPLICATION_CLASS = "antidepressant"


def _class_of(group: str) -> str | None:
    """The mental-health molecules share a therapeutic class (two at once is a therapeutic
    duplication, DUR TD); the other groups carry none, so TD looks at them only."""
    return DUPLICATION_CLASS if group == DUPLICATION_GROUP else None


def _brand(
    ndc: str,
    name: str,
    molecule: str,
    group: str,
    awp: int,
    *,
    generic_ndc: str | None = None,
    is_specialty: bool = False,
    nadac: int | None = None,
) -> DrugRow:
    """A brand: WAC is AWP / 1.2, no MAC price."""
    return DrugRow(
        ndc=ndc,
        name=name,
        molecule=molecule,
        drug_group=group,
        is_brand=True,
        generic_ndc=generic_ndc,
        is_specialty=is_specialty,
        awp_unit_price_millicents=awp,
        wac_unit_price_millicents=awp * 10 // 12,
        nadac_unit_price_millicents=nadac,
        mac_unit_price_millicents=None,
        therapeutic_class=_class_of(group),
    )


def drug_list(source: NdcSource, count_min: int) -> list[DrugRow]:
    """At least ``count_min`` drugs: the molecules, then the specialty drugs and insulins."""
    rng = source.rng
    rows: list[DrugRow] = []
    index = 0
    while len(rows) < count_min - SPECIALTY_COUNT - INSULIN_COUNT:
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
                ndc = source.next()
                awp = nadac * rng.randrange(5, 20)
                generics.append(
                    DrugRow(
                        ndc=ndc,
                        name=f"{molecule} {strength} mg tablet",
                        molecule=molecule,
                        drug_group=group,
                        is_brand=False,
                        generic_ndc=None,
                        is_specialty=False,
                        awp_unit_price_millicents=awp,
                        wac_unit_price_millicents=None,
                        nadac_unit_price_millicents=nadac,
                        mac_unit_price_millicents=nadac * rng.randrange(100, 115) // 100,
                        therapeutic_class=_class_of(group),
                    )
                )
            brand = _brand(
                source.next(),
                f"{molecule.capitalize()}-BR {strength} mg tablet",
                molecule,
                group,
                brand_awp,
                generic_ndc=generics[0].ndc,
            )
            rows += [brand, *generics]
        else:  # single-source brand
            rows.append(
                _brand(
                    source.next(),
                    f"{molecule.capitalize()}-SS {strength} mg tablet",
                    molecule,
                    group,
                    brand_awp,
                    nadac=brand_awp * 10 // 13,
                )
            )
    for number in range(SPECIALTY_COUNT):  # specialty: $2,000-$20,000 a fill
        awp = rng.randrange(20_000_000, 200_000_000)
        molecule = f"spec{number:03d}mab"
        rows.append(
            _brand(
                source.next(),
                f"{molecule.capitalize()} injection",
                molecule,
                SPECIALTY_GROUP,
                awp,
                is_specialty=True,
            )
        )
    for number in range(INSULIN_COUNT):  # insulins, $30-$50 per mL list
        awp = rng.randrange(3_000_000, 5_000_000)
        molecule = f"insulin-{INSULIN_KINDS[number % len(INSULIN_KINDS)]}"
        rows.append(
            _brand(
                source.next(), f"{molecule} 100 u/mL vial #{number}", molecule, INSULIN_GROUP, awp
            )
        )
    return rows


COMPOUNDING_GROUP = "compounding"


def compounding_ingredients() -> list[DrugRow]:
    """Bulk ingredients a pharmacy compounds with, priced per gram (fixed rows, drawn from no
    random stream): four covered actives and a cream base the plans exclude."""

    def bulk(ndc: str, name: str, molecule: str, cents_per_gram: int) -> DrugRow:
        return DrugRow(
            ndc, name, molecule, COMPOUNDING_GROUP, False, None, False, cents_per_gram * 1_000,
            None, None, None,
        )  # fmt: skip

    return [
        bulk("51927100101", "ketoprofen powder (bulk)", "ketoprofen", 30),
        bulk("51927100202", "lidocaine hydrochloride powder (bulk)", "lidocaine", 80),
        bulk("51927100303", "cyclobenzaprine hydrochloride powder (bulk)", "cyclobenzaprine", 120),
        bulk("51927100404", "gabapentin powder (bulk)", "gabapentin", 60),
        bulk("38779014503", "transdermal cream base", "cream base", 20),
    ]


EXCLUDED_BASE = "38779014503"  # the base every synthetic plan excludes
