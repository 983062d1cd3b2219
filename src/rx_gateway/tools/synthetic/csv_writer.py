"""A table of a dataset as CSV: the header is the loader's columns (``TABLES``), each row the
named row of its file (``rows``); ``true``/``false`` for booleans, an empty cell for None."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from rx_gateway.adapters.files.tables import TABLES
from rx_gateway.tools.synthetic.rows import FILE_OF


def _cell(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return value


def write_table(directory: Path, row_type: type[NamedTuple], rows: Sequence[NamedTuple]) -> None:
    """``rows`` (all of ``row_type``) into their file in ``directory``."""
    name = FILE_OF[row_type]
    header = list(TABLES[name])
    if list(row_type._fields) != header:
        msg = f"{row_type.__name__} has fields {row_type._fields}, {name} has columns {header}"
        raise ValueError(msg)
    with (directory / name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            if type(row) is not row_type:
                msg = f"{name}: a {type(row).__name__} among {row_type.__name__} rows"
                raise TypeError(msg)
            writer.writerow([_cell(value) for value in row])
