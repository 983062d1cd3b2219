"""Plan documents (one JSON file per plan) to domain plans, with errors that name the field.

The same parser reads a plan file at load time and a stored plan document when the gateway
builds its reference snapshot, so a plan that loaded is a plan that runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.reference import (
    CostShareKind,
    CostShareRule,
    DaysSupplyBand,
    NetworkPricing,
    PharmacyNetwork,
    Plan,
    Program,
    PursePeriod,
    PurseRule,
)

T = TypeVar("T")


def line_of(text: str, path: tuple[str, ...]) -> int:
    """Best-effort line of a JSON path: find each key in turn after the previous one."""
    position = 0
    for key in path:
        found = text.find(f'"{key}"', position)
        if found < 0:
            break
        position = found
    return text.count("\n", 0, position) + 1 if text else 0


class _Reader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text

    def fail(self, path: tuple[str, ...], problem: str) -> ReferenceDataError:
        return ReferenceDataError(self.source, line_of(self.text, path), ".".join(path), problem)

    def get(
        self,
        doc: Mapping[str, Any],
        path: tuple[str, ...],
        kind: type[T],
        *,
        default: Any = ...,
        check: Callable[[Any], bool] | None = None,
        rule: str = "",
    ) -> T:
        key = path[-1]
        if key not in doc:
            if default is ...:
                raise self.fail(path, "is required")
            return default  # type: ignore[no-any-return]
        value = doc[key]
        if value is None and default is None:
            return None  # type: ignore[return-value]
        if kind is int and (type(value) is not int):
            raise self.fail(path, f"must be an integer, got {value!r}")
        if not isinstance(value, kind):
            raise self.fail(path, f"must be {kind.__name__}, got {value!r}")
        if check is not None and not check(value):
            raise self.fail(path, f"{rule}, got {value!r}")
        return value


def _non_negative(value: int) -> bool:
    return value >= 0


def _basis_points(value: int) -> bool:
    return 0 <= value <= 10_000


def _tier(reader: _Reader, doc: Mapping[str, Any], path: tuple[str, ...]) -> CostShareRule:
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


def _network(reader: _Reader, doc: Mapping[str, Any], path: tuple[str, ...]) -> NetworkPricing:
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
    )


def _optional_positive(value: int | None) -> bool:
    return value is None or value > 0


def _purse_order(reader: _Reader, docs: list[Any], base: tuple[str, ...]) -> tuple[PurseRule, ...]:
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


def plan_from_document(doc: Any, source: str, text: str = "") -> Plan:
    """Validate a plan document and build the domain plan. Raises ReferenceDataError."""
    reader = _Reader(source, text)
    if not isinstance(doc, dict):
        raise reader.fail((), "a plan document is a JSON object")
    get = reader.get
    deductible = get(doc, ("deductible",), dict)
    out_of_pocket = get(doc, ("out_of_pocket",), dict)
    tiers_doc = get(doc, ("tiers",), dict)
    tiers = {}
    for key, tier_doc in tiers_doc.items():
        if not key.isdigit() or not isinstance(tier_doc, dict):
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
        deductible_individual_cents=get(
            deductible,
            ("deductible", "individual_cents"),
            int,
            check=_non_negative,
            rule="must be >= 0",
        ),
        deductible_family_cents=get(deductible, ("deductible", "family_cents"), int, default=None),
        out_of_pocket_individual_cents=get(
            out_of_pocket,
            ("out_of_pocket", "individual_cents"),
            int,
            check=_non_negative,
            rule="must be >= 0",
        ),
        out_of_pocket_family_cents=get(
            out_of_pocket, ("out_of_pocket", "family_cents"), int, default=None
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
        generic_required_daw_codes=frozenset(
            get(doc, ("generic_required_daw_codes",), list, default=[])
        ),
    )
    if not tiers:
        raise reader.fail(("tiers",), "at least one tier is required")
    return plan


def parse_plan_text(text: str, source: str) -> Plan:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReferenceDataError(source, error.lineno, "(json)", error.msg) from error
    return plan_from_document(doc, source, text)
