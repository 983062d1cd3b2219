"""The field dictionary: two-character field IDs to NCPDP numbers, names and value kinds, and the
readable JSON form of a transmission that `rx-gateway ncpdp decode/encode` speak.

The dictionary itself (every D.0 segment and field of B1/B2/B3/E1 requests and responses, with
its kind) is pure data in rx_gateway.ncpdp.dictionary. The JSON keeps each field's raw wire
value, so encode(JSON) gives back the same bytes; the decoded value (money in cents, quantities
in thousandths, rates in ten-thousandths of a percent) is added for reading only.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from rx_gateway.ncpdp.codec import (
    CodecError,
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode_money,
    decode_quantity,
)
from rx_gateway.ncpdp.dictionary import FIELDS, SEGMENTS

__all__ = ["FIELDS", "HEADER_FIELDS", "SEGMENTS", "decoded_value", "from_json", "to_json"]

UNITS = {"money": "cents", "quantity": "thousandths", "rate": "ten-thousandths of a percent"}

HEADER_FIELDS = {
    "bin": "101-A1 BIN Number",
    "version": "102-A2 Version/Release Number",
    "transaction_code": "103-A3 Transaction Code",
    "processor_control_number": "104-A4 Processor Control Number",
    "transaction_count": "109-A9 Transaction Count",
    "service_provider_id_qualifier": "202-B2 Service Provider ID Qualifier",
    "service_provider_id": "201-B1 Service Provider ID",
    "date_of_service": "401-D1 Date of Service",
    "software_vendor_id": "110-AK Software Vendor/Certification ID",
    "header_response_status": "501-F1 Header Response Status",
}


def decoded_value(field_id: str, raw: str) -> Any:
    """The typed value of a field for reading: cents, thousandths, ten-thousandths of a percent
    or an integer; the raw text when the field is text, unknown, or not well formed."""
    kind = FIELDS.get(field_id, ("", "", "text"))[2]
    try:
        if kind in {"money", "rate"}:  # both signed overpunch; a rate has 4 implied decimals
            return decode_money(raw)
        if kind == "quantity":
            return decode_quantity(raw)
        if kind == "number":
            return int(raw)
    except (CodecError, ValueError):
        return raw
    return raw


def _segment_json(segment: Segment) -> dict[str, Any]:
    described = []
    for field_id, raw in segment.fields:
        number, name, kind = FIELDS.get(field_id, ("", "unknown field", "text"))
        item: dict[str, Any] = {"id": field_id, "raw": raw}
        if number:
            item |= {"field": number, "name": name}
            value = decoded_value(field_id, raw)
            if value != raw:
                item["value"] = value
                item["unit"] = UNITS.get(kind, "")
        else:
            item["name"] = name
        described.append(item)
    return {
        "segment": segment.segment_id,
        "name": SEGMENTS.get(segment.segment_id, "unknown segment"),
        "fields": described,
    }


def to_json(transmission: Transmission) -> dict[str, Any]:
    """A readable transmission: header fields with their NCPDP names, then the segments."""
    header = transmission.header
    kind = "request" if isinstance(header, RequestHeader) else "response"
    return {
        "kind": kind,
        "header": {
            name: {"value": value, "field": HEADER_FIELDS[name]}
            for name, value in asdict(header).items()
        },
        "segments": [_segment_json(s) for s in transmission.segments],
        "transactions": [[_segment_json(s) for s in group] for group in transmission.transactions],
    }


def _string(value: Any, place: str) -> str:
    if not isinstance(value, str):
        raise CodecError("R8", f"{place} must be a string, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _listed(value: Any, place: str) -> list[Any]:
    if not isinstance(value, list):
        raise CodecError("R8", f"{place} must be a list, got {_json_type(value)}")
    return value


def _object(value: Any, place: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError("R8", f"{place} must be an object, got {_json_type(value)}")
    return value


def _segment_of(document: Any, place: str) -> Segment:
    segment = _object(document, place)
    if "segment" not in segment or "fields" not in segment:
        raise CodecError("R8", f"{place} must have 'segment' and 'fields'")
    fields_ = []
    for index, item in enumerate(_listed(segment["fields"], f"{place}.fields")):
        field = _object(item, f"{place}.fields[{index}]")
        if "id" not in field or "raw" not in field:
            raise CodecError("R8", f"{place}.fields[{index}] must have 'id' and 'raw'")
        fields_.append(
            (
                _string(field["id"], f"{place}.fields[{index}].id"),
                _string(field["raw"], f"{place}.fields[{index}].raw"),
            )
        )
    return Segment(_string(segment["segment"], f"{place}.segment"), tuple(fields_))


def from_json(document: Any) -> Transmission:
    """The inverse of :func:`to_json` (only ``raw`` values are read). Raises CodecError (R8)
    naming the place of the first value that is missing or not of its type."""
    root = _object(document, "the document")
    kind = root.get("kind")
    if kind not in ("request", "response"):
        raise CodecError("R8", 'kind must be "request" or "response"')
    header_type = RequestHeader if kind == "request" else ResponseHeader
    header = _object(root.get("header"), "header")
    values = {}
    for f in fields(header_type):
        if f.name not in header:
            raise CodecError("R8", f"header.{f.name} is missing")
        item = header[f.name]
        value = item.get("value") if isinstance(item, dict) else item
        values[f.name] = _string(value, f"header.{f.name}")
    segments = _listed(root.get("segments", []), "segments")
    groups = _listed(root.get("transactions", []), "transactions")
    return Transmission(
        header_type(**values),
        tuple(_segment_of(s, f"segments[{i}]") for i, s in enumerate(segments)),
        tuple(
            tuple(
                _segment_of(s, f"transactions[{g}][{i}]")
                for i, s in enumerate(_listed(group, f"transactions[{g}]"))
            )
            for g, group in enumerate(groups)
        ),
    )
