"""rx_gateway.jsontext.parse_json: every way a person's JSON can be wrong is a JSONDecodeError."""

from __future__ import annotations

import json

import pytest

from rx_gateway.jsontext import parse_json


def test_json_parses_as_json_does() -> None:
    assert parse_json('{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}
    assert parse_json(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ("9" * 5_000, "a number longer than 4300 digits"),
        ('{"a": ', "Expecting value"),
        (b'{"a": "caf\xe9"}', "not UTF-8"),  # a UnicodeDecodeError is a ValueError too
    ],
    ids=["nested", "nested bytes", "a long integer", "syntax", "latin-1 bytes"],
)
def test_what_json_cannot_take_is_a_decode_error(text: str | bytes, message: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=message) as raised:
        parse_json(text)
    assert raised.value.lineno >= 1
