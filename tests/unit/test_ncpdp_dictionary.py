"""The D.0 field dictionary (issue 15, "Readable on the wire"): every segment and field D.0 defines
for B1/B2/B3/E1 requests and responses is named, money decodes to cents (signed overpunch, two
implied decimals), quantities to thousandths and sales-tax rates to ten-thousandths of a percent.

Transmissions are built with the codec and read back the way `rx-gateway ncpdp decode` does:
``to_json(decode(bytes))``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rx_gateway.ncpdp.codec import (
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode,
    encode,
)
from rx_gateway.ncpdp.dictionary import FIELDS, SEGMENT_FIELDS, SEGMENTS
from rx_gateway.ncpdp.fields import from_json, to_json

REQUEST_SEGMENT_IDS = [f"{n:02d}" for n in range(1, 17)]
RESPONSE_SEGMENT_IDS = [str(n) for n in range(20, 30)]
KINDS = {"text", "number", "money", "quantity", "rate"}
UNITS = {"money": "cents", "quantity": "thousandths", "rate": "ten-thousandths of a percent"}
POSITIVE, NEGATIVE = "{ABCDEFGHI", "}JKLMNOPQR"

REQUEST_HEADER = RequestHeader(
    "610999", "D0", "B1", "RXGCOMM", "1", "01", "1234567893", "20261101", "VENDOR0001"
)
RESPONSE_HEADER = ResponseHeader("D0", "B1", "1", "A", "01", "1234567893", "20261101")


def _seg(segment_id: str, *fields: tuple[str, str]) -> Segment:
    return Segment(segment_id, tuple(fields))


def _alone(field_id: str, *raws: str) -> Transmission:
    """A transmission whose one transaction holds the field's segment with those values."""
    segment_id = next(s for s, layout in SEGMENT_FIELDS.items() if field_id in layout)
    header = REQUEST_HEADER if segment_id in REQUEST_SEGMENT_IDS else RESPONSE_HEADER
    segment = Segment(segment_id, tuple((field_id, raw) for raw in raws))
    return Transmission(header, (), ((segment,),))


def _read(transmission: Transmission) -> dict[str, Any]:
    """What `rx-gateway ncpdp decode` prints for these bytes."""
    return to_json(decode(encode(transmission)))


def _segments(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [*document["segments"], *(s for group in document["transactions"] for s in group)]


def _fields(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for segment in _segments(document) for f in segment["fields"]]


def _assert_all_named(document: dict[str, Any]) -> None:
    for segment in _segments(document):
        assert segment["name"] == SEGMENTS[segment["segment"]]
    for field in _fields(document):
        assert "field" in field, field
        assert field["name"] == FIELDS[field["id"]][1]


def _values(document: dict[str, Any]) -> dict[str, list[Any]]:
    """field ID → its decoded values in wire order (the raw text where nothing is decoded)."""
    values: dict[str, list[Any]] = {}
    for field in _fields(document):
        values.setdefault(field["id"], []).append(field.get("value", field["raw"]))
    return values


# ------------------------------------------------------------------ the dictionary itself


@pytest.mark.parametrize("segment_id", REQUEST_SEGMENT_IDS + RESPONSE_SEGMENT_IDS)
def test_every_d0_segment_is_named(segment_id: str) -> None:
    assert SEGMENTS[segment_id]
    assert "unknown" not in SEGMENTS[segment_id].lower()
    assert SEGMENT_FIELDS[segment_id], "each segment lists its fields"


def test_segment_names_are_ncpdps() -> None:
    """ncpdp-d0.md §1.4 and §2.2 (cosyte's "26 Response Patient" is wrong; 29 is)."""
    assert SEGMENTS["05"] == "Coordination of Benefits/Other Payments"
    assert SEGMENTS["06"] == "Workers' Compensation"
    assert SEGMENTS["26"] == "Response Prior Authorization"
    assert SEGMENTS["27"] == "Response Insurance Additional Information"
    assert SEGMENTS["28"] == "Response Coordination of Benefits/Other Payers"
    assert SEGMENTS["29"] == "Response Patient"
    assert set(SEGMENTS) == set(REQUEST_SEGMENT_IDS + RESPONSE_SEGMENT_IDS) == set(SEGMENT_FIELDS)


@pytest.mark.parametrize("field_id", sorted(FIELDS))
def test_every_field_has_its_number_a_name_and_a_kind(field_id: str) -> None:
    number, name, kind = FIELDS[field_id]
    assert re.fullmatch(rf"\d{{3}}-{re.escape(field_id)}", number), number
    assert name
    assert "unknown" not in name.lower()
    assert kind in KINDS


def test_a_field_shared_by_segments_is_one_field() -> None:
    """C1 in 04 and 25, 5C in 05 and 28, ...: a field ID means the same field everywhere."""
    for layout in SEGMENT_FIELDS.values():
        for field_id, field in layout.items():
            assert FIELDS[field_id] == field
    assert set(FIELDS) == {f for layout in SEGMENT_FIELDS.values() for f in layout}


def test_kinds_of_amounts_quantities_and_rates() -> None:
    rates = {f for f, (_, _, kind) in FIELDS.items() if kind == "rate"}
    quantities = {f for f, (_, _, kind) in FIELDS.items() if kind == "quantity"}
    assert rates == {"HE", "AY"}
    assert {"E7", "ET", "EB", "HF", "ED", "FV", "RA", "PX"} == quantities
    for field_id in ("DV", "NQ", "MW", "NE", "EE", "H9", "HA", "GE", "E3", "DX", "BE", "N3", "4H"):
        assert FIELDS[field_id][2] == "money", field_id
    for field_id in ("AS", "AT", "AW", "AX", "FL", "J1", "J4", "J5", "FN", "EQ", "2Y", "NZ"):
        assert FIELDS[field_id][2] == "money", field_id
    for field_id in ("G3", "UP", "U8", "U9", "RB", "F5", "F9", "UD"):
        assert FIELDS[field_id][2] == "money", field_id
    for field_id in ("JE", "AZ", "HC", "NP", "H8", "J3", "5C", "6C"):  # codes, not amounts
        assert FIELDS[field_id][2] == "text", field_id


# ------------------------------------------------------------------ decoding with the dictionary


@pytest.mark.parametrize("segment_id", sorted(SEGMENT_FIELDS))
def test_every_field_of_every_segment_decodes_named(segment_id: str) -> None:
    segment = Segment(segment_id, tuple((field_id, "1") for field_id in SEGMENT_FIELDS[segment_id]))
    header = REQUEST_HEADER if segment_id in REQUEST_SEGMENT_IDS else RESPONSE_HEADER
    document = _read(Transmission(header, (), ((segment,),)))
    _assert_all_named(document)
    assert [f["id"] for f in _fields(document)] == list(SEGMENT_FIELDS[segment_id])


MONEY = sorted(f for f, (_, _, kind) in FIELDS.items() if kind == "money")


@pytest.mark.parametrize("field_id", MONEY)
def test_every_money_field_decodes_to_signed_cents(field_id: str) -> None:
    """Overpunch: {, A-I are +0..+9 and }, J-R are -0..-9 in the last digit."""
    raws = [f"12{POSITIVE[d]}" for d in range(10)] + [f"12{NEGATIVE[d]}" for d in range(10)]
    document = _read(_alone(field_id, *raws))
    decoded = _fields(document)
    assert [f["value"] for f in decoded] == [120 + d for d in range(10)] + [
        -(120 + d) for d in range(10)
    ]
    assert {f["unit"] for f in decoded} == {"cents"}


@pytest.mark.parametrize(
    ("field_id", "raw", "value"),
    [
        ("HE", "6000{", 60_000),  # 6.0000% (s9v9999)
        ("AY", "6000{", 60_000),
        ("HE", "825{", 8_250),  # 0.8250%
        ("AY", "100000{", 1_000_000),  # 100%
        ("HE", "5J", -51),  # signed, like money
        ("E7", "30000", 30_000),  # 30.000 units (9(7)v999)
        ("ED", "1500", 1_500),
        ("FV", "90000", 90_000),
        ("RA", "60000", 60_000),
    ],
)
def test_rates_and_quantities(field_id: str, raw: str, value: int) -> None:
    (field,) = _fields(_read(_alone(field_id, raw)))
    assert field["value"] == value
    assert field["unit"] == UNITS[FIELDS[field_id][2]]


# ------------------------------------------------------------------ the transmissions of issue 15

B1_SECONDARY_COMPOUND = Transmission(
    REQUEST_HEADER,
    (
        _seg("04", ("C2", "RXG123456789"), ("C1", "EMP1-FT"), ("C3", "001"), ("C6", "1")),
        _seg(
            "01",
            ("C4", "19800412"),
            ("C5", "2"),
            ("CA", "JANE"),
            ("CB", "DOE"),
            ("CM", "1 MAIN ST"),
            ("CN", "SPRINGFIELD"),
            ("CO", "IL"),
            ("CP", "62701"),
            ("CQ", "2175550100"),
            ("C7", "01"),
            ("4X", "01"),
        ),
    ),
    (
        (
            _seg(
                "07",
                ("EM", "1"),
                ("D2", "000000123456"),
                ("E1", "00"),
                ("D7", "0"),
                ("E7", "100000"),
                ("D3", "00"),
                ("D5", "30"),
                ("D6", "2"),
                ("C8", "2"),
                ("NX", "1"),
                ("DK", "08"),
                ("G1", "04"),
            ),
            _seg(  # switch-claims.md §1: the primary paid 42.00, the patient owed 0.50 + 1.00
                "05",
                ("4C", "1"),
                ("5C", "01"),
                ("6C", "03"),
                ("7C", "610014"),
                ("E8", "20260105"),
                ("HB", "1"),
                ("HC", "07"),
                ("DV", "420{"),
                ("NR", "2"),
                ("NP", "01"),
                ("NQ", "50{"),
                ("NP", "05"),
                ("NQ", "100{"),
            ),
            _seg("08", ("7E", "1"), ("E4", "TD"), ("E5", "M0"), ("E6", "1G")),
            _seg(
                "10",
                ("EF", "10"),
                ("EG", "2"),
                ("EC", "2"),
                ("RE", "03"),
                ("TE", "00093505601"),
                ("ED", "30000"),
                ("EE", "1200{"),
                ("UE", "01"),
                ("RE", "03"),
                ("TE", "00093505602"),
                ("ED", "60000"),
                ("EE", "4500{"),
                ("UE", "01"),
            ),
            _seg(
                "11",
                ("D9", "5700{"),
                ("DC", "20{"),
                ("E3", "100{"),
                ("H7", "1"),
                ("H8", "01"),
                ("H9", "300{"),
                ("HA", "25{"),
                ("GE", "612B"),
                ("HE", "6000{"),
                ("JE", "03"),
                ("DX", "0{"),
                ("DU", "1123G"),
                ("DN", "01"),
            ),
        ),
    ),
)

B1_PAID_RESPONSE = Transmission(
    RESPONSE_HEADER,
    (
        _seg("20", ("F4", "PAID. COLLECT $15.74")),
        _seg("25", ("C1", "EMP1-FT"), ("FO", "PLAN1"), ("2F", "NET1"), ("J7", "03"), ("J8", "X1")),
        _seg("29", ("CA", "JANE"), ("CB", "DOE"), ("C4", "19800412")),
    ),
    (
        (
            _seg("21", ("AN", "P"), ("F3", "123456789012"), ("7F", "03"), ("8F", "8005550100")),
            _seg("22", ("EM", "1"), ("D2", "000000123456"), ("9F", "1"), ("AS", "250{")),
            _seg(
                "23",
                ("F5", "157D"),
                ("F6", "900{"),
                ("F7", "15{"),
                ("AV", "0"),
                ("AW", "25{"),
                ("AX", "549I"),
                ("AY", "6000{"),
                ("AZ", "03"),
                ("FL", "100{"),
                ("J2", "1"),
                ("J3", "01"),
                ("J4", "300{"),
                ("J5", "4200{"),
                ("F9", "855{"),
                ("FN", "574D"),
                ("EQ", "574D"),
                ("2Y", "0{"),
                ("UD", "250}"),
                ("4V", "01"),
            ),
            _seg("24", ("J6", "1"), ("E4", "TD"), ("FS", "1"), ("FU", "20260102"), ("FV", "30000")),
            _seg(
                "26",
                ("PR", "20260101"),
                ("PT", "20261231"),
                ("RA", "90000"),
                ("RB", "50000{"),
                ("PW", "3"),
                ("PX", "30000"),
                ("PY", "PA12345"),
            ),
            _seg("27", ("UR", "A"), ("UQ", "1"), ("U1", "S1234"), ("FF", "F1"), ("U6", "001")),
            _seg(
                "28",
                ("NT", "1"),
                ("5C", "01"),
                ("6C", "03"),
                ("7C", "610014"),
                ("MH", "OTHERPCN"),
                ("NU", "OTH123"),
                ("MJ", "GRP9"),
                ("UV", "01"),
                ("UB", "8005550199"),
                ("UW", "1"),
                ("UX", "20260101"),
                ("UY", "20261231"),
            ),
        ),
    ),
)


@pytest.mark.parametrize("transmission", [B1_SECONDARY_COMPOUND, B1_PAID_RESPONSE])
def test_issue_15_transmissions_have_no_unknown_field_or_segment(
    transmission: Transmission,
) -> None:
    document = _read(transmission)
    _assert_all_named(document)
    assert "unknown" not in str(document).lower()
    assert encode(from_json(document)) == encode(transmission)


def test_cob_dur_compound_and_pricing_decode() -> None:
    values = _values(_read(B1_SECONDARY_COMPOUND))
    expected = {
        # patient address
        "CM": ["1 MAIN ST"], "CN": ["SPRINGFIELD"], "CO": ["IL"], "CP": ["62701"],
        # COB (05): counts are numbers, qualifiers stay codes, amounts are cents
        "4C": [1], "5C": ["01"], "6C": ["03"], "7C": ["610014"], "HB": [1], "HC": ["07"],
        "DV": [4200], "NR": [2], "NP": ["01", "05"], "NQ": [500, 1000], "C8": ["2"],
        # DUR/PPS (08)
        "7E": [1], "E4": ["TD"], "E5": ["M0"], "E6": ["1G"],
        # compound (10): quantities in thousandths, ingredient costs in cents
        "EF": ["10"], "EG": ["2"], "EC": [2], "RE": ["03", "03"],
        "TE": ["00093505601", "00093505602"], "ED": [30_000, 60_000],
        "EE": [12_000, 45_000], "UE": ["01", "01"],
        # other amounts and taxes in pricing (11)
        "E3": [1000], "H7": [1], "H8": ["01"], "H9": [3000], "HA": [250],
        "GE": [6122],  # '612B': B overpunches the last digit, +2 → 612 2 = $61.22
        "HE": [60_000], "JE": ["03"], "DX": [0], "DU": [11_237],
    }  # fmt: skip
    for field_id, value in expected.items():
        assert values[field_id] == value, field_id


def test_response_fields_decode() -> None:
    values = _values(_read(B1_PAID_RESPONSE))
    expected = {
        "AW": [250], "AX": [5499], "AY": [60_000], "AZ": ["03"], "FL": [1000], "J2": [1],
        "J3": ["01"], "J4": [3000], "J5": [42_000], "FN": [5744], "EQ": [5744], "2Y": [0],
        "UD": [-2500], "AS": [2500], "9F": [1],
        "J6": [1], "FS": ["1"], "FV": [30_000],
        "RA": [90_000], "RB": [500_000], "PW": [3], "PX": [30_000], "PY": ["PA12345"],
        "UR": ["A"], "UQ": ["1"], "U1": ["S1234"], "FF": ["F1"], "U6": ["001"],
        "NT": [1], "MH": ["OTHERPCN"], "NU": ["OTH123"], "MJ": ["GRP9"], "UV": ["01"],
        "UB": ["8005550199"], "UW": ["1"],
        "C1": ["EMP1-FT"], "2F": ["NET1"], "J7": ["03"], "J8": ["X1"], "CA": ["JANE"],
    }  # fmt: skip
    for field_id, value in expected.items():
        assert values[field_id] == value, field_id


def test_the_other_amounts_and_taxes_example_adds_up() -> None:
    """switch-claims.md §6: DU = D9 + DC + HA + GE + E3 + H9 = 112.37 (`1123G`) and
    F9 = F6 + F7 + AW + AX + FL + J4 − F5 = 91.24 (`912D`), all read from the decoded cents."""
    request = _values(
        _read(
            Transmission(
                REQUEST_HEADER,
                (),
                (
                    (
                        _seg(
                            "11",
                            ("D9", "1000{"),
                            ("DC", "20{"),
                            ("E3", "10{"),
                            ("H7", "1"),
                            ("H8", "01"),
                            ("H9", "30{"),
                            ("HA", "2E"),
                            ("GE", "61B"),
                            ("HE", "6000{"),
                            ("JE", "03"),
                            ("DU", "1123G"),
                        ),
                    ),
                ),
            )
        )
    )
    assert request["HE"] == [60_000]  # 6%
    assert request["GE"] == [612]  # 6% × 102.00
    parts = ("D9", "DC", "HA", "GE", "E3", "H9")
    assert sum(request[f][0] for f in parts) == request["DU"][0] == 11_237

    response = _values(
        _read(
            Transmission(
                RESPONSE_HEADER,
                (),
                (
                    (
                        _seg(
                            "23",
                            ("F5", "100{"),
                            ("F6", "900{"),
                            ("F7", "15{"),
                            ("AW", "2E"),
                            ("AX", "54I"),
                            ("AY", "6000{"),
                            ("AZ", "03"),
                            ("FL", "10{"),
                            ("J2", "1"),
                            ("J3", "01"),
                            ("J4", "30{"),
                            ("F9", "912D"),
                            ("FI", "100{"),
                            ("FN", "57D"),
                            ("EQ", "57D"),
                        ),
                    ),
                ),
            )
        )
    )
    paid = sum(response[f][0] for f in ("F6", "F7", "AW", "AX", "FL", "J4")) - response["F5"][0]
    assert paid == response["F9"][0] == 9124
    assert response["AX"] == [549]  # 6% × 91.50
    assert response["FN"] == response["EQ"] == [574]
