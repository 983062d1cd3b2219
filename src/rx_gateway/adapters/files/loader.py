"""Read a data directory (CSV tables and one JSON file per plan) into validated rows.

Every row is checked before anything is written; the first problem raises a
ReferenceDataError naming the file, the line and the field. Files that are absent are simply
not loaded, so a directory may hold only what changed (for example a new funding file).

    plans/*.json                 one plan document per file
    drugs.csv                    ndc,name,molecule,drug_group,is_brand,generic_ndc,is_specialty,
                                 awp_unit_price_millicents,wac_unit_price_millicents,
                                 nadac_unit_price_millicents,mac_unit_price_millicents
    formulary.csv                plan_id,ndc,status,tier,prior_authorization_required,
                                 quantity_limit_thousandths,days_supply_max
                                 [,age_min,age_max,gender_code]  (optional: 60/61 edits)
                                 [,step_therapy_molecule]        (optional: 608)
                                 [,period_days,period_quantity_limit_thousandths,
                                  period_days_supply_max]        (optional: 9G, AG)
    pharmacies.csv               npi,name,network,kind
    members.csv                  member_id,cardholder_id,person_code,family_id,employer_id,
                                 class_code,first_name,last_name,date_of_birth,gender_code
    coverages.csv                member_id,plan_id,group_id,start_date,end_date,end_reason,
                                 line_of_business
    purses.csv                   purse_id,family_id,kind,employer_id
    funding.csv                  funding_id,purse_id,amount_cents,memo
                                 [,available_on]  (optional: an allotment from that date)
    prior_authorizations.csv     pa_number,member_id,ndc,drug_group,start_date,end_date
                                 [,quantity_thousandths]  (optional: approved quantity per fill)
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rx_gateway.adapters.documents import parse_plan_text
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.reference import Plan

Parser = Callable[[str], Any]

# Columns a file may leave out (added after the first release of its layout).
OPTIONAL_COLUMNS: dict[str, set[str]] = {
    "formulary.csv": {
        "age_min",
        "age_max",
        "gender_code",
        "step_therapy_molecule",
        "period_days",
        "period_quantity_limit_thousandths",
        "period_days_supply_max",
    },
    "funding.csv": {"available_on"},
    "prior_authorizations.csv": {"quantity_thousandths"},
}


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value.strip()


def _optional_text(value: str) -> str | None:
    return value.strip() or None


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"must be an integer, got {value!r}") from None


def _positive_int(value: str) -> int:
    number = _int(value)
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def _optional_positive_int(value: str) -> int | None:
    return _positive_int(value) if value.strip() else None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "y"}:
        return True
    if lowered in {"false", "0", "no", "n"}:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}") from None


def _optional_date(value: str) -> dt.date | None:
    return _date(value) if value.strip() else None


def _one_of(*choices: str) -> Parser:
    def parse(value: str) -> str:
        if value.strip() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return value.strip()

    return parse


def _ndc(value: str) -> str:
    if not (len(value.strip()) == 11 and value.strip().isdigit()):
        raise ValueError(f"must be an 11-digit NDC, got {value!r}")
    return value.strip()


def _optional_ndc(value: str) -> str | None:
    return _ndc(value) if value.strip() else None


TABLES: dict[str, dict[str, Parser]] = {
    "drugs.csv": {
        "ndc": _ndc,
        "name": _text,
        "molecule": _text,
        "drug_group": _text,
        "is_brand": _bool,
        "generic_ndc": _optional_ndc,
        "is_specialty": _bool,
        "awp_unit_price_millicents": _positive_int,
        "wac_unit_price_millicents": _optional_positive_int,
        "nadac_unit_price_millicents": _optional_positive_int,
        "mac_unit_price_millicents": _optional_positive_int,
    },
    "formulary.csv": {
        "plan_id": _text,
        "ndc": _ndc,
        "status": _one_of("covered", "excluded", "non_formulary"),
        "tier": _positive_int,
        "prior_authorization_required": _bool,
        "quantity_limit_thousandths": _optional_positive_int,
        "days_supply_max": _optional_positive_int,
        "age_min": _optional_positive_int,
        "age_max": _optional_positive_int,
        "gender_code": lambda v: int(_one_of("1", "2")(v)) if v.strip() else None,
        "step_therapy_molecule": _optional_text,
        "period_days": _optional_positive_int,
        "period_quantity_limit_thousandths": _optional_positive_int,
        "period_days_supply_max": _optional_positive_int,
    },
    "pharmacies.csv": {
        "npi": _text,
        "name": _text,
        "network": _one_of("preferred", "standard", "out_of_network"),
        "kind": _one_of("retail", "retail90", "mail", "specialty"),
    },
    "members.csv": {
        "member_id": _text,
        "cardholder_id": _text,
        "person_code": _text,
        "family_id": _text,
        "employer_id": _text,
        "class_code": _text,
        "first_name": _text,
        "last_name": _text,
        "date_of_birth": _date,
        "gender_code": _int,
    },
    "coverages.csv": {
        "member_id": _text,
        "plan_id": _text,
        "group_id": _text,
        "start_date": _date,
        "end_date": _optional_date,
        "end_reason": lambda v: _one_of("expired", "terminated")(v) if v.strip() else None,
        "line_of_business": _text,
    },
    "purses.csv": {"purse_id": _text, "family_id": _text, "kind": _text, "employer_id": _text},
    "funding.csv": {
        "funding_id": _text,
        "purse_id": _text,
        "amount_cents": _positive_int,
        "memo": _optional_text,
        "available_on": _optional_date,
    },
    "prior_authorizations.csv": {
        "pa_number": _text,
        "member_id": _text,
        "ndc": _optional_ndc,
        "drug_group": _optional_text,
        "start_date": _date,
        "end_date": _date,
        "quantity_thousandths": _optional_positive_int,
    },
}


@dataclass
class Dataset:
    """Validated rows per table (column order as in TABLES) and parsed plans."""

    plans: list[tuple[Plan, dict[str, Any]]] = field(default_factory=list)
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        return self.tables.get(name, [])

    def counts(self) -> dict[str, int]:
        counts = {name.removesuffix(".csv"): len(rows) for name, rows in self.tables.items()}
        counts["plans"] = len(self.plans)
        return counts


def read_table(path: Path) -> tuple[list[tuple[Any, ...]], list[int]]:
    columns = TABLES[path.name]
    rows: list[tuple[Any, ...]] = []
    lines: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        optional = OPTIONAL_COLUMNS.get(path.name, set())
        missing = [c for c in columns if c not in (reader.fieldnames or []) and c not in optional]
        if missing:
            raise ReferenceDataError(str(path), 1, missing[0], "column is missing from the header")
        for record in reader:
            line = reader.line_num
            values = []
            for column, parse in columns.items():
                raw = record.get(column, "" if column in optional else None)
                if raw is None:
                    raise ReferenceDataError(str(path), line, column, "row has too few fields")
                try:
                    values.append(parse(raw))
                except ValueError as error:
                    raise ReferenceDataError(str(path), line, column, str(error)) from None
            rows.append(tuple(values))
            lines.append(line)
    return rows, lines


def _check_unique(dataset: Dataset, directory: Path, name: str, width: int) -> None:
    seen: set[tuple[Any, ...]] = set()
    for row, line in zip(dataset.rows(name), dataset.lines.get(name, []), strict=True):
        key = row[:width]
        if key in seen:
            column = next(iter(TABLES[name]))
            raise ReferenceDataError(str(directory / name), line, column, f"duplicate key {key}")
        seen.add(key)


def _check_references(
    dataset: Dataset,
    directory: Path,
    name: str,
    column: str,
    known: set[Any],
    what: str,
) -> None:
    index = list(TABLES[name]).index(column)
    for row, line in zip(dataset.rows(name), dataset.lines.get(name, []), strict=True):
        value = row[index]
        if value is not None and value not in known:
            raise ReferenceDataError(
                str(directory / name), line, column, f"unknown {what} {value!r}"
            )


def read_dataset(directory: Path, *, known: dict[str, set[Any]] | None = None) -> Dataset:
    """Read and validate everything in ``directory``. ``known`` adds keys already stored."""
    if not directory.is_dir():
        raise ReferenceDataError(str(directory), 0, "(directory)", "is not a directory")
    known = known or {}
    dataset = Dataset()
    plans_dir = directory / "plans"
    if plans_dir.is_dir():
        for path in sorted(plans_dir.glob("*.json")):
            text = path.read_text(encoding="utf-8")
            plan = parse_plan_text(text, str(path))
            dataset.plans.append((plan, json.loads(text)))
    for name in TABLES:
        path = directory / name
        if path.exists():
            dataset.tables[name], dataset.lines[name] = read_table(path)
    for name, width in (
        ("drugs.csv", 1),
        ("formulary.csv", 2),
        ("pharmacies.csv", 1),
        ("members.csv", 1),
        ("coverages.csv", 4),
        ("purses.csv", 1),
        ("funding.csv", 1),
        ("prior_authorizations.csv", 1),
    ):
        _check_unique(dataset, directory, name, width)
    plan_ids = {p.plan_id for p, _ in dataset.plans} | known.get("plans", set())
    ndcs = {r[0] for r in dataset.rows("drugs.csv")} | known.get("drugs", set())
    members = {r[0] for r in dataset.rows("members.csv")} | known.get("members", set())
    families = {r[3] for r in dataset.rows("members.csv")} | known.get("families", set())
    purses = {r[0] for r in dataset.rows("purses.csv")} | known.get("purses", set())
    _check_references(dataset, directory, "formulary.csv", "plan_id", plan_ids, "plan")
    _check_references(dataset, directory, "formulary.csv", "ndc", ndcs, "NDC")
    _check_references(dataset, directory, "drugs.csv", "generic_ndc", ndcs, "NDC")
    _check_references(dataset, directory, "coverages.csv", "member_id", members, "member")
    _check_references(dataset, directory, "coverages.csv", "plan_id", plan_ids, "plan")
    _check_references(dataset, directory, "purses.csv", "family_id", families, "family")
    _check_references(dataset, directory, "funding.csv", "purse_id", purses, "purse")
    _check_references(
        dataset, directory, "prior_authorizations.csv", "member_id", members, "member"
    )
    return dataset
