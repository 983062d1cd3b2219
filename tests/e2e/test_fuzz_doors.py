"""Every door fuzzed for a bounded time, over 127.0.0.1 only: raw D.0 transmissions mutated
byte by byte or field by field through Transmit, mutated or random protobuf bytes through each
RPC, and well-formed protobuf with garbage fields through the structured calls.

Properties: every call answers OK or a documented status (INVALID_ARGUMENT,
PERMISSION_DENIED, UNAVAILABLE, RESOURCE_EXHAUSTED; NOT_FOUND for GetBenefits), never INTERNAL
or UNKNOWN; every Transmit answer decodes as a D.0 response and no transaction is answered 99
(the gateway's answer to a bug); nothing is logged with a traceback; and afterwards the ledger
verifies and the only claim rows added are the claims answered paid."""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.bootstrap import App
from rx_gateway.client import reversal_for
from rx_gateway.ncpdp.codec import (
    RequestHeader,
    ResponseHeader,
    Segment,
    Transmission,
    decode_request,
    decode_response,
    encode,
)
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import commercial_subscribers, generic_fill
from tests.support_d0 import (
    eligibility_transmission,
    request_transmission,
    reversal_transmission,
)

# CI runs 150 examples per door; RX_GATEWAY_FUZZ_EXAMPLES runs longer by hand (each door's
# run must still end within TIME_BUDGET_S).
EXAMPLES = int(os.environ.get("RX_GATEWAY_FUZZ_EXAMPLES", "150"))
TIME_BUDGET_S = 60
DAY = "20261110"
PUBLIC = Path(__file__).resolve().parent.parent / "data" / "public_d0"
DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
METHODS = {
    "Submit": ("/rx_gateway.v1.ClaimService/Submit", pb.ClaimResponse),
    "Reverse": ("/rx_gateway.v1.ClaimService/Reverse", pb.ClaimResponse),
    "CheckEligibility": ("/rx_gateway.v1.ClaimService/CheckEligibility", pb.EligibilityResponse),
    "Transmit": ("/rx_gateway.v1.ClaimService/Transmit", pb.RawTransmission),
    "GetBenefits": ("/rx_gateway.v1.BenefitService/GetBenefits", pb.BenefitResponse),
}
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial cardholders of families no other test bills for (active members 1870 on,
    none of fixtures.json's: its showcase members are the last ones)."""
    return commercial_subscribers(dataset, 1870)


def _claim(fixtures: dict[str, Any], member: dict[str, Any], rx: int, drug: str) -> pb.ClaimRequest:
    return generic_fill(fixtures, member, rx, DAY, drug=drug)


def _eligibility(fixtures: dict[str, Any], member: dict[str, Any]) -> pb.EligibilityRequest:
    return pb.EligibilityRequest(
        header=_claim(fixtures, member, 1, "generic").header,
        insurance=pb.Insurance(
            cardholder_id=member["cardholder_id"],
            group_id=member["group_id"],
            person_code=member["person_code"],
        ),
        patient=pb.Patient(date_of_birth=member["date_of_birth"]),
    )


def _public(name: str) -> bytes:
    text = "".join(
        line
        for line in (PUBLIC / f"{name}.txt").read_text().splitlines()
        if not line.startswith("#")
    )
    return codecs.decode(text, "unicode_escape").encode("latin-1")


@pytest.fixture(scope="module")
def seeds(fixtures: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    """Valid requests to mutate. Reversals and rebills name fills never paid (Rx numbers of
    their own), so no mutation of them can reach another test's claim."""
    one, two, three = members[0], members[1], members[2]
    b1 = _claim(fixtures, one, 9_100_001, "generic")
    b1_other = _claim(fixtures, one, 9_100_002, "preferred_brand")
    b1_second_member = _claim(fixtures, two, 9_100_003, "generic")
    never_paid = _claim(fixtures, three, 9_100_009, "generic")
    e1 = _eligibility(fixtures, three)
    e1_no_gs = eligibility_transmission(e1)
    e1_no_gs = Transmission(e1_no_gs.header, e1_no_gs.segments, ())
    plan = fixtures["plans"][one["plan_id"]]
    transmissions = [
        encode(request_transmission([b1])),
        encode(request_transmission([b1, b1_other])),
        encode(request_transmission([b1_second_member])),
        encode(request_transmission([never_paid], code="B3")),
        encode(reversal_transmission([reversal_for(never_paid)])),
        encode(eligibility_transmission(e1)),
        encode(e1_no_gs),
        b"\x02" + encode(request_transmission([b1])) + b"\x03",
        _public("transactrx_dur_b1"),
        _public("ncpdpserde_e1_no_group"),
        _public("transactrx_cob_b1_double_etx"),
    ]
    benefits = pb.BenefitRequest(
        cardholder_id=one["cardholder_id"],
        person_code=one["person_code"],
        as_of_date=DAY,
        bin=plan["bin"],
        processor_control_number=plan["pcn"],
        date_of_birth=one["date_of_birth"],
    )
    return {
        "people": members[3:],
        "transmissions": transmissions,
        "Submit": [b1.SerializeToString(), b1_second_member.SerializeToString()],
        "Reverse": [reversal_for(never_paid).SerializeToString()],
        "CheckEligibility": [e1.SerializeToString()],
        "Transmit": [pb.RawTransmission(data=t).SerializeToString() for t in transmissions[:4]],
        "GetBenefits": [benefits.SerializeToString()],
    }


# ------------------------------------------------------------------ mutations

SEPARATORS = [b"\x1c", b"\x1d", b"\x1e", b"\x02", b"\x03", b"\x00"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with 1-4 mutations: byte flips, truncation, separators inserted, huge digit
    runs, non-ASCII, slices duplicated or deleted; ``value`` aims at the start of a field's
    value (just after a field separator and its two-character ID)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    kinds = ["flip", "truncate", "separator", "digits", "non-ascii", "dup", "cut", "value"]
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(kinds))
        fields = [i + 3 for i, b in enumerate(data) if b == 0x1C and i + 3 <= len(data)]
        if kind == "value" and fields:
            at = draw(st.sampled_from(fields))
            kind = draw(st.sampled_from(["flip", "separator", "digits", "non-ascii", "cut"]))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "separator":
            data[at:at] = draw(st.sampled_from(SEPARATORS))
        elif kind == "digits":
            digit = draw(st.sampled_from("0123456789"))
            # past 19 digits no field is read (test_wire_faults.py pins runs past int()'s
            # 4,300-digit limit)
            run = draw(st.one_of(st.integers(1, 25), st.integers(18, 6000)))
            data[at:at] = (digit * run).encode()
        elif kind == "non-ascii":
            text = draw(st.text(st.characters(min_codepoint=0x80), min_size=1, max_size=4))
            encoding = draw(st.sampled_from(["utf-8", "utf-16-le", "latin-1"]))
            data[at:at] = text.encode(encoding, "surrogatepass" if "utf" in encoding else "replace")
        elif kind == "dup":
            end = draw(st.integers(at, min(len(data), at + 80)))
            data[at:at] = data[at:end]
        else:
            end = draw(st.integers(at, min(len(data), at + 40)))
            del data[at:end]
    return bytes(data)


# Every field the gateway reads from a request segment, and a few it does not.
FIELD_IDS = [
    *("C2", "C1", "C3", "C6", "C4", "C5", "D2", "D3", "E1", "D7", "E7", "D5", "D8", "DE", "DF"),
    *("EU", "EV", "EZ", "DB", "D9", "DC", "DQ", "DU", "DN", "H9", "HA", "AM", "ZZ"),
]
GARBAGE = st.one_of(
    st.sampled_from(
        [
            *("", " ", "   ", "-", "-1", "+5", "0", "00", "{", "}", "9{", "1}", "0x10", "1e5"),
            *("1.5", "12 3", " 12", "12 ", "\x00", "\x7f", "\t1", "99999999999", "2147483648"),
            *("-2147483649", "9223372036854775808", "922337203685477580H", "A", "J", "R"),
        ]
    ),
    st.text("0123456789", min_size=1, max_size=60),
    st.text("0123456789", min_size=1, max_size=20).map(lambda d: d + "{"),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.text(st.characters(max_codepoint=0x7F, exclude_characters="\x02\x03\x1c\x1d\x1e")),
)
HEADER_FIELDS = [
    "bin",
    "version",
    "transaction_code",
    "processor_control_number",
    "transaction_count",
    "service_provider_id_qualifier",
    "service_provider_id",
    "date_of_service",
    "software_vendor_id",
]
WIDTH = {"bin": 6, "version": 2, "transaction_code": 2, "processor_control_number": 10}
WIDTH |= {"transaction_count": 1, "service_provider_id_qualifier": 2, "service_provider_id": 15}
WIDTH |= {"date_of_service": 8, "software_vendor_id": 10}


def _as_someone(
    segments: list[Segment], member: dict[str, Any], rx_numbers: list[int]
) -> list[Segment]:
    """The segments re-targeted to another member and fresh Rx numbers, so that the fuzzed
    claims reach adjudication and payment, not only the duplicate check."""
    values = {
        ("04", "C2"): member["cardholder_id"],
        ("04", "C1"): member["group_id"],
        ("04", "C3"): member["person_code"],
        ("01", "C4"): member["date_of_birth"],
    }
    out = []
    for segment in segments:
        fields = []
        for f, value in segment.fields:
            new = values.get((segment.segment_id, f), value)
            if (segment.segment_id, f) == ("07", "D2") and rx_numbers:
                new = f"{rx_numbers.pop():012d}"
            fields.append((f, new))
        out.append(replace(segment, fields=tuple(fields)))
    return out


@st.composite
def field_garbage(draw: st.DrawFn, seeds: list[bytes], people: list[dict[str, Any]]) -> bytes:
    """A valid transmission, usually re-targeted to one of ``people`` on some day of 2026
    with fresh Rx numbers, with 1-3 of its fields (header, transmission level or any
    transaction) set to garbage, left out, or added where they do not belong; or a segment
    dropped or duplicated."""
    t = decode_request(draw(st.sampled_from(seeds)))
    header = t.header
    assert isinstance(header, RequestHeader)
    groups = [list(t.segments), *(list(g) for g in t.transactions)]
    if draw(st.integers(0, 4)):
        member = draw(st.sampled_from(people))
        rx_numbers = draw(st.lists(st.integers(10**9, 10**12 - 1), min_size=4, max_size=4))
        groups = [_as_someone(g, member, rx_numbers) for g in groups]
        day = draw(st.dates(dt.date(2026, 1, 1), dt.date(2026, 11, 23)))
        header = replace(header, date_of_service=day.strftime("%Y%m%d"))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["field", "field", "field", "header", "segment"]))
        if where == "header":
            name = draw(st.sampled_from(HEADER_FIELDS))
            value = draw(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
            header = replace(header, **{name: value[: WIDTH[name]]})
            continue
        group = draw(st.sampled_from([g for g in groups if g] or groups))
        if not group:
            continue
        index = draw(st.integers(0, len(group) - 1))
        segment = group[index]
        if where == "segment":
            if draw(st.booleans()):
                del group[index]
            else:
                group.insert(index, segment)
            continue
        fields = list(segment.fields)
        field_id = draw(st.sampled_from([f for f, _ in fields] + FIELD_IDS))
        action = draw(st.sampled_from(["set", "set", "set", "drop", "repeat"]))
        present = [i for i, (f, _) in enumerate(fields) if f == field_id]
        if action == "drop":
            fields = [(f, v) for f, v in fields if f != field_id]
        elif action == "repeat" or not present:
            fields.insert(draw(st.integers(0, len(fields))), (field_id, draw(GARBAGE)))
        else:
            fields[present[0]] = (field_id, draw(GARBAGE))
        group[index] = replace(segment, fields=tuple(fields))
    return encode(Transmission(header, tuple(groups[0]), tuple(tuple(g) for g in groups[1:])))


# ------------------------------------------------------------------ checks


class Tally:
    """What the calls answered: paid claims (by 993-A7), statuses, and the first violation."""

    def __init__(self) -> None:
        self.paid: set[str] = set()
        self.codes: dict[str, int] = {}
        self.examples = 0

    def count(self, what: str) -> None:
        self.codes[what] = self.codes.get(what, 0) + 1


def _check_transmit_answer(answer: bytes, tally: Tally) -> None:
    reply = decode_response(answer)  # raises on a malformed answer
    header = reply.header
    assert isinstance(header, ResponseHeader)
    assert header.version == "D0"
    assert header.header_response_status in {"A", "R"}, header
    assert header.transaction_count == str(len(reply.transactions)), header
    tally.count(f"D0-{header.header_response_status}")
    for group in reply.transactions:
        status = next(s for s in group if s.segment_id == "21")
        assert status.get("AN") in {"P", "D", "R", "A", "S"}, status
        assert "99" not in status.all("FB"), f"a transaction hit a bug: {status}"
        tally.count(f"{status.get('AN')}{'/'.join(status.all('FB'))}")
        if status.get("AN") == "P":
            tally.paid.add(status.get("A7"))


def _check_error(error: grpc.RpcError, method: str) -> None:
    code = error.code()  # type: ignore[attr-defined]
    allowed = DOCUMENTED | ({grpc.StatusCode.NOT_FOUND} if method == "GetBenefits" else set())
    assert code in allowed, f"{method}: {code.name} {error.details()}"  # type: ignore[attr-defined]


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        (r.name, r.getMessage())
        for r in caplog.records
        if r.exc_info is not None or r.levelno >= logging.ERROR
    ]
    assert not bad, bad


async def _claim_rows(conn: asyncpg.Connection) -> int:
    rows: int = await conn.fetchval("SELECT count(*) FROM claim")
    return rows


async def _ledger_after(conn: asyncpg.Connection, before: int, tally: Tally) -> None:
    assert await _claim_rows(conn) - before == len(tally.paid), tally.codes
    failed = [r.name for r in await verify_ledger(conn) if not r.passed]
    assert failed == []


# ------------------------------------------------------------------ the doors


@pytest.mark.parametrize("how", ["bytes", "fields"])
async def test_fuzz_transmit_with_mutated_transmissions(
    app: App,
    conn: asyncpg.Connection,
    seeds: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    """Mutations of valid B1 (1 and 2 transactions, STX/ETX wrapped), B2, B3 and E1 (with and
    without GS) transmissions and of public vectors, through Transmit: byte-level ('bytes'),
    or field by field ('fields': garbage values, fields left out, repeated or misplaced,
    segments dropped or repeated, header fields changed)."""
    before = await _claim_rows(conn)
    tally = Tally()
    target = f"127.0.0.1:{app.port}"
    started = time.monotonic()

    clean = [t for t in seeds["transmissions"] if not t.startswith(b"\x02")][:7]
    strategy = (
        mutated(seeds["transmissions"]) if how == "bytes" else field_garbage(clean, seeds["people"])
    )

    @FUZZ_SETTINGS
    @given(data=strategy)
    def run(data: bytes) -> None:
        tally.examples += 1
        with grpc.insecure_channel(target) as channel:
            call = channel.unary_unary(METHODS["Transmit"][0])
            try:
                raw = call(pb.RawTransmission(data=data).SerializeToString(), timeout=10)
            except grpc.RpcError as error:
                tally.count(error.code().name)  # type: ignore[attr-defined]
                _check_error(error, "Transmit")
                return
        _check_transmit_answer(pb.RawTransmission.FromString(raw).data, tally)

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert time.monotonic() - started < TIME_BUDGET_S
    assert tally.examples >= EXAMPLES // 2, tally.examples
    _no_tracebacks(caplog)
    await _ledger_after(conn, before, tally)


@pytest.mark.parametrize("method", list(METHODS))
async def test_fuzz_protobuf_bytes(
    app: App,
    conn: asyncpg.Connection,
    seeds: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    """Random bytes and mutations of a valid serialized request, sent to one RPC as they
    are (no serializer)."""
    path, response_type = METHODS[method]
    before = await _claim_rows(conn)
    tally = Tally()
    target = f"127.0.0.1:{app.port}"
    started = time.monotonic()

    @FUZZ_SETTINGS
    @given(data=st.one_of(st.binary(max_size=300), mutated(seeds[method])))
    def run(data: bytes) -> None:
        tally.examples += 1
        with grpc.insecure_channel(target) as channel:
            try:
                raw = channel.unary_unary(path)(data, timeout=10)
            except grpc.RpcError as error:
                tally.count(error.code().name)  # type: ignore[attr-defined]
                _check_error(error, method)
                return
        tally.count("OK")
        reply = response_type.FromString(raw)
        if method == "Transmit":
            _check_transmit_answer(reply.data, tally)
        elif isinstance(reply, pb.ClaimResponse):
            assert reply.transaction_response_status in {"P", "D", "R", "A", "S"}, reply
            assert "99" not in [r.code for r in reply.rejects]
            if reply.transaction_response_status == "P":
                tally.paid.add(reply.internal_control_number)

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert time.monotonic() - started < TIME_BUDGET_S
    assert tally.examples >= EXAMPLES // 2, tally.examples
    _no_tracebacks(caplog)
    await _ledger_after(conn, before, tally)


# ------------------------------------------------------------------ structured fields

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)  # protobuf: no surrogates
NASTY = st.one_of(
    TEXT,
    st.sampled_from(["\x00", "1\x002", "\x1c", "\x1d\x1e", "\x02", " 12", "12 ", "-1", ""]),
    st.text("0123456789", min_size=1, max_size=14),
    st.text("0123456789", max_size=12).map(
        lambda d: d.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    ),
    st.text("0123456789", max_size=12).map(
        lambda d: d.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    ),
)


@st.composite
def structured(draw: st.DrawFn, method: str, seed: bytes) -> bytes:
    """A valid request of the method with some of its text fields garbage (NUL, separators,
    non-ASCII digits, padding, anything) and its numbers anything."""
    message = {
        "Submit": pb.ClaimRequest,
        "Reverse": pb.ReversalRequest,
        "CheckEligibility": pb.EligibilityRequest,
        "GetBenefits": pb.BenefitRequest,
    }[method].FromString(seed)

    def fuzz(msg: Any) -> None:
        for descriptor in msg.DESCRIPTOR.fields:
            value = getattr(msg, descriptor.name)
            if descriptor.message_type is not None and hasattr(value, "add"):
                for _ in range(draw(st.integers(0, 4))):  # repeated messages: 0-4, fuzzed
                    fuzz(value.add())
            elif descriptor.message_type is not None:
                fuzz(value)
            elif isinstance(value, str) and draw(st.integers(0, 5)) == 0:
                setattr(msg, descriptor.name, draw(NASTY))
            elif isinstance(value, int) and draw(st.integers(0, 7)) == 0:
                bits = 31 if descriptor.type == descriptor.TYPE_INT32 else 63
                setattr(msg, descriptor.name, draw(st.integers(-(2**bits), 2**bits - 1)))

    fuzz(message)
    data: bytes = message.SerializeToString()
    return data


@pytest.mark.parametrize("method", ["Submit", "Reverse", "CheckEligibility", "GetBenefits"])
async def test_fuzz_structured_fields(
    app: App,
    conn: asyncpg.Connection,
    seeds: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    """Well-formed protobuf whose fields are garbage: the same properties as above."""
    path, response_type = METHODS[method]
    before = await _claim_rows(conn)
    tally = Tally()
    target = f"127.0.0.1:{app.port}"
    started = time.monotonic()

    @FUZZ_SETTINGS
    @given(data=st.sampled_from(seeds[method]).flatmap(lambda s: structured(method, s)))
    def run(data: bytes) -> None:
        tally.examples += 1
        with grpc.insecure_channel(target) as channel:
            try:
                raw = channel.unary_unary(path)(data, timeout=10)
            except grpc.RpcError as error:
                tally.count(error.code().name)  # type: ignore[attr-defined]
                _check_error(error, method)
                return
        reply = response_type.FromString(raw)
        if isinstance(reply, pb.ClaimResponse):
            assert reply.transaction_response_status in {"P", "D", "R", "A", "S"}, reply
            assert "99" not in [r.code for r in reply.rejects]
            tally.count(reply.transaction_response_status)
            if reply.transaction_response_status == "P":
                tally.paid.add(reply.internal_control_number)
        elif isinstance(reply, pb.EligibilityResponse):
            assert reply.transaction_response_status in {"A", "R"}, reply
            tally.count(f"E1-{reply.transaction_response_status}")
        else:
            tally.count("OK")

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert time.monotonic() - started < TIME_BUDGET_S
    assert tally.examples >= EXAMPLES // 2, tally.examples
    _no_tracebacks(caplog)
    await _ledger_after(conn, before, tally)
