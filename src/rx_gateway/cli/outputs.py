"""Where the file-writing commands put what they write (export, simulate, utilization): checked
before anything is read, so a mistake in --out is one line and nothing is done."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rx_gateway.domain.errors import RxGatewayError


def check_writable_file(out: Path) -> None:
    """--out must name a file in a directory we can write (export eob, export pde)."""
    if out.is_dir():
        msg = f"--out {out}: is a directory, not a file"
        raise RxGatewayError(msg)
    parent = out.parent
    if not parent.is_dir():
        msg = f"--out {out}: directory {parent} does not exist"
        raise RxGatewayError(msg)
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        msg = f"--out {out}: not writable"
        raise RxGatewayError(msg)


def check_report_dir(out: Path) -> None:
    """--out must be a directory, or one to create in an existing one (simulate, utilization)."""
    if out.exists() and not out.is_dir():
        msg = f"--out {out}: is a file, not a directory"
        raise RxGatewayError(msg)
    if not out.parent.is_dir():
        msg = f"--out {out}: directory {out.parent} does not exist"
        raise RxGatewayError(msg)


def write_report_dir(out: Path, markdown: str, document: dict[str, Any]) -> None:
    """A report's two files: report.json and report.md under ``out``."""
    try:
        out.mkdir(exist_ok=True)
        (out / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        (out / "report.md").write_text(markdown, encoding="utf-8")
    except OSError as error:
        msg = f"--out {out}: cannot write: {error.strerror or error}"
        raise RxGatewayError(msg) from None
