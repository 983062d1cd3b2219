"""Plan documents (one JSON file per plan) to domain plans, with errors that name the field.

The same parser reads a plan file at load time and a stored plan document when the gateway
builds its reference snapshot, so a plan that loaded is a plan that runs.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from typing import Any

from rx_gateway.adapters.document_reader import Reader
from rx_gateway.adapters.plan_terms import clinical_terms, reward_terms, settlement_terms
from rx_gateway.domain.additional_amounts import OTHER_AMOUNT_QUALIFIERS
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.reference import (
    DEFAULT_MONTH_BANDS,
    CostShareKind,
    CostShareRule,
    CoverageLevel,
    DaysSupplyBand,
    NetworkPricing,
    PharmacyNetwork,
    Plan,
    Program,
    PursePeriod,
    PurseRule,
)
from rx_gateway.domain.values import is_digits
from rx_gateway.jsontext import parse_json


def _non_negative(value: int) -> bool:
    return value >= 0


def _basis_points(value: int) -> bool:
    return 0 <= value <= 10_000


def _tier(reader: Reader, doc: Mapping[str, Any], path: tuple[str, ...]) -> CostShareRule:
    kind_text = reader.get(
        doc,
        (*path, "kind"),
        str,
        check=lambda v: v in set(CostShareKind),
        rule="must be copay or coinsurance",
    )
    bands_raw = reader.get(doc, (*path, "days_supply_bands"), list, default=[[34, 10_000]])
    bands = []
    for band in bands_raw:
        if not (
            isinstance(band, list)
            and len(band) == 2
            and all(type(v) is int and v > 0 for v in band)
        ):
            raise reader.fail(
                (*path, "days_supply_bands"), "each band is [days_max, multiplier_bp]"
            )
        bands.append(DaysSupplyBand(band[0], band[1]))
    maximum = reader.get(doc, (*path, "coinsurance_max_cents"), int, default=None)
    return CostShareRule(
        kind=CostShareKind(kind_text),
        copay_cents=reader.get(
            doc, (*path, "copay_cents"), int, default=0, check=_non_negative, rule="must be >= 0"
        ),
        coinsurance_bp=reader.get(
            doc,
            (*path, "coinsurance_bp"),
            int,
            default=0,
            check=_basis_points,
            rule="must be 0-10000",
        ),
        coinsurance_min_cents=reader.get(
            doc,
            (*path, "coinsurance_min_cents"),
            int,
            default=0,
            check=_non_negative,
            rule="must be >= 0",
        ),
        coinsurance_max_cents=maximum,
        deductible_applies=reader.get(doc, (*path, "deductible_applies"), bool, default=True),
        standard_network_extra_cents=reader.get(
            doc,
            (*path, "standard_network_extra_cents"),
            int,
            default=0,
            check=_non_negative,
            rule="must be >= 0",
        ),
        non_preferred_extra_cents=reader.get(
            doc,
            (*path, "non_preferred_extra_cents"),
            int,
            default=0,
            check=_non_negative,
            rule="must be >= 0",
        ),
        days_supply_bands=tuple(sorted(bands, key=lambda b: b.days_supply_max)),
    )


def _network(reader: Reader, doc: Mapping[str, Any], path: tuple[str, ...]) -> NetworkPricing:
    return NetworkPricing(
        awp_discount_bp=reader.get(
            doc, (*path, "awp_discount_bp"), int, check=_basis_points, rule="must be 0-10000"
        ),
        wac_markup_bp=reader.get(doc, (*path, "wac_markup_bp"), int, default=None),
        nadac_markup_bp=reader.get(doc, (*path, "nadac_markup_bp"), int, default=None),
        use_mac=reader.get(doc, (*path, "use_mac"), bool, default=True),
        dispensing_fee_cents=reader.get(
            doc,
            (*path, "dispensing_fee_cents"),
            int,
            default=0,
            check=_non_negative,
            rule="must be >= 0",
        ),
        sales_tax=reader.get(
            doc,
            (*path, "sales_tax"),
            str,
            default="plan",
            check=lambda v: v in ("plan", "patient", "exempt"),
            rule="must be plan, patient or exempt",
        ),
        incentive_paid_max_cents=reader.get(
            doc,
            (*path, "incentive_paid_max_cents"),
            int,
            default=0,
            check=_non_negative,
            rule="must be >= 0",
        ),
        other_amounts_paid_max_cents=_other_amounts_paid(reader, doc, path),
    )


def _other_amounts_paid(
    reader: Reader, doc: Mapping[str, Any], path: tuple[str, ...]
) -> dict[str, int]:
    """{"01": 500, ...}: the most the plan pays of each other amount (479-H8 qualifier)."""
    where = (*path, "other_amounts_paid_max_cents")
    limits = reader.get(doc, where, dict, default={})
    for qualifier, cents in limits.items():
        if qualifier not in OTHER_AMOUNT_QUALIFIERS:
            raise reader.fail(
                (*where, qualifier),
                f"is not a 479-H8 qualifier ({', '.join(OTHER_AMOUNT_QUALIFIERS)})",
            )
        if type(cents) is not int or cents < 0:
            raise reader.fail((*where, qualifier), f"must be an integer >= 0, got {cents!r}")
    return dict(limits)


def _optional_positive(value: int | None) -> bool:
    return value is None or value > 0


def _purse_order(reader: Reader, docs: list[Any], base: tuple[str, ...]) -> tuple[PurseRule, ...]:
    """A benefit stack: purse rules in the order they pay."""
    get = reader.get
    rules = []
    for index, purse_doc in enumerate(docs):
        path = (*base, str(index))
        if not isinstance(purse_doc, dict):
            raise reader.fail(path, "each purse rule is an object")
        networks = get(purse_doc, (*path, "allowed_networks"), list, default=[])
        if not all(n in set(PharmacyNetwork) for n in networks):
            raise reader.fail(
                (*path, "allowed_networks"), "networks are preferred, standard or out_of_network"
            )
        rules.append(
            PurseRule(
                kind=get(purse_doc, (*path, "kind"), str),
                allowed_tiers=frozenset(get(purse_doc, (*path, "allowed_tiers"), list, default=[])),
                allowed_drug_groups=frozenset(
                    get(purse_doc, (*path, "allowed_drug_groups"), list, default=[])
                ),
                allowed_networks=frozenset(PharmacyNetwork(n) for n in networks),
                per_fill_max_cents=get(purse_doc, (*path, "per_fill_max_cents"), int, default=None),
                period=PursePeriod(
                    get(
                        purse_doc,
                        (*path, "period"),
                        str,
                        default="plan_year",
                        check=lambda v: v in set(PursePeriod),
                        rule="must be month, quarter or plan_year",
                    )
                ),
                per_period_max_cents=get(
                    purse_doc,
                    (*path, "per_period_max_cents"),
                    int,
                    default=None,
                    check=_optional_positive,
                    rule="must be > 0",
                ),
                fills_per_period_max=get(
                    purse_doc,
                    (*path, "fills_per_period_max"),
                    int,
                    default=None,
                    check=_optional_positive,
                    rule="must be > 0",
                ),
            )
        )
    return tuple(rules)


def _read_plan(reader: Reader, doc: Any) -> Plan:
    """The plan a document describes, every field read through ``reader``."""
    if not isinstance(doc, dict):
        raise reader.fail((), "a plan document is a JSON object")
    get = reader.get
    deductible = get(doc, ("deductible",), dict)
    out_of_pocket = get(doc, ("out_of_pocket",), dict)
    tiers_doc = get(doc, ("tiers",), dict)
    tiers = {}
    for key, tier_doc in tiers_doc.items():
        if not is_digits(key) or not isinstance(tier_doc, dict):
            raise reader.fail(("tiers", key), "tiers are keyed by number and hold an object")
        tiers[int(key)] = _tier(reader, tier_doc, ("tiers", key))
    networks_doc = get(doc, ("networks",), dict)
    networks = {}
    for key, network_doc in networks_doc.items():
        if key not in set(PharmacyNetwork) or not isinstance(network_doc, dict):
            raise reader.fail(
                ("networks", key), "networks are preferred, standard or out_of_network"
            )
        networks[PharmacyNetwork(key)] = _network(reader, network_doc, ("networks", key))
    purses = _purse_order(reader, get(doc, ("purse_order",), list, default=[]), ("purse_order",))
    by_class = {}
    for class_code, order in get(doc, ("purse_order_by_class",), dict, default={}).items():
        path = ("purse_order_by_class", class_code)
        if not isinstance(order, list):
            raise reader.fail(path, "each class holds a list of purse rules")
        by_class[class_code] = _purse_order(reader, order, path)
    programs = []
    for index, program_doc in enumerate(get(doc, ("programs",), list, default=[])):
        path = ("programs", str(index))
        if not isinstance(program_doc, dict):
            raise reader.fail(path, "each program is an object")
        programs.append(
            Program(
                program_id=get(program_doc, (*path, "program_id"), str),
                drug_group=get(program_doc, (*path, "drug_group"), str),
                member_cap_per_30_days_cents=get(
                    program_doc,
                    (*path, "member_cap_per_30_days_cents"),
                    int,
                    check=_non_negative,
                    rule="must be >= 0",
                ),
                deductible_applies=get(
                    program_doc, (*path, "deductible_applies"), bool, default=False
                ),
                preferred_pharmacies_only=get(
                    program_doc, (*path, "preferred_pharmacies_only"), bool, default=False
                ),
                generics_only=get(program_doc, (*path, "generics_only"), bool, default=False),
                tiers=frozenset(
                    get(
                        program_doc,
                        (*path, "tiers"),
                        list,
                        default=[],
                        check=lambda v: all(type(t) is int and t > 0 for t in v),
                        rule="must be a list of tier numbers",
                    )
                ),
            )
        )
    plan = Plan(
        plan_id=get(doc, ("plan_id",), str, check=bool, rule="must not be empty"),
        name=get(doc, ("name",), str),
        bin=get(
            doc,
            ("bin",),
            str,
            check=lambda v: len(v) == 6 and v.isdigit(),
            rule="must be six digits",
        ),
        pcn=get(doc, ("pcn",), str, check=lambda v: 0 < len(v) <= 10, rule="must be 1-10 chars"),
        line_of_business=get(doc, ("line_of_business",), str),
        plan_year_start_month=get(
            doc,
            ("plan_year_start_month",),
            int,
            default=1,
            check=lambda v: 1 <= v <= 12,
            rule="must be 1-12",
        ),
        deductible_individual_cents=_limit(reader, deductible, "deductible", "individual_cents"),
        deductible_family_cents=_limit(reader, deductible, "deductible", "family_cents"),
        deductible_self_only_cents=_limit(reader, deductible, "deductible", "self_only_cents"),
        out_of_pocket_individual_cents=_limit(
            reader, out_of_pocket, "out_of_pocket", "individual_cents"
        ),
        out_of_pocket_family_cents=_limit(reader, out_of_pocket, "out_of_pocket", "family_cents"),
        out_of_pocket_self_only_cents=_limit(
            reader, out_of_pocket, "out_of_pocket", "self_only_cents"
        ),
        hsa_qualified=get(doc, ("hsa_qualified",), bool, default=False),
        month_bands=_month_bands(reader, doc),
        person_code_required=get(doc, ("person_code_required",), bool, default=False),
        newborn_match_days=get(
            doc,
            ("newborn_match_days",),
            int,
            default=0,
            check=lambda v: 0 <= v <= 365,
            rule="must be 0-365",
        ),
        tiers=tiers,
        networks=networks,
        days_supply_max=get(
            doc,
            ("days_supply_max",),
            int,
            default=90,
            check=lambda v: 0 < v <= 365,
            rule="must be 1-365",
        ),
        refill_too_soon_threshold_bp=get(
            doc,
            ("refill_too_soon_threshold_bp",),
            int,
            default=8_000,
            check=_basis_points,
            rule="must be 0-10000",
        ),
        daw_penalty_codes=frozenset(get(doc, ("daw_penalty_codes",), list, default=[1, 2])),
        purse_order=purses,
        purse_order_by_class=by_class,
        prior_authorization_contact=get(doc, ("prior_authorization_contact",), str, default=""),
        programs=tuple(programs),
        specialty_pharmacy_required=get(doc, ("specialty_pharmacy_required",), bool, default=False),
        extended_supply_days_min=get(doc, ("extended_supply_days_min",), int, default=None),
        timely_filing_days=get(doc, ("timely_filing_days",), int, default=None),
        claim_cost_max_cents=get(
            doc,
            ("claim_cost_max_cents",),
            int,
            default=None,
            check=lambda cents: cents > 0,
            rule="must be more than 0 (leave it out for no high-dollar edit)",
        ),
        generic_required_daw_codes=frozenset(
            get(doc, ("generic_required_daw_codes",), list, default=[])
        ),
        **settlement_terms(reader, doc),
        **clinical_terms(reader, doc),
        **reward_terms(reader, doc),
    )
    if not tiers:
        raise reader.fail(("tiers",), "at least one tier is required")
    for section in ("deductible", "out_of_pocket"):
        limits = plan.limits(CoverageLevel.SELF_ONLY)
        self_only = (
            limits.deductible_individual_cents
            if section == "deductible"
            else limits.out_of_pocket_individual_cents
        )
        if (
            self_only is None
            and (
                plan.deductible_family_cents
                if section == "deductible"
                else plan.out_of_pocket_family_cents
            )
            is not None
        ):
            raise reader.fail(
                (section, "self_only_cents"),
                "is required when the family amount is aggregate (no individual_cents)",
            )
    if plan.hsa_qualified:
        problem = hsa_problem(plan)
        if problem is not None:
            raise reader.fail(problem[0], problem[1])
    return plan


def plan_from_document(
    doc: Any,
    source: str,
    text: str = "",
    *,
    strict: bool = False,
    stored: Any = None,
) -> Plan:
    """Validate a plan document and build the domain plan. Raises ReferenceDataError.
    ``strict`` (a plan file being loaded, a design): a key no field reads is refused, naming
    its path, except one ``stored`` (the stored document a design patches) already had; the
    documents already stored are read as they are (one written by an earlier version must not
    stop the gateway)."""
    reader = Reader(source, text)
    plan = _read_plan(reader, doc)
    if strict:
        known: frozenset[tuple[str, ...]] = frozenset()
        if stored is not None:
            known = frozenset(unknown_plan_keys(stored))
        reader.refuse_unknown_keys(known)
    return plan


def unknown_plan_keys(doc: Any) -> list[tuple[str, ...]]:
    """The paths of a plan document's keys no field reads (empty for one that is not a valid
    plan: its own problems are said where it is read)."""
    reader = Reader("", "")
    try:
        _read_plan(reader, doc)
    except ReferenceDataError:
        return []
    return reader.unknown_keys()


# IRS limits for an HSA-qualified high-deductible health plan, 2026 (IRS Rev. Proc. 2025-19;
# Publication 969): the minimum annual deductible and the out-of-pocket maximum, self-only and
# family coverage. No member of a family may meet a deductible below the family minimum.
HSA_DEDUCTIBLE_MIN_SELF_ONLY_CENTS = 170_000
HSA_DEDUCTIBLE_MIN_FAMILY_CENTS = 340_000
HSA_OUT_OF_POCKET_MAX_SELF_ONLY_CENTS = 850_000
HSA_OUT_OF_POCKET_MAX_FAMILY_CENTS = 1_700_000


def hsa_problem(plan: Plan) -> tuple[tuple[str, ...], str] | None:
    """Why a plan is not an HSA-qualified HDHP, as (JSON path, problem), or None."""
    self_only = plan.limits(CoverageLevel.SELF_ONLY)
    family = plan.limits(CoverageLevel.FAMILY)
    checks = (
        (
            ("deductible", "self_only_cents"),
            (self_only.deductible_individual_cents or 0) >= HSA_DEDUCTIBLE_MIN_SELF_ONLY_CENTS,
            f"an HSA-qualified plan's self-only deductible is at least"
            f" {HSA_DEDUCTIBLE_MIN_SELF_ONLY_CENTS} cents",
        ),
        (
            ("deductible", "family_cents"),
            (family.deductible_family_cents or 0) >= HSA_DEDUCTIBLE_MIN_FAMILY_CENTS,
            f"an HSA-qualified plan's family deductible is at least"
            f" {HSA_DEDUCTIBLE_MIN_FAMILY_CENTS} cents",
        ),
        (
            ("deductible", "individual_cents"),
            family.deductible_individual_cents is None
            or family.deductible_individual_cents >= HSA_DEDUCTIBLE_MIN_FAMILY_CENTS,
            "an embedded individual deductible in family coverage is at least the family"
            f" minimum ({HSA_DEDUCTIBLE_MIN_FAMILY_CENTS} cents); leave it out for an aggregate"
            " family deductible",
        ),
        (
            ("out_of_pocket", "self_only_cents"),
            self_only.out_of_pocket_individual_cents is not None
            and self_only.out_of_pocket_individual_cents <= HSA_OUT_OF_POCKET_MAX_SELF_ONLY_CENTS,
            f"an HSA-qualified plan's self-only out-of-pocket maximum is at most"
            f" {HSA_OUT_OF_POCKET_MAX_SELF_ONLY_CENTS} cents",
        ),
        (
            ("out_of_pocket", "family_cents"),
            family.out_of_pocket_family_cents is not None
            and family.out_of_pocket_family_cents <= HSA_OUT_OF_POCKET_MAX_FAMILY_CENTS,
            f"an HSA-qualified plan's family out-of-pocket maximum is at most"
            f" {HSA_OUT_OF_POCKET_MAX_FAMILY_CENTS} cents",
        ),
    )
    return next(((path, problem) for path, ok, problem in checks if not ok), None)


def _limit(reader: Reader, doc: Mapping[str, Any], section: str, key: str) -> int | None:
    value: int | None = reader.get(
        doc, (section, key), int, default=None, check=_non_negative, rule="must be >= 0"
    )
    return value


def _month_bands(reader: Reader, doc: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    """``[[days_max, months], ...]``: what a month's supply is (default 34/60/90 days)."""
    raw = reader.get(doc, ("month_bands",), list, default=None)
    if raw is None:
        return DEFAULT_MONTH_BANDS
    bands = []
    for band in raw:
        if not (
            isinstance(band, list)
            and len(band) == 2
            and all(type(v) is int and v > 0 for v in band)
        ):
            raise reader.fail(("month_bands",), "each band is [days_supply_max, months]")
        bands.append((band[0], band[1]))
    bands.sort()
    if not bands or any(b[1] <= a[1] for a, b in itertools.pairwise(bands)):
        raise reader.fail(("month_bands",), "bands must count more months as days grow")
    return tuple(bands)


def parse_plan_text(text: str, source: str) -> Plan:
    try:
        doc = parse_json(text)
    except json.JSONDecodeError as error:
        raise ReferenceDataError(source, error.lineno, "(json)", error.msg) from error
    return plan_from_document(doc, source, text)
