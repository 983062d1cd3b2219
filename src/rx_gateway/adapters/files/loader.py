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

import codecs
import csv
import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rx_gateway.adapters.documents import plan_from_document
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
    "coverages.csv": {"coverage_level"},
    "funding.csv": {"available_on"},
    "prior_authorizations.csv": {"quantity_thousandths"},
}

# Columns whose values are PHI: an error names the file, line and field, never the value.
PHI_COLUMNS: dict[str, frozenset[str]] = {
    "members.csv": frozenset({"cardholder_id", "first_name", "last_name", "date_of_birth"}),
}
SHOWN_VALUE_CHARS_MAX = 40  # an error quotes at most this much of a (non-PHI) value

INT_MAX = 2**31 - 1  # PostgreSQL int
BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint


def is_phi(name: str, column: str) -> bool:
    return column in PHI_COLUMNS.get(name, frozenset())


def _shown(name: str, column: str, raw: str) -> str:
    """What an error says about a value: the value itself, unless the column is PHI."""
    text = raw.strip()
    if not text:
        return ""  # "is required" says it all
    if is_phi(name, column):
        return " (value not shown: PHI)"
    if len(text) > SHOWN_VALUE_CHARS_MAX:
        text = text[:SHOWN_VALUE_CHARS_MAX] + "..."
    return f", got {text!r}"


# Parsers raise ValueError with the rule broken, never the value: read_table adds the value
# for columns that are not PHI.


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("is required")
    return value.strip()


def _optional_text(value: str) -> str | None:
    return value.strip() or None


def _int_between(low: int, high: int) -> Parser:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError("must be an integer") from None
        if high < INT_MAX and not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        if number < low:
            raise ValueError(f"must be {low} or more")
        if number > high:
            raise ValueError(f"must be at most {high}")
        return number

    return parse


_positive_int = _int_between(1, INT_MAX)
_positive_bigint = _int_between(1, BIGINT_MAX)


def _optional(parse: Parser) -> Parser:
    def parse_optional(value: str) -> Any:
        return parse(value) if value.strip() else None

    return parse_optional


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "y"}:
        return True
    if lowered in {"false", "0", "no", "n"}:
        return False
    raise ValueError("must be true or false")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be a date YYYY-MM-DD") from None


def _one_of(*choices: str) -> Parser:
    def parse(value: str) -> str:
        if value.strip() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value.strip()

    return parse


def _ndc(value: str) -> str:
    if not (len(value.strip()) == 11 and value.strip().isdigit()):
        raise ValueError("must be an 11-digit NDC")
    return value.strip()


_optional_positive_int = _optional(_positive_int)
_optional_positive_bigint = _optional(_positive_bigint)
_optional_date = _optional(_date)
_optional_ndc = _optional(_ndc)


TABLES: dict[str, dict[str, Parser]] = {
    "drugs.csv": {
        "ndc": _ndc,
        "name": _text,
        "molecule": _text,
        "drug_group": _text,
        "is_brand": _bool,
        "generic_ndc": _optional_ndc,
        "is_specialty": _bool,
        "awp_unit_price_millicents": _positive_bigint,
        "wac_unit_price_millicents": _optional_positive_bigint,
        "nadac_unit_price_millicents": _optional_positive_bigint,
        "mac_unit_price_millicents": _optional_positive_bigint,
    },
    "formulary.csv": {
        "plan_id": _text,
        "ndc": _ndc,
        "status": _one_of("covered", "excluded", "non_formulary"),
        "tier": _int_between(1, 9),
        "prior_authorization_required": _bool,
        "quantity_limit_thousandths": _optional_positive_bigint,
        "days_supply_max": _optional_positive_int,
        "age_min": _optional_positive_int,
        "age_max": _optional_positive_int,
        "gender_code": _optional(_int_between(1, 2)),
        "step_therapy_molecule": _optional_text,
        "period_days": _optional_positive_int,
        "period_quantity_limit_thousandths": _optional_positive_bigint,
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
        "gender_code": _int_between(0, 2),
    },
    "coverages.csv": {
        "member_id": _text,
        "plan_id": _text,
        "group_id": _text,
        "start_date": _date,
        "end_date": _optional_date,
        "end_reason": _optional(_one_of("expired", "terminated")),
        "line_of_business": _text,
        # self_only or family (X12 834 HD05); blank: self_only for a one-person family
        "coverage_level": _optional(_one_of("self_only", "family")),
    },
    "purses.csv": {"purse_id": _text, "family_id": _text, "kind": _text, "employer_id": _text},
    "funding.csv": {
        "funding_id": _text,
        "purse_id": _text,
        "amount_cents": _positive_bigint,
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
        "quantity_thousandths": _optional_positive_bigint,
    },
}


def _coverage_dates(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["end_date"] is not None and row["end_date"] < row["start_date"]:
        return "end_date", "is before start_date"
    return None


def _authorized_product(row: dict[str, Any]) -> tuple[str, str] | None:
    if row["ndc"] is None and row["drug_group"] is None:
        return "ndc", "an NDC or a drug_group is required"
    return None


# Rules across the fields of one row: (field, problem) when broken.
ROW_RULES: dict[str, Callable[[dict[str, Any]], tuple[str, str] | None]] = {
    "coverages.csv": _coverage_dates,
    "prior_authorizations.csv": _authorized_product,
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


class _Undecodable(Exception):
    """A line that is not UTF-8: where, so read_table can name the field."""

    def __init__(self, line: int, before: str, byte: int) -> None:
        super().__init__(line)
        self.line = line
        self.before = before  # the line up to the first byte that is not UTF-8
        self.byte = byte


def _utf8_lines(raw_lines: Iterable[bytes]) -> Iterator[str]:
    """Decode line by line (so an error knows its line); a leading BOM, as spreadsheet tools
    write, is dropped."""
    for number, raw in enumerate(raw_lines, 1):
        data = raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _Undecodable(
                number, data[: error.start].decode("utf-8"), data[error.start]
            ) from None


def _not_utf8(path: Path, name: str, header: list[str], error: _Undecodable) -> ReferenceDataError:
    if error.line == 1 or not header:
        column = "(header)"
    else:
        index = max(len(next(csv.reader([error.before]), [])) - 1, 0)
        column = header[index] if index < len(header) else "(row)"
    shown = "a byte" if is_phi(name, column) else f"byte 0x{error.byte:02x}"
    return ReferenceDataError(
        str(path),
        error.line,
        column,
        f"{shown} that is not UTF-8: save the file as UTF-8 (CSV UTF-8 in a spreadsheet)",
    )


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "new-line character" in text:
        return "a line break inside an unquoted field (a line ending that is a lone CR?)"
    return f"cannot be read as CSV: {text}"


def read_table(path: Path) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Rows of one CSV file, each parsed and checked; the first problem raises a
    ReferenceDataError naming the file, line and field (with the value only when not PHI)."""
    name = path.name
    columns = TABLES[name]
    optional = OPTIONAL_COLUMNS.get(name, set())
    rows: list[tuple[Any, ...]] = []
    lines: list[int] = []
    header: list[str] = []
    try:
        with path.open("rb") as handle:
            reader = csv.reader(_utf8_lines(handle))
            try:
                header = [column.strip() for column in next(reader, [])]
                if not header:
                    raise ReferenceDataError(
                        str(path), 1, "(header)", f"no header line: expected {','.join(columns)}"
                    )
                missing = [c for c in columns if c not in header and c not in optional]
                if missing:
                    raise ReferenceDataError(
                        str(path), 1, missing[0], "column is missing from the header"
                    )
                position = {column: header.index(column) for column in columns if column in header}
                for record in reader:
                    if not record:
                        continue  # a blank line
                    line = reader.line_num
                    short = f"row has {len(record)} of the header's {len(header)} fields"
                    if len(record) > len(header):
                        raise ReferenceDataError(
                            str(path),
                            line,
                            "(row)",
                            f"row has {len(record)} fields, the header has {len(header)}",
                        )
                    values = []
                    for column, parse in columns.items():
                        index = position.get(column)
                        if index is not None and index >= len(record):
                            raise ReferenceDataError(str(path), line, column, short)
                        raw = record[index] if index is not None else ""
                        try:
                            values.append(parse(raw))
                        except ValueError as error:
                            problem = f"{error}{_shown(name, column, raw)}"
                            raise ReferenceDataError(str(path), line, column, problem) from None
                    rule = ROW_RULES.get(name)
                    broken = rule(dict(zip(columns, values, strict=True))) if rule else None
                    if broken is not None:
                        raise ReferenceDataError(str(path), line, *broken)
                    rows.append(tuple(values))
                    lines.append(line)
            except csv.Error as error:
                raise ReferenceDataError(
                    str(path), reader.line_num, "(row)", _csv_problem(error)
                ) from None
    except _Undecodable as error:
        raise _not_utf8(path, name, header, error) from None
    except OSError as error:
        raise ReferenceDataError(
            str(path), 0, "(file)", f"cannot be read: {error.strerror}"
        ) from None
    return rows, lines


def _check_unique(dataset: Dataset, directory: Path, name: str, key: tuple[str, ...]) -> None:
    """No two rows share the table's key (the database's primary key)."""
    indexes = [list(TABLES[name]).index(column) for column in key]
    seen: dict[tuple[Any, ...], int] = {}
    for row, line in zip(dataset.rows(name), dataset.lines.get(name, []), strict=True):
        values = tuple(row[i] for i in indexes)
        if values in seen:
            shown = ", ".join(f"{c}={v}" for c, v in zip(key, values, strict=True))
            raise ReferenceDataError(
                str(directory / name), line, key[0], f"{shown} repeats line {seen[values]}"
            )
        seen[values] = line


def _check_cardholders_unique(dataset: Dataset, directory: Path) -> None:
    """A cardholder ID and person code name one member (the value is PHI: not shown)."""
    seen: dict[tuple[str, str], int] = {}
    members = dataset.rows("members.csv")
    for row, line in zip(members, dataset.lines.get("members.csv", []), strict=True):
        key = (row[1], row[2])
        if key in seen:
            raise ReferenceDataError(
                str(directory / "members.csv"),
                line,
                "cardholder_id",
                f"cardholder_id and person_code repeat line {seen[key]} (value not shown: PHI)",
            )
        seen[key] = line


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


def read_plan_text(path: Path) -> str:
    """A plan file as text: UTF-8 (a leading BOM is dropped), or one error naming the line."""
    try:
        data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    except OSError as error:
        raise ReferenceDataError(
            str(path), 0, "(file)", f"cannot be read: {error.strerror}"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReferenceDataError(
            str(path),
            data.count(b"\n", 0, error.start) + 1,
            "(encoding)",
            f"byte 0x{data[error.start]:02x} is not UTF-8: save the file as UTF-8",
        ) from None


def _nothing_to_load(directory: Path) -> str:
    expected = f"expected plans/*.json or {', '.join(TABLES)}"
    known = {*TABLES, "fixtures.json"}
    others = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name not in known)
    if any((directory / name).exists() for name in TABLES):
        return f"holds no data rows, only headers: nothing to load ({expected})"
    found = f"; found {', '.join(others[:5])}{' ...' if len(others) > 5 else ''}" if others else ""
    return f"holds no data files: nothing to load ({expected}{found})"


def read_dataset(directory: Path, *, known: dict[str, set[Any]] | None = None) -> Dataset:
    """Read and validate everything in ``directory``. ``known`` adds keys already stored."""
    if not directory.is_dir():
        raise ReferenceDataError(str(directory), 0, "(directory)", "is not a directory")
    known = known or {}
    dataset = Dataset()
    plans_dir = directory / "plans"
    if plans_dir.is_dir():
        for path in sorted(plans_dir.glob("*.json")):
            text = read_plan_text(path)
            try:
                document = json.loads(text)
            except json.JSONDecodeError as error:
                raise ReferenceDataError(
                    str(path),
                    error.lineno,
                    "(json)",
                    f"not JSON: {error.msg} (column {error.colno})",
                ) from None
            dataset.plans.append((plan_from_document(document, str(path), text), document))
    for name in TABLES:
        path = directory / name
        if path.exists():
            dataset.tables[name], dataset.lines[name] = read_table(path)
    if not dataset.plans and not any(dataset.tables.values()):
        raise ReferenceDataError(str(directory), 0, "(directory)", _nothing_to_load(directory))
    for name, key in (
        ("drugs.csv", ("ndc",)),
        ("formulary.csv", ("plan_id", "ndc")),
        ("pharmacies.csv", ("npi",)),
        ("members.csv", ("member_id",)),
        ("coverages.csv", ("member_id", "plan_id", "start_date")),
        ("purses.csv", ("purse_id",)),
        ("funding.csv", ("funding_id",)),
        ("prior_authorizations.csv", ("pa_number",)),
    ):
        _check_unique(dataset, directory, name, key)
    _check_cardholders_unique(dataset, directory)
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
