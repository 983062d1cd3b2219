"""Read a data directory (CSV tables and one JSON file per plan) into validated rows.

Every row is checked before anything is written; the first problem raises a
ReferenceDataError naming the file, the line and the field (the value only for columns that
are not PHI). Files that are absent are simply not loaded, so a directory may hold only what
changed (for example a new funding file). The columns of each file are in tables.py.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rx_gateway.adapters.documents import plan_from_document
from rx_gateway.adapters.files.processor import NAME as PROCESSOR_FILE
from rx_gateway.adapters.files.processor import read_payer
from rx_gateway.adapters.files.tables import (
    OPTIONAL_COLUMNS,
    ROW_RULES,
    TABLES,
    Parser,
    is_phi,
    shown,
)
from rx_gateway.domain.cob import MEDICAID
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.reference import EMPLOYER_SPONSOR, Plan
from rx_gateway.domain.settlement.parties import Payer
from rx_gateway.jsontext import parse_json


@dataclass
class Dataset:
    """Validated rows per table (column order as in TABLES) and parsed plans."""

    plans: list[tuple[Plan, dict[str, Any]]] = field(default_factory=list)
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    payer: Payer | None = None
    directory: Path = field(default_factory=Path)  # where the files were read

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        return self.tables.get(name, [])

    def where(self, name: str) -> str:
        """A file of the dataset as its errors name it: with its directory."""
        return str(self.directory / name)

    def counts(self) -> dict[str, int]:
        counts = {name.removesuffix(".csv"): len(rows) for name, rows in self.tables.items()}
        counts["plans"] = len(self.plans)
        if self.payer is not None:
            counts["processor"] = 1
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


def _refuse_unknown_columns(path: Path, header: list[str], columns: Iterable[str]) -> None:
    """A data file's header names only its columns, each once: a misspelled optional column
    (`availble_on`) would otherwise be ignored, and its values with it (an allotment funded
    at once)."""
    known = list(columns)
    for index, column in enumerate(header):
        if column not in known:
            raise ReferenceDataError(
                str(path),
                1,
                column or "(header)",
                f"is not a column of {path.name} (its columns: {', '.join(known)})",
            )
        if column in header[:index]:
            raise ReferenceDataError(str(path), 1, column, "is in the header twice")


def read_table(
    path: Path, layout: dict[str, Parser] | None = None
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Rows of one CSV file, each parsed and checked; the first problem raises a
    ReferenceDataError naming the file, line and field (with the value only when not PHI).
    The columns are the data file's of the same name, or ``layout``'s."""
    name = path.name if layout is None else ""  # a layout: none of a data file's rules
    columns = layout if layout is not None else TABLES[name]
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
                if layout is None:
                    _refuse_unknown_columns(path, header, columns)
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
                        if "\x00" in raw:
                            raise ReferenceDataError(
                                str(path), line, column, "holds a NUL character"
                            )
                        try:
                            values.append(parse(raw))
                        except ValueError as error:
                            problem = f"{error}{shown(name, column, raw)}"
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


def _check_plan_once(plan_id: str, path: Path, plans_from: dict[str, Path]) -> None:
    """Two plan files with one plan_id: the last read silently replaced the first."""
    first = plans_from.setdefault(plan_id, path)
    if first != path:
        raise ReferenceDataError(
            str(path), 0, "plan_id", f"{plan_id!r} is also the plan_id of {first.name}"
        )


def _check_interactions_once(dataset: Dataset, directory: Path) -> None:
    """One row per pair of molecules, in either order (the table keys them sorted)."""
    seen: dict[frozenset[str], int] = {}
    rows = dataset.rows("interactions.csv")
    for row, line in zip(rows, dataset.lines.get("interactions.csv", []), strict=True):
        pair = frozenset(row[:2])
        if pair in seen:
            raise ReferenceDataError(
                str(directory / "interactions.csv"),
                line,
                "molecule_a",
                f"the pair {row[0]}/{row[1]} repeats line {seen[pair]} (in either order)",
            )
        seen[pair] = line


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


def _check_formulary_tiers(dataset: Dataset, directory: Path, stored: set[tuple[str, int]]) -> None:
    """A formulary row's tier is one of its plan's (this load's plan document, else the stored
    one's): a tier the plan does not have loaded, and every claim of the drug failed."""
    tiers: dict[str, set[int]] = {}
    for plan_id, tier in stored:
        tiers.setdefault(plan_id, set()).add(tier)
    for plan, _ in dataset.plans:
        tiers[plan.plan_id] = set(plan.tiers)
    columns = list(TABLES["formulary.csv"])
    plan_at, tier_at = columns.index("plan_id"), columns.index("tier")
    rows = zip(dataset.rows("formulary.csv"), dataset.lines.get("formulary.csv", []), strict=True)
    for row, line in rows:
        known = tiers.get(row[plan_at])
        if known is not None and row[tier_at] not in known:
            raise ReferenceDataError(
                str(directory / "formulary.csv"),
                line,
                "tier",
                f"tier {row[tier_at]} is not one of plan {row[plan_at]}'s tiers"
                f" ({', '.join(str(t) for t in sorted(known))})",
            )


def _check_stored_formulary_tiers(
    dataset: Dataset, directory: Path, stored: set[tuple[str, int]]
) -> None:
    """A plan reloaded without a tier its stored formulary rows are on (and whose formulary this
    load does not replace) would leave every claim of those drugs failing."""
    replaced = {row[0] for row in dataset.rows("formulary.csv")}
    for plan, _ in dataset.plans:
        if plan.plan_id in replaced:
            continue
        gone = sorted(t for p, t in stored if p == plan.plan_id and t not in plan.tiers)
        if gone:
            raise ReferenceDataError(
                str(directory / "plans"),
                0,
                f"{plan.plan_id}.tiers",
                f"tier {gone[0]} is gone, and the stored formulary has drugs on it: load"
                " formulary.csv with the plan's drugs on its tiers",
            )


def _check_medicaid_last(dataset: Dataset, directory: Path) -> None:
    """Medicaid is the payer of last resort: a Medicaid coverage in force together with another
    coverage of the same member (in coverages.csv or other_coverages.csv) must come after it in
    the payer order. (Claims apply the rule whatever the files say; a file that says otherwise
    is a mistake worth naming.)"""
    columns = list(TABLES["coverages.csv"])
    lob, order = columns.index("line_of_business"), columns.index("payer_order")
    spans: dict[str, list[tuple[Any, Any, int, bool]]] = {}
    for row in dataset.rows("coverages.csv"):
        spans.setdefault(row[0], []).append((row[3], row[4], row[order] or 1, row[lob] == MEDICAID))
    for row in dataset.rows("other_coverages.csv"):
        spans.setdefault(row[0], []).append((row[9], row[10], row[1], False))
    lines = dataset.lines.get("coverages.csv", [])
    for row, line in zip(dataset.rows("coverages.csv"), lines, strict=True):
        if row[lob] != MEDICAID:
            continue
        mine = row[order] or 1
        for start, end, other_order, medicaid in spans[row[0]]:
            overlap = start <= (row[4] or start) and row[3] <= (end or row[3])
            if not medicaid and overlap and other_order >= mine:
                raise ReferenceDataError(
                    str(directory / "coverages.csv"),
                    line,
                    "payer_order",
                    f"Medicaid pays last: its payer_order {mine} must be after the other"
                    f" coverage in force with it (payer_order {other_order})",
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
    dataset = Dataset(directory=directory)
    plans_from: dict[str, Path] = {}
    plans_dir = directory / "plans"
    for path in (plans_dir, directory / PROCESSOR_FILE, *(directory / n for n in TABLES)):
        if path.is_symlink() and not path.exists():  # skipped as absent, it went unnoticed
            raise ReferenceDataError(
                str(path), 0, "(file)", "cannot be read: a symbolic link to nothing"
            )
    if plans_dir.is_dir():
        for path in sorted(plans_dir.glob("*.json")):
            text = read_plan_text(path)
            try:
                document = parse_json(text)
            except json.JSONDecodeError as error:
                raise ReferenceDataError(
                    str(path),
                    error.lineno,
                    "(json)",
                    f"not JSON: {error.msg} (column {error.colno})",
                ) from None
            plan = plan_from_document(document, str(path), text, strict=True)
            dataset.plans.append((plan, document))
            _check_plan_once(plan.plan_id, path, plans_from)
    for name in TABLES:
        path = directory / name
        if path.exists():
            dataset.tables[name], dataset.lines[name] = read_table(path)
    if (directory / PROCESSOR_FILE).exists():
        dataset.payer = read_payer(directory / PROCESSOR_FILE)
    if not dataset.plans and not any(dataset.tables.values()) and dataset.payer is None:
        raise ReferenceDataError(str(directory), 0, "(directory)", _nothing_to_load(directory))
    for name, key in (
        ("drugs.csv", ("ndc",)),
        ("formulary.csv", ("plan_id", "ndc")),
        ("pharmacies.csv", ("npi",)),
        ("members.csv", ("member_id",)),
        ("coverages.csv", ("member_id", "plan_id", "start_date")),
        ("other_coverages.csv", ("member_id", "bin", "pcn", "start_date")),
        ("purses.csv", ("purse_id",)),
        ("funding.csv", ("funding_id",)),
        ("prior_authorizations.csv", ("pa_number",)),
        ("payees.csv", ("payee_id",)),
        ("sponsors.csv", ("sponsor_id",)),
    ):
        _check_unique(dataset, directory, name, key)
    _check_cardholders_unique(dataset, directory)
    _check_interactions_once(dataset, directory)
    plan_ids = {p.plan_id for p, _ in dataset.plans} | known.get("plans", set())
    ndcs = {r[0] for r in dataset.rows("drugs.csv")} | known.get("drugs", set())
    members = {r[0] for r in dataset.rows("members.csv")} | known.get("members", set())
    families = {r[3] for r in dataset.rows("members.csv")} | known.get("families", set())
    purses = {r[0] for r in dataset.rows("purses.csv")} | known.get("purses", set())
    _check_references(dataset, directory, "formulary.csv", "plan_id", plan_ids, "plan")
    _check_references(dataset, directory, "formulary.csv", "ndc", ndcs, "NDC")
    _check_formulary_tiers(dataset, directory, known.get("plan_tiers", set()))
    _check_stored_formulary_tiers(dataset, directory, known.get("formulary_tiers", set()))
    _check_references(dataset, directory, "drugs.csv", "generic_ndc", ndcs, "NDC")
    _check_references(dataset, directory, "coverages.csv", "member_id", members, "member")
    _check_references(dataset, directory, "coverages.csv", "plan_id", plan_ids, "plan")
    _check_references(dataset, directory, "other_coverages.csv", "member_id", members, "member")
    _check_medicaid_last(dataset, directory)
    _check_references(dataset, directory, "purses.csv", "family_id", families, "family")
    _check_references(dataset, directory, "funding.csv", "purse_id", purses, "purse")
    _check_references(
        dataset, directory, "prior_authorizations.csv", "member_id", members, "member"
    )
    # a member's PA naming a drug nobody can bill never applies (a typo goes unseen until the
    # claim asks for the PA on file); an interaction table covers more molecules than any
    # formulary, so its molecules are not checked
    groups = {r[3] for r in dataset.rows("drugs.csv")} | known.get("drug_groups", set())
    _check_references(dataset, directory, "prior_authorizations.csv", "ndc", ndcs, "NDC")
    _check_references(
        dataset, directory, "prior_authorizations.csv", "drug_group", groups, "drug group"
    )
    payees = {r[0] for r in dataset.rows("payees.csv")} | known.get("payees", set())
    _check_references(dataset, directory, "pharmacies.csv", "payee_id", payees, "payee")
    sponsors = {r[0] for r in dataset.rows("sponsors.csv")} | known.get("sponsors", set())
    for plan, _ in dataset.plans:
        if plan.sponsor_id != EMPLOYER_SPONSOR and plan.sponsor_id not in sponsors:
            raise ReferenceDataError(
                str(directory / "plans"),
                0,
                f"{plan.plan_id}.sponsor_id",
                f"unknown sponsor {plan.sponsor_id!r}: add it to sponsors.csv",
            )
    return dataset
