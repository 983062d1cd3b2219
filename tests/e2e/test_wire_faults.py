"""Wire faults the gateway answers instead of failing (pinned fixes of f4313ba): a field no
request can hold rejects its own transaction, never the transmission; framing bytes and NUL in
values are rejected, never echoed and never sent to the database; digits mean 0-9; corrupt
protobuf is INVALID_ARGUMENT with one log line; an E1 may come without a group separator;
padding at full D.0 width is trimmed; a missing field is named as missing."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.ncpdp.codec import (
    Segment,
    Transmission,
    decode_money,
    decode_response,
    encode,
    encode_money,
)
from rx_gateway.ncpdp.responses import PRICING_FIELDS
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import commercial_subscribers, generic_fill
from tests.support_d0 import request_transmission

DAY = "20261109"
DAY_DATE = dt.date(2026, 11, 9)


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial cardholders of families no other test bills for (active members
    1780-1870, whole families only, none of fixtures.json's)."""
    return commercial_subscribers(dataset, 1780, 1870)


def _fill(
    fixtures: dict[str, Any], member: dict[str, Any], rx: int, drug: str = "generic"
) -> pb.ClaimRequest:
    return generic_fill(fixtures, member, rx, DAY, drug=drug)


def _with_field(
    t: Transmission, segment_id: str, field_id: str, value: str | None, tx: int | None = None
) -> Transmission:
    """``t`` with one field of one segment set (``value`` None: the field left out), in the
    transmission-level segments (``tx`` None) or in transaction ``tx``."""

    def edit(segment: Segment) -> Segment:
        if segment.segment_id != segment_id:
            return segment
        fields = [(f, v) for f, v in segment.fields if f != field_id]
        if value is not None:
            at = next((i for i, (f, _) in enumerate(segment.fields) if f == field_id), None)
            fields.insert(len(fields) if at is None else at, (field_id, value))
        return replace(segment, fields=tuple(fields))

    if tx is None:
        return replace(t, segments=tuple(edit(s) for s in t.segments))
    groups = list(t.transactions)
    groups[tx] = tuple(edit(s) for s in groups[tx])
    return replace(t, transactions=tuple(groups))


def _status(group: tuple[Segment, ...]) -> Segment:
    return next(s for s in group if s.segment_id == "21")


def _answer(group: tuple[Segment, ...]) -> tuple[str, list[str]]:
    status = _status(group)
    return status.get("AN"), status.all("FB")


def _text(group: tuple[Segment, ...]) -> str:
    """The transaction's 526-FQ message occurrences, joined back into text."""
    return "".join(_status(group).all("FQ"))


def _amounts(group: tuple[Segment, ...]) -> dict[str, int]:
    pricing = next(s for s in group if s.segment_id == "23")
    return {fid: decode_money(v) for fid, v in pricing.fields if fid not in {"FM", "MU", "MV"}}


async def _send(client: GatewayClient, data: bytes) -> tuple[bytes, Transmission]:
    """The raw answer and its decoding; a gRPC error fails the test with its status."""
    try:
        answer = await client.transmit(data)
    except grpc.aio.AioRpcError as error:
        pytest.fail(f"Transmit answered gRPC {error.code().name}: {error.details()}")
    return answer, decode_response(answer)


def _framing_free(answer: bytes) -> None:
    """No STX/ETX, NUL or other control byte inside the response: only the D.0 separators."""
    assert all(b >= 0x20 or b in (0x1C, 0x1D, 0x1E) for b in answer), answer


async def _rows(conn: asyncpg.Connection) -> tuple[int, int]:
    claims = await conn.fetchval("SELECT count(*) FROM claim")
    audits = await conn.fetchval("SELECT count(*) FROM audit_log")
    return claims, audits


# ------------------------------------------------------------------ a field no request holds


async def test_unrepresentable_fill_number_rejects_only_its_transaction(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    """403-D3 = 99999999999 (no int32 holds it) in transaction 2 of 2: transaction 1 is paid,
    transaction 2 rejected 17; the switch's retransmission answers D with the same 503-F3 and
    17 again. Before f4313ba the int32 overflow failed the whole call (INTERNAL)."""
    member = members[0]
    good = _fill(fixtures, member, rx_number())
    second = _fill(fixtures, member, rx_number(), "preferred_brand")
    data = encode(
        _with_field(request_transmission([good, second]), "07", "D3", "99999999999", tx=1)
    )
    answer, reply = await _send(client, data)
    _framing_free(answer)
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert [_answer(g) for g in reply.transactions] == [("P", []), ("R", ["17"])]
    assert "D3" in _text(reply.transactions[1])
    _, again = await _send(client, data)
    assert [_answer(g) for g in again.transactions] == [("D", []), ("R", ["17"])]
    assert _status(again.transactions[0]).get("F3") == _status(reply.transactions[0]).get("F3")
    assert (await client.reverse(reversal_for(good))).transaction_response_status == "A"


async def test_huge_amount_and_stx_in_rx_number_each_answer_alone(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    """Transaction 2 of 3 carries STX (0x02) inside 402-D2, transaction 3 a 430-DU of 2^63
    cents (overpunched): each is rejected on its own (16, DU), transaction 1 is paid, the
    response decodes and echoes no framing byte. Before f4313ba the int64 overflow, or the
    echoed STX reaching the response encoder, failed the whole call."""
    member = members[1]
    first, second, third = (
        _fill(fixtures, member, rx_number(), drug)
        for drug in ("generic", "preferred_brand", "generic_copay")
    )
    t = request_transmission([first, second, third])
    rx2 = second.claim.prescription_reference_number
    t = _with_field(t, "07", "D2", f"{rx2[:6]}|{rx2[6:]}", tx=1)  # '|' becomes STX below
    t = _with_field(t, "11", "DU", encode_money(2**63), tx=2)
    data = encode(t)  # the codec refuses to frame STX itself: put it in by hand
    assert data.count(b"|") == 1
    data = data.replace(b"|", b"\x02")
    claims_before, _ = await _rows(conn)
    answer, reply = await _send(client, data)
    _framing_free(answer)
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert reply.header.transaction_count == "3"  # type: ignore[union-attr]
    assert [_answer(g) for g in reply.transactions] == [("P", []), ("R", ["16"]), ("R", ["DU"])]
    echoed = next(s for s in reply.transactions[1] if s.segment_id == "22").get("D2")
    assert "\x02" not in echoed
    assert (await _rows(conn))[0] == claims_before + 1
    assert (await client.reverse(reversal_for(first))).transaction_response_status == "A"


# ------------------------------------------------------------------ NUL in member fields


def _e1(
    fixtures: dict[str, Any], member: dict[str, Any], *, group: bool = False, **insurance: str
) -> Transmission:
    """An E1 as switches send it: Insurance and Patient at transmission level, then an empty
    transaction after a GS (``group``) or no GS at all."""
    plan = fixtures["plans"][member["plan_id"]]
    fields = {
        "C2": member["cardholder_id"],
        "C1": member["group_id"],
        "C3": member["person_code"],
    } | insurance
    header = request_transmission([_fill(fixtures, member, 1)]).header
    return Transmission(
        replace(
            header,
            bin=plan["bin"],
            processor_control_number=plan["pcn"],
            transaction_code="E1",
            transaction_count="1",
        ),
        (
            Segment("04", (*fields.items(), ("C6", "1"))),
            Segment("01", (("C4", member["date_of_birth"]), ("C5", str(member["gender_code"])))),
        ),
        ((),) if group else (),
    )


def _eligibility(
    fixtures: dict[str, Any], member: dict[str, Any], **insurance: str
) -> pb.EligibilityRequest:
    plan = fixtures["plans"][member["plan_id"]]
    fields = {
        "cardholder_id": member["cardholder_id"],
        "group_id": member["group_id"],
        "person_code": member["person_code"],
    } | insurance
    return pb.EligibilityRequest(
        header=pb.Header(
            bin=plan["bin"],
            processor_control_number=plan["pcn"],
            service_provider_id=fixtures["pharmacies"]["preferred"],
            service_provider_id_qualifier="01",
            date_of_service=DAY,
        ),
        insurance=pb.Insurance(**fields),
        patient=pb.Patient(date_of_birth=member["date_of_birth"]),
    )


def _benefits(
    fixtures: dict[str, Any], member: dict[str, Any], **overrides: str
) -> pb.BenefitRequest:
    plan = fixtures["plans"][member["plan_id"]]
    fields = {
        "cardholder_id": member["cardholder_id"],
        "person_code": member["person_code"],
        "as_of_date": DAY,
        "bin": plan["bin"],
        "processor_control_number": plan["pcn"],
        "date_of_birth": member["date_of_birth"],
    } | overrides
    return pb.BenefitRequest(**fields)


NUL_FIELDS = [
    pytest.param("C2", "cardholder_id", "07", id="302-C2"),
    pytest.param("C3", "person_code", "08", id="303-C3"),
]


def _nul(value: str) -> str:
    return f"{value[:3]}\x00{value[3:]}"


@pytest.mark.parametrize(("field_id", "name", "code"), NUL_FIELDS)
async def test_nul_in_member_field_is_rejected_everywhere_and_writes_nothing(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    conn: asyncpg.Connection,
    field_id: str,
    name: str,
    code: str,
) -> None:
    """NUL inside 302-C2 or 303-C3: the raw E1 and CheckEligibility answer the field's reject
    (or INVALID_ARGUMENT naming it), GetBenefits INVALID_ARGUMENT naming it; never INTERNAL or
    UNKNOWN (PostgreSQL refuses NUL in text: it must never get that far), nothing written."""
    member = members[2]
    value = _nul(member["cardholder_id"] if field_id == "C2" else member["person_code"])
    before = await _rows(conn)

    raw = encode(_e1(fixtures, member, group=True, **{field_id: value}))
    answer, reply = await _send(client, raw)
    _framing_free(answer)
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert [_answer(g) for g in reply.transactions] == [("R", [code])]

    try:
        structured = await client.check_eligibility(_eligibility(fixtures, member, **{name: value}))
    except grpc.aio.AioRpcError as error:
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
        assert name in (error.details() or "")
    else:
        assert structured.transaction_response_status == "R"
        assert [r.code for r in structured.rejects] == [code]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get_benefits(_benefits(fixtures, member, **{name: value}))
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value
    assert name in (raised.value.details() or "")

    assert await _rows(conn) == before
    # the same member without the NUL is known and covered: the rejects were the NUL's
    clean = decode_response(await client.transmit(encode(_e1(fixtures, member, group=True))))
    assert [_answer(g) for g in clean.transactions] == [("A", [])]


# ------------------------------------------------------------------ digits mean 0-9


ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@pytest.mark.parametrize(
    ("digits", "who"), [(ARABIC_INDIC, 3), (FULL_WIDTH, 7)], ids=["arabic-indic", "full-width"]
)
async def test_non_ascii_digits_in_rx_number_are_rejected_16(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
    digits: dict[int, str],
    who: int,
) -> None:
    """A paid fill sent again with its 402-D2 in Arabic-Indic or full-width digits (which
    str.isdigit and int() accept): rejected 16, nothing paid, no second claim key. Before
    f4313ba it passed the syntax checks as a new claim key (here only the refill-too-soon
    edit, 79, kept it from being paid a second time)."""
    member = members[who]
    paid = _fill(fixtures, member, rx_number())
    assert (await client.submit(paid)).transaction_response_status == "P"
    try:
        await _resend_in_other_digits(client, conn, member, paid, digits)
    finally:
        assert (await client.reverse(reversal_for(paid))).transaction_response_status == "A"


async def _resend_in_other_digits(
    client: GatewayClient,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    paid: pb.ClaimRequest,
    digits: dict[int, str],
) -> None:
    rx = paid.claim.prescription_reference_number
    again = pb.ClaimRequest()
    again.CopyFrom(paid)
    again.claim.prescription_reference_number = rx.translate(digits)
    assert not again.claim.prescription_reference_number.isascii()
    before = await _rows(conn)
    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")
    reply = await client.submit(again)
    assert reply.transaction_response_status == "R"
    assert [r.code for r in reply.rejects] == ["16"]
    assert not reply.HasField("pricing") or reply.pricing.total_amount_paid_cents == 0
    assert (await _rows(conn))[0] == before[0]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries
    assert (
        await conn.fetchval(
            "SELECT count(DISTINCT claim_key) FROM claim WHERE member_id = $1 "
            "AND date_of_service = $2::date AND product_id = $3",
            member["member_id"],
            DAY_DATE,
            paid.claim.product_id,
        )
        == 1
    )


# ------------------------------------------------------------------ corrupt protobuf

METHODS = [
    "/rx_gateway.v1.ClaimService/Submit",
    "/rx_gateway.v1.ClaimService/Reverse",
    "/rx_gateway.v1.ClaimService/CheckEligibility",
    "/rx_gateway.v1.ClaimService/Transmit",
    "/rx_gateway.v1.BenefitService/GetBenefits",
]
CORRUPT = {
    "truncated-field": b"\x0a\x05ab",  # field 1, length 5, two bytes follow
    "overlong-varint": b"\x08" + b"\xff" * 11,  # a varint longer than 10 bytes
    "bad-tag": b"\x00\x01",  # field number 0
}


@pytest.mark.parametrize("payload", list(CORRUPT))
@pytest.mark.parametrize("method", METHODS, ids=[m.rsplit("/", 1)[1] for m in METHODS])
async def test_corrupt_protobuf_is_invalid_argument_with_one_log_line(
    app: App, caplog: pytest.LogCaptureFixture, method: str, payload: str
) -> None:
    """Bytes that are no protobuf message: INVALID_ARGUMENT, and the gateway logs exactly one
    line for it, without a traceback. Before f4313ba grpc's deserializer failure answered
    UNKNOWN/INTERNAL with a traceback in the log."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = channel.unary_unary(method)  # no serializers: the request is raw bytes
        caplog.clear()
        with caplog.at_level(logging.INFO), pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(CORRUPT[payload], timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value
    # the call's lines: the gRPC layer's, ours and grpc's own (background tasks may log too)
    records = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and r.name.startswith(("rx_gateway.grpc_api", "grpc"))
    ]
    assert len(records) == 1, [(r.name, r.getMessage()) for r in records]
    [record] = records
    assert record.name.startswith("rx_gateway"), record.name
    assert not [r for r in caplog.records if r.exc_info is not None or r.exc_text]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("payload", list(CORRUPT))
@pytest.mark.parametrize(
    ("method", "shape"),
    [
        ("/grpc.health.v1.Health/Watch", "unary_stream"),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", "stream_stream"),
    ],
    ids=["Watch", "ServerReflectionInfo"],
)
async def test_corrupt_protobuf_to_grpcs_own_streaming_methods_is_invalid_argument(
    app: App, caplog: pytest.LogCaptureFixture, method: str, shape: str, payload: str
) -> None:
    """grpc's own health Watch and reflection, on the claim port: corrupt bytes were UNKNOWN
    with the parser's text and a traceback in the log (found from outside, with h2); now
    INVALID_ARGUMENT with one line, like the claim methods. Their good calls still work
    (test_grpc.py::test_health_and_reflection; Watch just below)."""

    async def drain(channel: grpc.aio.Channel) -> None:
        if shape == "unary_stream":
            call: Any = channel.unary_stream(method)(CORRUPT[payload], timeout=10)
        else:
            call = channel.stream_stream(method)(iter([CORRUPT[payload]]), timeout=10)
        async for _ in call:
            pass

    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        caplog.clear()
        with caplog.at_level(logging.INFO), pytest.raises(grpc.aio.AioRpcError) as raised:
            await drain(channel)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value
    assert not [r for r in caplog.records if r.exc_info is not None or r.exc_text]
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.name.startswith("rx_gateway")] == [
        "unreadable request"
    ]


async def test_health_watch_still_streams(app: App) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        first = await watch.read()
        watch.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVING


async def test_corrupt_utf8_in_a_string_field_is_invalid_argument(app: App) -> None:
    """A ClaimRequest whose header.bin (a proto3 string) is not UTF-8."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = channel.unary_unary("/rx_gateway.v1.ClaimService/Submit")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"\x0a\x03\x0a\x01\xff", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value


# ------------------------------------------------------------------ E1 without GS


async def test_e1_without_group_separator_is_one_transaction(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]]
) -> None:
    """All segments at transmission level, 109-A9 = 1, no GS: answered A with the plan for a
    covered member. Before f4313ba: 1U (no transaction counted)."""
    member = members[4]
    data = encode(_e1(fixtures, member))
    assert b"\x1d" not in data
    answer, reply = await _send(client, data)
    _framing_free(answer)
    assert reply.header.header_response_status == "A"  # type: ignore[union-attr]
    assert reply.header.transaction_count == "1"  # type: ignore[union-attr]
    assert [_answer(g) for g in reply.transactions] == [("A", [])]
    insurance = next(s for s in reply.segments if s.segment_id == "25")
    assert (insurance.get("FO"), insurance.get("C1")) == (member["plan_id"], member["group_id"])


# ------------------------------------------------------------------ padding


WIDTHS = {("04", "C2"): 20, ("04", "C1"): 15, ("04", "C3"): 3, ("07", "D2"): 12}
WIDTHS |= {("07", "D7"): 19, ("03", "DB"): 15}


def _padded(t: Transmission) -> Transmission:
    def pad(segment: Segment) -> Segment:
        return replace(
            segment,
            fields=tuple(
                (f, v.ljust(WIDTHS.get((segment.segment_id, f), 0))) for f, v in segment.fields
            ),
        )

    return Transmission(
        t.header,
        tuple(pad(s) for s in t.segments),
        tuple(tuple(pad(s) for s in g) for g in t.transactions),
    )


async def test_space_padded_text_fields_pay_as_unpadded(
    client: GatewayClient, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    """C2, C1, C3, D2, D7 and DB space-padded to their full D.0 widths: the same claim, paid
    the same amounts as unpadded. Before f4313ba the padding was part of the values (07)."""
    member = members[5]
    request = _fill(fixtures, member, rx_number())
    request.claim.prescription_reference_number = request.claim.prescription_reference_number[-6:]
    plain = request_transmission([request])
    padded = _padded(plain)
    assert encode(padded) != encode(plain)
    assert all(
        len(s.get(f)) == width
        for (sid, f), width in WIDTHS.items()
        for s in (*padded.segments, *padded.transactions[0])
        if s.segment_id == sid
    )
    _, first = await _send(client, encode(plain))
    assert _answer(first.transactions[0]) == ("P", [])
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"
    answer, second = await _send(client, encode(padded))
    _framing_free(answer)
    assert _answer(second.transactions[0]) == ("P", [])
    assert _amounts(second.transactions[0]) == _amounts(first.transactions[0])
    assert {fid for fid, _ in PRICING_FIELDS} >= set(_amounts(first.transactions[0]))
    claim = next(s for s in second.transactions[0] if s.segment_id == "22")
    assert claim.get("D2") == request.claim.prescription_reference_number
    assert (await client.reverse(reversal_for(request))).transaction_response_status == "A"


# ------------------------------------------------------------------ missing fields


@pytest.mark.parametrize(
    ("segment_id", "field_id", "code", "words"),
    [
        ("07", "D2", "16", "402-D2"),
        ("04", "C2", "07", "302-C2"),
        ("07", "D7", "21", "407-D7"),
    ],
)
async def test_missing_required_field_is_named_missing(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    segment_id: str,
    field_id: str,
    code: str,
    words: str,
) -> None:
    """A B1 without 402-D2 (or 302-C2, 407-D7): the field's M/I reject, and its message says
    the field is missing (before f4313ba: 'must be 1-12 digits', 'is required')."""
    member = members[6]
    t = request_transmission([_fill(fixtures, member, rx_number())])
    t = _with_field(t, segment_id, field_id, None, tx=None if segment_id == "04" else 0)
    assert all(f != field_id for s in (*t.segments, *t.transactions[0]) for f, _ in s.fields)
    answer, reply = await _send(client, encode(t))
    _framing_free(answer)
    status, rejects = _answer(reply.transactions[0])
    assert (status, code in rejects) == ("R", True), rejects
    text = _text(reply.transactions[0])
    assert f"{words}) is missing" in text, text


# ------------------------------------------------------------------ digit runs past int()'s limit


@pytest.mark.parametrize(
    ("segment_id", "field_id", "value", "code"),
    [
        ("07", "D3", "1" * 5000, "17"),
        ("07", "D3", "0" * 4400 + "1", "17"),  # the value 1, zero-padded
        ("07", "E7", "1" * 5000, "E7"),
        ("11", "DU", "1" * 5000 + "{", "DU"),
    ],
    ids=["D3-5000-digits", "D3-zero-padded-1", "E7-5000-digits", "DU-5000-digits"],
)
async def test_digit_run_past_int_limit_is_the_fields_reject(
    client: GatewayClient,
    fixtures: dict[str, Any],
    members: list[dict[str, Any]],
    rx_number: Any,
    caplog: pytest.LogCaptureFixture,
    segment_id: str,
    field_id: str,
    value: str,
    code: str,
) -> None:
    """A numeric field of thousands of digits cannot be read: its M/I reject (17, E7, DU),
    like 403-D3 = 99999999999; never 99 (the gateway's answer to a bug) and no traceback.
    (Python's int() refuses more than 4,300 digits outright: the codec reads at most 19.)"""
    member = members[7]
    t = request_transmission([_fill(fixtures, member, rx_number())])
    t = _with_field(t, segment_id, field_id, value, tx=0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        answer, reply = await _send(client, encode(t))
    _framing_free(answer)
    assert [_answer(g) for g in reply.transactions] == [("R", [code])]
    assert not [r for r in caplog.records if r.exc_info is not None]
