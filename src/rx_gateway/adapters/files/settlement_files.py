"""The settlement files on disk, and the two files the settlement commands read.

    DIR/<cycle_id>/remittance/<payee_id>.835 and .json
    DIR/<cycle_id>/invoices/<sponsor_id>.csv and .json

A file is written whole under a temporary name and renamed into place, so a reader never sees
half of one; writing a closed cycle again writes the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from rx_gateway.adapters.files.loader import read_table
from rx_gateway.adapters.files.tables import SETTLEMENT_LAYOUTS
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.settlement.invoices import Receipt
from rx_gateway.domain.settlement.reconciliation import BankLine, Direction

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def file_name(value: str) -> str:
    """An identifier as a file name: anything but letters, digits, dot, dash, underscore is
    _, and a name of dots alone is prefixed with _ (it would name a directory)."""
    name = SAFE_NAME.sub("_", value) or "_"
    return f"_{name}" if set(name) == {"."} else name


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


class DirectoryFiles:
    """service_layer.settlement.SettlementFiles under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def remittance(self, cycle_id: str, payee_id: str, x12: str, document: str) -> list[Path]:
        folder, name = self.root / file_name(cycle_id) / "remittance", file_name(payee_id)
        # the suffix appended, never swapped: CHAIN.A and CHAIN.B are two files
        return [_write(folder / f"{name}.835", x12), _write(folder / f"{name}.json", document)]

    def invoice(self, cycle_id: str, sponsor_id: str, csv: str, document: str) -> list[Path]:
        folder, name = self.root / file_name(cycle_id) / "invoices", file_name(sponsor_id)
        return [_write(folder / f"{name}.csv", csv), _write(folder / f"{name}.json", document)]


def writable_directory(path: Path) -> None:
    """Make sure files can be written under ``path`` before anything is committed: one line
    naming the directory otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".rx-gateway-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ReferenceDataError(
            str(path), 0, "(directory)", f"cannot be written: {error.strerror}"
        ) from None


def digest_of(path: Path) -> str:
    """The content's SHA-256: the same file applied twice is recognised by it."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise ReferenceDataError(
            str(path), 0, "(file)", f"cannot be read: {error.strerror}"
        ) from None


def _rows(path: Path, layout: str) -> list[tuple[int, tuple[object, ...]]]:
    if not path.exists():
        raise ReferenceDataError(str(path), 0, "(file)", "does not exist")
    if not path.is_file():
        raise ReferenceDataError(str(path), 0, "(file)", "is not a file")
    rows, lines = read_table(path, SETTLEMENT_LAYOUTS[layout])
    if not rows:
        columns = ",".join(SETTLEMENT_LAYOUTS[layout])
        raise ReferenceDataError(str(path), 1, "(file)", f"holds no lines: expected {columns}")
    return list(zip(lines, rows, strict=True))


def read_receipts(path: Path) -> list[tuple[int, Receipt]]:
    """Sponsor payments: sponsor_id,invoice_id,amount_cents,received_on,reference."""
    return [
        (line, Receipt(str(s), str(i or ""), int(str(a)), d, str(r)))  # type: ignore[arg-type]
        for line, (s, i, a, d, r) in _rows(path, "sponsor payments")
    ]


def read_bank_lines(path: Path) -> tuple[BankLine, ...]:
    """Bank confirmations: direction,trace,amount_cents,posted_on."""
    return tuple(
        BankLine(line, Direction(str(d)), str(t), int(str(a)), p)  # type: ignore[arg-type]
        for line, (d, t, a, p) in _rows(path, "bank confirmations")
    )
