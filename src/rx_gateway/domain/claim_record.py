"""A B1 request as a JSON-ready record and back: what a replay of stored claims needs.

The claim row keeps the claim key, member, pharmacy, product, quantity, days supply and 430-DU,
and its stored response; the rest of what was sent (prescriber, DAW, U&C, the submitted costs,
the clarification codes, DUR, COB, compound segments, ...) is not there and the request hash is
a digest only. The claim path therefore keeps the request with the claim's audit row (its
``detail.request``), paid or rejected, in the same write as the claim: no migration, no change
of the SQL functions. The cardholder ID is left out (it is the member's: the row names the
member); the processor's business date of the decision is kept (timely filing depends on it).

Pure: the standard library only, and the round trip is exact (``request_from_record`` of
``request_to_record`` equals the request).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from typing import Any

from rx_gateway.domain.claim import ClaimRequest

RECORD_VERSION = 1
_OMITTED = ("cardholder_id",)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _init_fields(kind: type) -> tuple[str, ...]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind) if f.init)
    return names


def _encode(value: object) -> Any:
    """JSON-ready values (on the claim path: each paid or rejected claim's audit row)."""
    kind = type(value)
    if kind is str or kind is int or value is None:
        return value
    if kind is tuple or kind is list:
        return [_encode(v) for v in value]  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value):
        return {name: _encode(getattr(value, name)) for name in _init_fields(kind)}
    return value


def request_to_record(request: ClaimRequest, business_date: dt.date) -> dict[str, Any]:
    """The request as JSON-ready values (every field but the cardholder ID), with the business
    date its decision was made on."""
    encoded: dict[str, Any] = _encode(request)
    record = dict(encoded)
    for name in _OMITTED:
        record.pop(name, None)
    record["v"] = RECORD_VERSION
    record["business_date"] = business_date.isoformat()
    return record


def _decode(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        arguments = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(arguments[0], value)
    if origin is tuple:
        items = typing.get_args(kind)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_decode(items[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(items, value, strict=True))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(
            **{
                f.name: _decode(hints[f.name], value[f.name])
                for f in dataclasses.fields(kind)
                if f.init and f.name in value
            }
        )
    if kind is int and isinstance(value, bool):
        return int(value)
    return value


def request_from_record(record: dict[str, Any], cardholder_id: str) -> ClaimRequest:
    """The request a record was made of, the member's cardholder ID put back.

    Raises ValueError (or KeyError/TypeError) for a record that is not one."""
    if record.get("v") != RECORD_VERSION:
        msg = f"unknown request record version {record.get('v')!r}"
        raise ValueError(msg)
    fields = dict(record)
    fields["cardholder_id"] = cardholder_id
    request: ClaimRequest = _decode(ClaimRequest, fields)
    return request


def record_business_date(record: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(record["business_date"])
