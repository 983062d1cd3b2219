"""The D.0 codec: overpunch for every digit and sign, round trips (hypothesis), tolerance of
unknown fields and segment order, and a corpus of transmissions written for this project, each
with its expected decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rx_gateway.domain.syntax import validate_claim
from rx_gateway.ncpdp.codec import (
    ETX,
    FS,
    GS,
    RS,
    STX,
    CodecError,
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode,
    decode_money,
    decode_quantity,
    encode,
    encode_money,
)
from rx_gateway.ncpdp.fields import from_json, to_json
from rx_gateway.ncpdp.requests import claim_request

POSITIVE, NEGATIVE = "{ABCDEFGHI", "}JKLMNOPQR"


@pytest.mark.parametrize("digit", range(10))
def test_overpunch_every_digit_and_sign(digit: int) -> None:
    assert decode_money(f"12{POSITIVE[digit]}") == 120 + digit
    assert decode_money(f"12{NEGATIVE[digit]}") == -(120 + digit)
    assert encode_money(120 + digit) == f"12{POSITIVE[digit]}"
    assert encode_money(-(120 + digit)) == f"12{NEGATIVE[digit]}"


@pytest.mark.parametrize(
    ("raw", "cents"),
    [("650{", 6500), ("00035}", -350), ("00035J", -351), ("{", 0), ("557{", 5570), ("1234", 1234)],
)
def test_reference_examples(raw: str, cents: int) -> None:
    assert decode_money(raw) == cents


@pytest.mark.parametrize("raw", ["", "12X", "1.5{", "-12{", "A1{"])
def test_bad_amounts_are_syntax_errors(raw: str) -> None:
    with pytest.raises(CodecError) as caught:
        decode_money(raw)
    assert caught.value.reject == "R8"


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_money_round_trip(cents: int) -> None:
    assert decode_money(encode_money(cents)) == cents


def test_quantity_has_three_implied_decimals() -> None:
    assert decode_quantity("30000") == 30_000  # 30.000 units
    with pytest.raises(CodecError):
        decode_quantity("30.5")


_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=12
)
_field = st.tuples(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=2, max_size=2), _text
)
_segment = st.builds(
    Segment,
    st.text(alphabet="0123456789X", min_size=2, max_size=2),
    st.lists(_field, max_size=8).map(tuple),
)
_request_header = st.builds(
    RequestHeader,
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.just("D0"),
    st.sampled_from(["B1", "B2", "B3", "E1"]),
    st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=10),
    st.sampled_from(["1", "2", "3", "4"]),
    st.just("01"),
    st.text(alphabet="0123456789", min_size=10, max_size=15),
    st.just("20261101"),
    st.text(alphabet="ABC123", max_size=10),
)
_response_header = st.builds(
    ResponseHeader,
    st.just("D0"),
    st.sampled_from(["B1", "B2", "E1"]),
    st.sampled_from(["1", "2"]),
    st.sampled_from(["A", "R"]),
    st.just("01"),
    st.text(alphabet="0123456789", min_size=10, max_size=15),
    st.just("20261101"),
)


@given(
    st.one_of(_request_header, _response_header),
    st.lists(_segment, max_size=3).map(tuple),
    st.lists(st.lists(_segment, min_size=1, max_size=4).map(tuple), min_size=1, max_size=4).map(
        tuple
    ),
)
def test_decode_encode_round_trip(header, segments, transactions) -> None:  # type: ignore[no-untyped-def]
    """decode(encode(x)) == x, and the readable JSON form round-trips too."""
    transmission = Transmission(header, segments, transactions)
    data = encode(transmission)
    assert decode(data) == transmission
    assert encode(from_json(to_json(decode(data)))) == data
    assert decode(STX.encode() + data + ETX.encode()) == transmission


# ------------------------------------------------------------------ the corpus

HEADER_B1 = "610999D0B1RXGCOMM   1011234567893     20261101VENDOR0001"
HEADER_B1_2 = HEADER_B1.replace("B1RXGCOMM   1", "B1RXGCOMM   2")
INSURANCE = f"{RS}{FS}AM04{FS}C2RXG123456789{FS}C1EMP1-FT{FS}C3001{FS}C61"
PATIENT = f"{RS}{FS}AM01{FS}C419800412{FS}C52"
CLAIM = f"{RS}{FS}AM07{FS}EM1{FS}D2000000123456{FS}E103{FS}D700093505601{FS}E730000{FS}D300{FS}D530{FS}D80"
PRICING = f"{RS}{FS}AM11{FS}D9650{{{FS}DC20{{{FS}DQ1000{{{FS}DU670{{{FS}DN01"

CORPUS: dict[str, tuple[str, dict[str, object]]] = {
    # name: (wire text, expected decoding: header fields, segment IDs per level, typed values)
    "b1_single": (
        HEADER_B1 + INSURANCE + PATIENT + GS + CLAIM + PRICING,
        {
            "header": {
                "bin": "610999",
                "transaction_code": "B1",
                "processor_control_number": "RXGCOMM",
                "transaction_count": "1",
                "service_provider_id": "1234567893",
            },
            "levels": [["04", "01"], ["07", "11"]],
            "values": {"E7": 30_000, "D9": 6500, "DC": 200, "DQ": 10_000, "DU": 6700, "C6": 1},
        },
    ),
    "b1_two_transactions_segments_reordered": (
        HEADER_B1_2
        + PATIENT
        + INSURANCE
        + GS
        + PRICING
        + CLAIM
        + GS
        + CLAIM.replace("123456", "123457")
        + PRICING,
        {
            "header": {"transaction_count": "2"},
            "levels": [["01", "04"], ["11", "07"], ["07", "11"]],
            "values": {"D2": "000000123457"},
        },
    ),
    "b1_compound": (
        HEADER_B1
        + INSURANCE
        + GS
        + CLAIM.replace("E103", "E100").replace("D700093505601", "D70")
        + f"{RS}{FS}AM10{FS}EC02{FS}RE03{FS}TE00093505601{FS}ED10000{FS}EE250{{{FS}RE03{FS}TE00093505602{FS}ED20000{FS}EE125{{"
        + PRICING,
        {"header": {}, "levels": [["04"], ["07", "10", "11"]], "values": {"E1": "00"}},
    ),
    "b1_unknown_segment_and_fields": (
        HEADER_B1
        + INSURANCE
        + f"{FS}&BSWITCHDATA"
        + GS
        + CLAIM
        + f"{RS}{FS}AMXX{FS}**VENDOR"
        + PRICING,
        {
            "header": {},
            "levels": [["04"], ["07", "XX", "11"]],
            "values": {"&B": "SWITCHDATA", "**": "VENDOR"},
        },
    ),
    "b2_reversal": (
        HEADER_B1.replace("B1", "B2", 1)
        + INSURANCE
        + GS
        + f"{RS}{FS}AM07{FS}EM1{FS}D2000000123456{FS}E103{FS}D700093505601{FS}D300",
        {"header": {"transaction_code": "B2"}, "levels": [["04"], ["07"]], "values": {"D3": 0}},
    ),
    "b3_rebill": (
        HEADER_B1.replace("B1", "B3", 1)
        + INSURANCE
        + GS
        + CLAIM.replace("E730000", "E760000")
        + PRICING,
        {
            "header": {"transaction_code": "B3"},
            "levels": [["04"], ["07", "11"]],
            "values": {"E7": 60_000},
        },
    ),
    "e1_eligibility": (
        HEADER_B1.replace("B1", "E1", 1) + INSURANCE + PATIENT + GS,
        {"header": {"transaction_code": "E1"}, "levels": [["04", "01"], []], "values": {"C5": 2}},
    ),
    "b1_wrapped_in_stx_etx": (
        STX + HEADER_B1 + INSURANCE + GS + CLAIM + PRICING + ETX,
        {"header": {"bin": "610999"}, "levels": [["04"], ["07", "11"]], "values": {}},
    ),
    "response_paid": (
        "D0B11A011234567893     20261101"
        + f"{RS}{FS}AM20{FS}F4Paid. Collect $10.00"
        + GS
        + f"{RS}{FS}AM21{FS}ANP{FS}F3123456789012{FS}A7ABCDEF0123456789"
        + f"{RS}{FS}AM22{FS}EM1{FS}D2000000123456"
        + f"{RS}{FS}AM23{FS}F5100{{{FS}F6557{{{FS}F7100{{{FS}F9557{{{FS}FM01{FS}UD{{{FS}UC2500{{",
        {
            "header": {"header_response_status": "A"},
            "levels": [["20"], ["21", "22", "23"]],
            "values": {"F5": 1000, "F9": 5570, "AN": "P"},
        },
    ),
    "response_rejected_duplicate": (
        "D0B11A011234567893     20261101"
        + GS
        + f"{RS}{FS}AM21{FS}ANR{FS}FA2{FS}FB83{FS}FB79{FS}UF1{FS}UH01{FS}FQReverse the paid claim first",
        {"header": {}, "levels": [[], ["21"]], "values": {"FA": 2, "AN": "R"}},
    ),
    "response_header_reject": (
        "D0B11R011234567893     20261101"
        + f"{RS}{FS}AM20{FS}F4Syntax Error"
        + GS
        + f"{RS}{FS}AM21{FS}ANR{FS}FA1{FS}FBR8",
        {
            "header": {"header_response_status": "R"},
            "levels": [["20"], ["21"]],
            "values": {"FB": "R8"},
        },
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_decodes_as_expected_and_round_trips(name: str) -> None:
    wire, expected = CORPUS[name]
    transmission = decode(wire.encode("ascii"))
    header = to_json(transmission)["header"]
    for field, value in expected["header"].items():  # type: ignore[attr-defined]
        assert header[field]["value"] == value
    levels = [[s.segment_id for s in transmission.segments]] + [
        [s.segment_id for s in group] for group in transmission.transactions
    ]
    assert levels == expected["levels"]
    decoded = {
        f["id"]: f.get("value", f["raw"])
        for group in [to_json(transmission)["segments"], *to_json(transmission)["transactions"]]
        for segment in group
        for f in segment["fields"]
    }
    for field, value in expected["values"].items():  # type: ignore[attr-defined]
        assert decoded[field] == value
    unwrapped = wire.strip(STX + ETX).encode("ascii")
    assert encode(transmission) == unwrapped


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"610999D0B1",
        b"610999D0B1RXGCOMM   1011234567893     20261101VENDOR0001\x1eX",
        "é".encode(),
    ],
)
def test_unreadable_transmissions_are_r8(data: bytes) -> None:
    with pytest.raises(CodecError) as caught:
        decode(data)
    assert caught.value.reject == "R8"


@pytest.mark.parametrize("raw", ["X", "1.5", "2147483648", "-2147483649"])
def test_a_refills_authorized_field_the_codec_cannot_read_is_29(raw: str) -> None:
    """415-DF that is not a number (or past int32): M/I Number of Refills Authorized (29) for
    its transaction, as the structured door answers out-of-range counts, not the generic 1V."""
    from rx_gateway.domain.rejects import RejectCode
    from rx_gateway.ncpdp.codec import Segment
    from rx_gateway.ncpdp.requests import FieldProblem, _number

    with pytest.raises(FieldProblem) as raised:
        _number(Segment("07", (("DF", raw),)), "DF")
    assert raised.value.code is RejectCode.MI_REFILLS_AUTHORIZED


@pytest.mark.parametrize("raw", ["X", "1.5", "1-"])
def test_a_level_of_effort_the_codec_cannot_read_is_8e(raw: str) -> None:
    """474-8E that is not a number: M/I DUR/PPS Level of Effort (8E), not the reason code E4."""
    from rx_gateway.domain.rejects import RejectCode
    from rx_gateway.ncpdp.codec import decode_number
    from rx_gateway.ncpdp.requests import FieldProblem, _typed_value

    with pytest.raises(FieldProblem) as raised:
        _typed_value(raw, "8E", decode_number)
    assert raised.value.code is RejectCode.MI_DUR_LEVEL_OF_EFFORT


def _document() -> dict[str, object]:
    import json

    return json.loads(
        json.dumps(to_json(decode((HEADER_B1 + INSURANCE + PATIENT + GS + CLAIM).encode())))
    )


@pytest.mark.parametrize(
    ("edit", "place"),
    [
        (lambda d: d["header"]["bin"].update(value=None), "header.bin"),
        (lambda d: d["header"].update(bin=610999), "header.bin"),
        (lambda d: d["segments"][0].update(segment=4), "segments[0].segment"),
        (lambda d: d["segments"][0]["fields"][0].update(raw=[1, 2]), "segments[0].fields[0].raw"),
        (lambda d: d["transactions"][0][0]["fields"][1].update(id=None), "transactions[0][0]"),
        (lambda d: d.update(segments="AM04"), "segments"),
        (lambda d: d.update(header=[]), "header"),
        (lambda d: d.update(kind="claim"), "kind"),
    ],
)
def test_a_transmission_document_of_wrong_types_names_the_place(edit: object, place: str) -> None:
    """`rx-gateway ncpdp encode` wrote None as the BIN, [1, 2] into a field and 4 as AM4, and
    exited 0: a value that is not a string (a list that is not a list) is R8 naming where."""
    document = _document()
    assert encode(from_json(document))  # the unedited document encodes
    edit(document)  # type: ignore[operator]
    with pytest.raises(CodecError) as raised:
        from_json(document)
    assert place in raised.value.message, raised.value.message


def test_the_readmes_example_transmission_encodes_and_reads_as_its_claim() -> None:
    """docs/examples/b1-transmission.json (a newcomer had no transmission to decode): `ncpdp
    encode` makes its bytes, `decode` gives the same JSON back, and it is the README's
    hand-sent claim (Rx 2), with no M/I reject."""
    example = json.loads(
        (Path(__file__).parents[2] / "docs" / "examples" / "b1-transmission.json").read_text()
    )
    data = encode(from_json(example))
    assert data.startswith(b"610999D0B1RXGCOMM")
    assert to_json(decode(data)) == example
    claim = claim_request(decode(data), 0)
    assert validate_claim(claim) == []
    assert (claim.cardholder_id, claim.prescription_reference_number, claim.product_id) == (
        "RXG646025021",
        "000000000002",
        "23452984779",
    )
    assert claim.gross_amount_due_cents == 33_673


HEADER = "610999D0B1RXGCOMM   1011234567893     20261101VENDOR0001"


def test_a_byte_past_ascii_after_the_header_stays_in_its_field_and_cannot_be_encoded() -> None:
    """The codec keeps such a byte where it was (the transmit door rejects that field's
    transaction, naming it); in the header it is the whole transmission's R8; and nothing
    past ASCII is ever written."""
    data = (HEADER + "\x1e\x1cAM04\x1cC2ABC\xe9\x1d\x1e\x1cAM07\x1cD2123").encode("latin-1")
    transmission = decode(data)
    assert transmission.segments[0].get("C2") == "ABC\u00e9"
    with pytest.raises(CodecError) as refused:
        encode(transmission)
    assert refused.value.reject == "R8" and "'C2'" in refused.value.message
    with pytest.raises(CodecError) as header:
        decode(HEADER[:50].encode() + b"\xe9" + HEADER[51:].encode())
    assert header.value.reject == "R8" and "header" in header.value.message
