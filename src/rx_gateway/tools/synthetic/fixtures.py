"""The fixtures: well-known members, drugs and pharmacies of a dataset, by role (a generic, a
multi-source brand, a drug that needs prior authorization, a family on the HDHP, a Part D
member...), as fixtures.json names them for the demo, the tests and the benchmark.

Each is the first row, in file order, that fits its role; the quantity and period limits it
states are the formulary's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from rx_gateway.tools.synthetic.catalogue import INSULIN_GROUP, STATIN_GROUP
from rx_gateway.tools.synthetic.drugs import COMPOUNDING_GROUP, DUPLICATION_GROUP, EXCLUDED_BASE
from rx_gateway.tools.synthetic.formulary import (
    ADULT_AGE,
    PERIOD_DAYS,
    PERIOD_QUANTITY_LIMIT_THOUSANDTHS,
    QUANTITY_LIMIT_THOUSANDTHS,
)
from rx_gateway.tools.synthetic.plans import (
    COMMERCIAL,
    HDHP,
    MEDICAID,
    MEDICAID_GROUP,
    PART_D,
    PLAN_LOB,
    PLAN_ROUTING,
)
from rx_gateway.tools.synthetic.population import OTHER_PAYER, SHOWCASE, Population
from rx_gateway.tools.synthetic.rows import (
    CoverageRow,
    DrugRow,
    FormularyRow,
    MemberRow,
    PharmacyRow,
)

PHARMACY_ROLES = {
    "preferred": ("preferred", "retail"),
    "standard": ("standard", "retail"),
    "mail": ("preferred", "mail"),
    "specialty": ("preferred", "specialty"),
    "out_of_network": ("out_of_network", "retail"),
}


def fixtures(
    drugs: list[DrugRow],
    formulary: list[FormularyRow],
    pharmacies: list[PharmacyRow],
    people: Population,
) -> dict[str, Any]:
    return {
        "plans": {
            plan_id: {"bin": PLAN_ROUTING[plan_id][0], "pcn": PLAN_ROUTING[plan_id][1]}
            for plan_id in PLAN_LOB
        },
        "members": _members(people),
        "drugs": _drugs(drugs, formulary),
        "pharmacies": {
            role: next(p.npi for p in pharmacies if (p.network, p.kind) == network_and_kind)
            for role, network_and_kind in PHARMACY_ROLES.items()
        },
    }


def _drug_ref(drug: DrugRow) -> dict[str, Any]:
    return {
        "ndc": drug.ndc,
        "name": drug.name,
        "molecule": drug.molecule,
        "drug_group": drug.drug_group,
        "awp_unit_price_millicents": drug.awp_unit_price_millicents,
    }


def _drugs(drugs: list[DrugRow], formulary: list[FormularyRow]) -> dict[str, Any]:
    entries = {(r.plan_id, r.ndc): r for r in formulary}
    by_ndc = {d.ndc: d for d in drugs}

    def on(drug: DrugRow, plan: str = COMMERCIAL) -> FormularyRow:
        return entries[(plan, drug.ndc)]

    def plain(drug: DrugRow, plan: str = COMMERCIAL) -> bool:
        """Covered for everyone: no PA, limit, step therapy, age or gender edit."""
        return on(drug, plan).unrestricted and on(drug, plan).for_everyone

    def plain_everywhere(drug: DrugRow) -> bool:
        return all(plain(drug, plan) for plan in PLAN_LOB)

    def first(fits: Callable[[DrugRow], bool]) -> DrugRow:
        return next(d for d in drugs if fits(d))

    generic = first(lambda d: not d.is_brand and plain(d) and plain_everywhere(d))
    brand = first(
        lambda d: (
            d.is_brand
            and d.generic_ndc is not None
            and all(plain(d, p) and plain(by_ndc[d.generic_ndc], p) for p in PLAN_LOB)
        )
    )

    def covered_but_step(drug: DrugRow) -> bool:
        """Covered for everyone with no PA or limit; step therapy allowed."""
        entry = on(drug)
        return (
            entry.status == "covered"
            and not entry.prior_authorization_required
            and entry.quantity_limit_thousandths is None
            and entry.for_everyone
            and entry.period_days is None
        )

    step_therapy = first(lambda d: bool(on(d).step_therapy_molecule) and covered_but_step(d))
    period_limited = first(
        lambda d: (
            on(d).period_days is not None
            and on(d).status == "covered"
            and on(d).quantity_limit_thousandths is None
            and on(d).step_therapy_molecule is None
        )
    )
    named: dict[str, Any] = {
        "generic": _drug_ref(generic),
        # a generic outside the $0 statin program: the member pays the tier-1 copay
        "generic_copay": _drug_ref(
            first(lambda d: not d.is_brand and d.drug_group != STATIN_GROUP and plain_everywhere(d))
        ),
        "multi_source_brand": _drug_ref(brand) | {"generic_ndc": brand.generic_ndc},
        "preferred_brand": _drug_ref(
            first(
                lambda d: (
                    d.is_brand
                    and d.generic_ndc is None
                    and not d.is_specialty
                    and d.drug_group != INSULIN_GROUP
                    and on(d).tier == 2
                    and plain_everywhere(d)
                )
            )
        ),
        "insulin": _drug_ref(
            first(lambda d: d.drug_group == INSULIN_GROUP and plain_everywhere(d))
        ),
        "specialty": _drug_ref(first(lambda d: d.is_specialty)),
        "excluded": _drug_ref(first(lambda d: on(d).status == "excluded")),
        "non_formulary": _drug_ref(first(lambda d: on(d).status == "non_formulary")),
        "prior_authorization": _drug_ref(
            first(
                lambda d: (
                    d.is_brand
                    and not d.is_specialty
                    and on(d).prior_authorization_required
                    and on(d).status == "covered"
                )
            )
        ),
        "quantity_limited": _drug_ref(
            first(
                lambda d: (
                    on(d).quantity_limit_thousandths is not None
                    and on(d).status == "covered"
                    and not on(d).prior_authorization_required
                )
            )
        )
        | {"quantity_limit_thousandths": QUANTITY_LIMIT_THOUSANDTHS},
        "men_only": _drug_ref(first(lambda d: on(d).gender_code == 1 and on(d).unrestricted)),
        "adults_only": _drug_ref(
            first(lambda d: on(d).age_min == ADULT_AGE and on(d).unrestricted)
        ),
        "step_therapy": _drug_ref(step_therapy),
        "step_therapy_first": _drug_ref(
            first(
                lambda d: (
                    not d.is_brand
                    and d.molecule == on(step_therapy).step_therapy_molecule
                    and plain(d)
                )
            )
        ),
        "period_limited": _drug_ref(period_limited)
        | {
            "period_days": PERIOD_DAYS,
            "period_quantity_limit_thousandths": PERIOD_QUANTITY_LIMIT_THOUSANDTHS,
        },
    }
    # compounding: the covered bulk actives and the excluded cream base
    named["compound_ingredients"] = [
        _drug_ref(d) for d in drugs if d.drug_group == COMPOUNDING_GROUP and d.ndc != EXCLUDED_BASE
    ]
    named["compound_base"] = _drug_ref(by_ndc[EXCLUDED_BASE])
    # DUR: two antidepressants of different molecules (TD) and an anticoagulant with an
    # antibiotic that interacts with it (DD, see interactions.csv): generics covered for
    # everyone, of molecules no other fixture uses
    taken = {v["molecule"] for v in named.values() if isinstance(v, dict)}
    return named | _dur_drugs(drugs, plain_everywhere, taken)


def _members(people: Population) -> dict[str, Any]:
    members = people.members
    coverage_of: dict[str, CoverageRow] = {}
    for c in sorted(people.coverages, key=lambda c: c.payer_order or 1):
        coverage_of.setdefault(c.member_id, c)  # the first in each member's payer order
    family_size = Counter(m.family_id for m in members)

    def plan_of(member: MemberRow) -> str:
        return coverage_of[member.member_id].plan_id

    def terminated(member: MemberRow) -> bool:
        return coverage_of[member.member_id].end_reason == "terminated"

    def ref(member: MemberRow) -> dict[str, Any]:
        coverage = coverage_of[member.member_id]
        return {
            "member_id": member.member_id,
            "cardholder_id": member.cardholder_id,
            "person_code": member.person_code,
            "family_id": member.family_id,
            "group_id": coverage.group_id,
            "plan_id": coverage.plan_id,
            "date_of_birth": member.date_of_birth.replace("-", ""),
            "gender_code": member.gender_code,
        }

    def find(plan: str, *, family: int | None = None, skip: str = "") -> MemberRow:
        """A covered member of ``plan``: alone in their family, or the cardholder of a family
        of at least ``family``."""
        for member in members:
            if plan_of(member) != plan or terminated(member) or member.member_id == skip:
                continue
            size = family_size[member.family_id]
            if (family is None and size == 1) or (
                family is not None and size >= family and member.person_code == "001"
            ):
                return member
        raise LookupError(plan)

    def first(plan: str, fits: Callable[[MemberRow], bool]) -> MemberRow:
        """The first member of ``plan`` whose coverage has not ended who fits."""
        return next(
            m
            for m in members
            if plan_of(m) == plan and not coverage_of[m.member_id].end_reason and fits(m)
        )

    hdhp_head = find(HDHP, family=3)
    part_d = find(PART_D)
    return {
        "commercial_single": ref(find(COMMERCIAL)),
        "commercial_family_head": ref(find(COMMERCIAL, family=3)),
        "hdhp_family": [ref(m) for m in members if m.family_id == hdhp_head.family_id],
        "hdhp_single": ref(find(HDHP)),
        "part_d": ref(part_d),
        "part_d_other": ref(find(PART_D, skip=part_d.member_id)),
        "terminated": ref(next(m for m in members if terminated(m))),
        "commercial_woman": ref(first(COMMERCIAL, lambda m: m.gender_code == 2)),
        "commercial_child": ref(first(COMMERCIAL, lambda m: m.date_of_birth > "2010-01-01")),
        "commercial_wellness": ref(next(m for m in members if m.member_id == SHOWCASE["wellness"])),
        "commercial_part_time": ref(
            next(m for m in members if m.member_id == SHOWCASE["part_time"])
        ),
        # commercial first, Medicaid second: both processed here
        "dual_coverage": ref(next(m for m in members if m.member_id == SHOWCASE["dual"]))
        | {"secondary_plan_id": MEDICAID, "secondary_group_id": MEDICAID_GROUP},
        # Medicaid second to an employer plan this gateway does not process
        "medicaid_other_primary": ref(
            next(m for m in members if m.member_id == SHOWCASE["medicaid_other_primary"])
        )
        | {"other_payer": OTHER_PAYER},
    }


def _dur_drugs(
    drugs: list[DrugRow], plain_everywhere: Callable[[DrugRow], bool], taken: set[str]
) -> dict[str, Any]:
    """duplicate_a, duplicate_b: generics of two molecules of one therapeutic class;
    interacting_a, interacting_b: an anticoagulant and an antibiotic (the pair
    interactions.csv lists)."""
    roles = (
        ("duplicate_a", DUPLICATION_GROUP),
        ("duplicate_b", DUPLICATION_GROUP),
        ("interacting_a", "anticoagulant"),
        ("interacting_b", "infection"),
    )
    picked: dict[str, DrugRow] = {}
    seen = set(taken)
    for role, group in roles:
        drug = next(
            d
            for d in drugs
            if d.drug_group == group
            and not d.is_brand
            and d.molecule not in seen
            and plain_everywhere(d)
        )
        picked[role] = drug
        seen.add(drug.molecule)
    return {role: _drug_ref(drug) for role, drug in picked.items()}
