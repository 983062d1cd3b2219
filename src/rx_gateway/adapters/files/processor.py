"""processor.json: who the processor is on the 835 (the payer) and in its envelope.

{
  "name": "RX GATEWAY PLAN",           N1*PR
  "address": "1 MAIN ST",              N3
  "city": "AUSTIN", "state": "TX", "postal_code": "78701",     N4
  "tin": "987654321",                  TRN03 is "1" + the EIN
  "contact_name": "EDI", "contact_phone": "8005550100",       PER*BL
  "interchange_id": "RXGW",            ISA06 / GS02 (at most 15 characters)
  "bank_routing_number": "011000015",  optional: BPR07 (payments by ACH)
  "bank_account_number": "1234567"     optional: BPR09
}
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rx_gateway.adapters.document_reader import Reader
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.settlement.parties import Payer
from rx_gateway.jsontext import parse_json

NAME = "processor.json"
RULES: dict[str, tuple[str, str]] = {
    "name": (r"[ -~]{1,60}", "must be 1-60 printable characters"),
    "address": (r"[ -~]{1,55}", "must be 1-55 printable characters"),
    "city": (r"[ -~]{1,30}", "must be 1-30 printable characters"),
    "state": (r"[A-Z]{2}", "must be a two-letter state code"),
    "postal_code": (r"[0-9]{5}([0-9]{4})?", "must be 5 or 9 digits"),
    "tin": (r"[0-9]{9}", "must be the 9-digit EIN"),
    "contact_name": (r"[ -~]{1,60}", "must be 1-60 printable characters"),
    "contact_phone": (r"[0-9]{10}", "must be 10 digits"),
    "interchange_id": (r"[A-Za-z0-9 ]{1,15}", "must be 1-15 letters or digits"),
    "bank_routing_number": (r"([0-9]{9})?", "must be a 9-digit ABA routing number"),
    "bank_account_number": (r"[0-9A-Za-z-]{0,35}", "must be at most 35 letters or digits"),
}
OPTIONAL = frozenset({"bank_routing_number", "bank_account_number"})


def read_payer(path: Path) -> Payer:
    """The payer, every field checked; one error naming the field otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ReferenceDataError(str(path), 0, "(file)", f"cannot be read: {error}") from None
    try:
        doc = parse_json(text)
    except json.JSONDecodeError as error:
        raise ReferenceDataError(
            str(path), error.lineno, "(json)", f"not JSON: {error.msg}"
        ) from None
    reader = Reader(str(path), text)
    if not isinstance(doc, dict):
        raise reader.fail((), "the processor is a JSON object")
    unknown = sorted(set(doc) - set(RULES))
    if unknown:
        raise reader.fail((unknown[0],), f"is not a field of {NAME}: {', '.join(RULES)}")
    values: dict[str, str] = {}
    for key, (pattern, rule) in RULES.items():
        value = reader.get(doc, (key,), str, default="" if key in OPTIONAL else ...)
        if not re.fullmatch(pattern, value):
            raise reader.fail((key,), f"{rule}, got {value!r}")
        values[key] = value
    if bool(values["bank_routing_number"]) != bool(values["bank_account_number"]):
        raise reader.fail(("bank_routing_number",), "give both bank numbers or neither")
    return Payer(**values)
