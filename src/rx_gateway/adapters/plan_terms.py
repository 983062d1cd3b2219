"""A plan document's settlement terms: who is billed for the plan's cost, and how its
pharmacies are paid.

    "sponsor_id": "employer",              each member's employer (the default), or a sponsor ID
    "pharmacy_payment": {
        "period_days": 7,                  7 or 14
        "cutoff_weekday": "sunday",        the last day of each period
        "pay_after_days": 3,               the pay date: the period end plus these days
        "transaction_fee_cents": 0         per claim and per reversal, taken in the 835's PLB
    }

A Part D plan's pay cycle must pay a clean claim within 14 days of receipt (42 CFR 423.520):
one that cannot is refused at load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rx_gateway.adapters.document_reader import Reader
from rx_gateway.domain.dur import DurAction, DurPolicy, DurReason, RefillOverrides
from rx_gateway.domain.reference import (
    EMPLOYER_SPONSOR,
    CobMethod,
    CompoundRules,
    PharmacyNetwork,
    RewardProgram,
)
from rx_gateway.domain.settlement.cycles import (
    LAG_DAYS_MAX,
    PERIOD_DAYS,
    WEEKDAYS,
    Schedule,
    schedule_problems,
    weekday_number,
)

PART_D = "MEDICARE_PART_D"
SECTION = "pharmacy_payment"


def settlement_terms(reader: Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Plan fields of the settlement terms (sponsor_id, pay_schedule,
    transaction_fee_cents), each checked; errors name the JSON path."""
    get = reader.get
    sponsor_id = get(
        doc, ("sponsor_id",), str, default=EMPLOYER_SPONSOR, check=bool, rule="must not be empty"
    )
    payment = get(doc, (SECTION,), dict, default={})
    weekday_name = get(
        payment,
        (SECTION, "cutoff_weekday"),
        str,
        default="sunday",
        check=lambda v: weekday_number(v) is not None,
        rule=f"must be one of {', '.join(WEEKDAYS)}",
    )
    schedule = Schedule(
        period_days=get(
            payment,
            (SECTION, "period_days"),
            int,
            default=7,
            check=lambda v: v in PERIOD_DAYS,
            rule=f"must be one of {PERIOD_DAYS}",
        ),
        cutoff_weekday=weekday_number(weekday_name) or 0,
        lag_days=get(
            payment,
            (SECTION, "pay_after_days"),
            int,
            default=3,
            check=lambda v: 0 <= v <= LAG_DAYS_MAX,
            rule=f"must be 0-{LAG_DAYS_MAX}",
        ),
    )
    problems = schedule_problems(schedule, part_d=doc.get("line_of_business") == PART_D)
    if problems:
        raise reader.fail((SECTION,), problems[0])
    fee = get(
        payment,
        (SECTION, "transaction_fee_cents"),
        int,
        default=0,
        check=lambda v: 0 <= v <= 10_000,
        rule="must be 0-10000 cents",
    )
    return {"sponsor_id": sponsor_id, "pay_schedule": schedule, "transaction_fee_cents": fee}


def clinical_terms(reader: Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Plan fields of the clinical terms (dur, refill_overrides) and of coordination of
    benefits (cob_method: standard, non_duplication or patient_responsibility):

    "refill_overrides": {"3": 2, "4": 1, "5": null},   420-DK code → uses per plan year
    "dur": {
        "early_refill": "warn", "early_refill_threshold_bp": 9000,
        "therapeutic_duplication": "reject", "drug_interaction": "reject",
        "overrides": [["TD", "M0", "1G"], ["DD", "M0", "1G"]]   439-E4, 440-E5, 441-E6
    }
    """
    get = reader.get
    overrides_doc = get(doc, ("refill_overrides",), dict, default={})
    allowed: dict[int, int | None] = {}
    for code, limit in overrides_doc.items():
        path = ("refill_overrides", code)
        if not (code.isascii() and code.isdigit() and 1 <= int(code) <= 99):
            raise reader.fail(path, "keys are 420-DK codes 1-99")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise reader.fail(path, f"must be a number of uses >= 1, or null, got {limit!r}")
        allowed[int(code)] = limit
    dur_doc = get(doc, ("dur",), dict, default={})
    actions = [a.value for a in DurAction]

    def action(key: str) -> DurAction:
        value = get(
            dur_doc,
            ("dur", key),
            str,
            default="off",
            check=lambda v: v in actions,
            rule=f"must be one of {', '.join(actions)}",
        )
        return DurAction(value)

    trios = []
    for index, trio in enumerate(get(dur_doc, ("dur", "overrides"), list, default=[])):
        if (
            not isinstance(trio, list)
            or len(trio) != 3
            or not all(isinstance(c, str) and len(c) == 2 for c in trio)
            or trio[0] not in {r.value for r in DurReason}
        ):
            raise reader.fail(
                ("dur", "overrides", str(index)),
                "each override is [reason 439-E4 (ER, TD or DD), service 440-E5, result 441-E6]",
            )
        trios.append((trio[0], trio[1], trio[2]))
    policy = DurPolicy(
        early_refill=action("early_refill"),
        early_refill_threshold_bp=get(
            dur_doc,
            ("dur", "early_refill_threshold_bp"),
            int,
            default=9_000,
            check=lambda v: 0 < v <= 10_000,
            rule="must be 1-10000",
        ),
        therapeutic_duplication=action("therapeutic_duplication"),
        drug_interaction=action("drug_interaction"),
        overrides=frozenset(trios),
    )
    methods = [m.value for m in CobMethod]
    cob_method = get(
        doc,
        ("cob_method",),
        str,
        default=CobMethod.STANDARD.value,
        check=lambda v: v in methods,
        rule=f"must be one of {', '.join(methods)}",
    )
    return {
        "dur": policy,
        "refill_overrides": RefillOverrides(allowed),
        "cob_method": CobMethod(cob_method),
        "compound": _compound_rules(reader, doc),
    }


def _compound_rules(reader: Reader, doc: Mapping[str, Any]) -> CompoundRules:
    """ "compound": {"covered": true, "ingredients_max": 10, "tier": 3,
    "level_of_effort_fees_cents": {"11": 0, "12": 500, ...}} (every key optional)."""
    get = reader.get
    section = get(doc, ("compound",), dict, default={})
    tiers = {str(t) for t in get(doc, ("tiers",), dict, default={})}
    tier = get(
        section,
        ("compound", "tier"),
        int,
        default=None,
        check=lambda v: str(v) in tiers,
        rule=f"must be one of the plan's tiers ({', '.join(sorted(tiers))})",
    )
    fees: dict[int, int] = {}
    for level, fee in get(
        section, ("compound", "level_of_effort_fees_cents"), dict, default={}
    ).items():
        path = ("compound", "level_of_effort_fees_cents", level)
        if level not in {"11", "12", "13", "14", "15"}:
            raise reader.fail(path, "keys are 474-8E levels of effort 11-15")
        if type(fee) is not int or not 0 <= fee <= 100_000:
            raise reader.fail(path, f"must be 0-100000 cents, got {fee!r}")
        fees[int(level)] = fee
    return CompoundRules(
        covered=get(section, ("compound", "covered"), bool, default=True),
        ingredients_max=get(
            section,
            ("compound", "ingredients_max"),
            int,
            default=25,
            check=lambda v: 2 <= v <= 25,
            rule="must be 2-25",
        ),
        tier=tier,
        level_of_effort_fees_cents=fees,
    )


PHARMACY_KINDS = ("retail", "retail90", "mail", "specialty")


def reward_terms(reader: Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The Plan field of its incentive programs for lower-cost choices (domain/rewards.py):

    "rewards": [{
        "program_id": "MAIL90-MAINT",       unique in the plan, at most 20 characters
        "amount_cents": 1000,               credited per rewarded fill (1 to 100000)
        "purse_kind": "HRA",                the member's purse it is credited to
        "per_year_max": 4,                  rewards per member per plan year (>= 1)
        "drug_groups": ["cardiovascular"],  every rule optional; empty or absent: any
        "pharmacy_kinds": ["mail", "retail90"],   retail, retail90, mail, specialty
        "networks": ["preferred"],
        "tiers": [1],
        "days_supply_min": 84,
        "generics_only": false
    }]
    """
    get = reader.get
    programs: list[RewardProgram] = []
    seen: set[str] = set()
    for index, item in enumerate(get(doc, ("rewards",), list, default=[])):
        path = ("rewards", str(index))
        if not isinstance(item, dict):
            raise reader.fail(path, "each reward program is an object")

        program_id = get(
            item,
            (*path, "program_id"),
            str,
            check=lambda v: 0 < len(v) <= 20 and v not in seen,
            rule="must be 1-20 characters and unique in the plan",
        )
        seen.add(program_id)
        tiers = get(item, (*path, "tiers"), list, default=[])
        if not all(type(t) is int and t > 0 for t in tiers):
            raise reader.fail((*path, "tiers"), "must be a list of tier numbers")
        programs.append(
            RewardProgram(
                program_id=program_id,
                amount_cents=get(
                    item,
                    (*path, "amount_cents"),
                    int,
                    check=lambda v: 0 < v <= 100_000,
                    rule="must be 1-100000 cents",
                ),
                purse_kind=get(
                    item, (*path, "purse_kind"), str, check=bool, rule="must not be empty"
                ),
                per_year_max=get(
                    item, (*path, "per_year_max"), int, check=lambda v: v >= 1, rule="must be >= 1"
                ),
                drug_groups=_strings(reader, item, (*path, "drug_groups")),
                pharmacy_kinds=_strings(reader, item, (*path, "pharmacy_kinds"), PHARMACY_KINDS),
                networks=frozenset(
                    PharmacyNetwork(n)
                    for n in _strings(
                        reader, item, (*path, "networks"), tuple(n.value for n in PharmacyNetwork)
                    )
                ),
                tiers=frozenset(tiers),
                days_supply_min=get(
                    item,
                    (*path, "days_supply_min"),
                    int,
                    default=0,
                    check=lambda v: 0 <= v <= 365,
                    rule="must be 0-365",
                ),
                generics_only=get(item, (*path, "generics_only"), bool, default=False),
            )
        )
    return {"rewards": tuple(programs)}


def _strings(
    reader: Reader,
    doc: Mapping[str, Any],
    path: tuple[str, ...],
    allowed: tuple[str, ...] | None = None,
) -> frozenset[str]:
    """An optional list of non-empty strings (each one of ``allowed`` when given)."""
    values = reader.get(doc, path, list, default=[])
    if not all(isinstance(v, str) and v for v in values):
        raise reader.fail(path, "must be a list of non-empty strings")
    if allowed is not None and not set(values) <= set(allowed):
        raise reader.fail(path, f"each must be one of {', '.join(allowed)}")
    return frozenset(values)
