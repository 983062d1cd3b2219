"""An independent tester's probes of coordination of benefits (issue 15) through every door:
raw D.0 segment 05 through Transmit, structured other_payments through Submit, raw protobuf
bytes, admin SetOtherCoverage / SetCoverage.payer_order, and other_coverages.csv loading. The
arithmetic against shared/reference/switch-claims.md section 2, the NCPDP identities on every
paid answer, both doors agreeing, the ledger and reversals, and what a 41 shows.

Three bugs it found (Medicaid paying more than the other payers left; overlong strings in
repeated fields not refused) are fixed; their tests now pass as written."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.adapters.files.loader import read_dataset
from rx_gateway.adapters.postgres.verify import run_checks
from rx_gateway.bootstrap import App
from rx_gateway.client import AdminClient, GatewayClient, reversal_for
from rx_gateway.domain.errors import ReferenceDataError
from rx_gateway.domain.reference import CobMethod
from rx_gateway.ncpdp.codec import (
    Segment,
    Transmission,
    decode_money,
    decode_response,
    encode,
    encode_money,
)
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import add_other_payment, claim_request
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import ADMIN_TOKEN
from tests.support_d0 import request_transmission

SUBMIT = "/rx_gateway.v1.ClaimService/Submit"
ACME_BIN = "004336"
OTHER_BIN = "017011"
SUPERSCRIPT_TWO = "<sup2>"  # stands for the Latin-1 byte 0xB2 in a raw transmission


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
async def admin(app: App) -> Any:
    async with AdminClient(f"127.0.0.1:{app.admin_port}", token=ADMIN_TOKEN) as client:
        yield client


@pytest.fixture(scope="module")
def spare(dataset: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Members no other test bills for: the HDHP and Part D members of active members 1900 on
    (the fuzz tests take the commercial HRA ones)."""
    members = {m["member_id"]: m for m in active_members(dataset[0])[1900:]}
    wanted = {
        "hdhp_single": "M001957",
        "partd": "M001965",
        "partd_admin": "M001969",
        "partd_ties": "M001985",
        "family_a": "M001996",
        "family_b": "M001997",
    }
    return {role: members[member_id] for role, member_id in wanted.items()}


def _claim(fixtures: dict[str, Any], member: dict[str, Any], rx: int, **kw: Any) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][kw.pop("drug", "generic")],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=kw.pop("day", "20261112"),
        **kw,
    )


def _medicaid(fixtures: dict[str, Any]) -> dict[str, Any]:
    return dict(fixtures["members"]["medicaid_other_primary"])


def _identities(p: pb.PricingResponse, purses: int = 0) -> None:
    """509-F9 = F6 + F7 + additional − F5 − J5, and plan + purses + F5 + J5 = allowed."""
    additional = (
        p.flat_sales_tax_amount_paid_cents
        + p.percentage_sales_tax_amount_paid_cents
        + p.incentive_amount_paid_cents
        + sum(o.amount_cents for o in p.other_amounts_paid)
    )
    assert p.total_amount_paid_cents == (
        p.ingredient_cost_paid_cents
        + p.dispensing_fee_paid_cents
        + additional
        - p.patient_pay_amount_cents
        - p.other_payer_amount_recognized_cents
    )
    assert p.allowed_amount_cents == p.ingredient_cost_paid_cents + p.dispensing_fee_paid_cents + (
        additional
    )
    assert 0 <= p.other_payer_amount_recognized_cents <= p.allowed_amount_cents
    assert 0 <= p.patient_pay_amount_cents <= p.allowed_amount_cents


def _transmission(request: pb.ClaimRequest, cob: tuple[tuple[str, str], ...] | None) -> bytes:
    """The D.0 bytes of ``request`` with its 308-C8 and ``cob`` as segment 05 (None: none)."""
    t = request_transmission([request])
    claim, *rest = t.transactions[0]
    # request_transmission writes 308-C8 and segment 05 already: once (a second is R8)
    rest = [segment for segment in rest if segment.segment_id != "05"]
    c8 = request.claim.other_coverage_code
    kept = tuple(f for f in claim.fields if f[0] != "C8")
    claim = Segment("07", (*kept, *([("C8", str(c8))] if c8 else [])))
    segments = (claim, Segment("05", cob), *rest) if cob is not None else (claim, *rest)
    # the codec writes ASCII: a Latin-1 byte goes in after (SUPERSCRIPT_TWO)
    data = encode(Transmission(t.header, t.segments, (segments,)))
    return data.replace(SUPERSCRIPT_TWO.encode(), b"\xb2")


def _with_cob(request: pb.ClaimRequest) -> Transmission:
    """The D.0 transmission of ``request`` with its 308-C8 and COB segment (05), field for
    field as the structured request has them."""
    cob: list[tuple[str, str]] = []
    if request.other_payments:
        cob.append(("4C", str(len(request.other_payments))))
    for o in request.other_payments:
        cob += [("5C", o.coverage_type), ("6C", o.payer_id_qualifier), ("7C", o.payer_id)]
        cob += [("E8", o.date)] if o.date else []
        if o.amounts_paid:
            cob.append(("HB", str(len(o.amounts_paid))))
            for a in o.amounts_paid:
                cob += [("HC", a.qualifier), ("DV", encode_money(a.amount_cents))]
        if o.reject_codes:
            cob.append(("5E", str(len(o.reject_codes))))
            cob += [("6E", code) for code in o.reject_codes]
        if o.patient_responsibility:
            cob.append(("NR", str(len(o.patient_responsibility))))
            for a in o.patient_responsibility:
                cob += [("NP", a.qualifier), ("NQ", encode_money(a.amount_cents))]
    t = request_transmission([request])
    claim, *rest = t.transactions[0]
    # request_transmission writes 308-C8 and segment 05 already: once (a second is R8)
    rest = [segment for segment in rest if segment.segment_id != "05"]
    c8 = request.claim.other_coverage_code
    kept = tuple(f for f in claim.fields if f[0] != "C8")
    claim = Segment("07", (*kept, *([("C8", str(c8))] if c8 else [])))
    segments = (claim, Segment("05", tuple(cob)), *rest) if cob else (claim, *rest)
    return Transmission(t.header, t.segments, (segments,))


async def _raw(client: GatewayClient, data: bytes) -> list[dict[str, Segment]]:
    reply = decode_response(await client.transmit(data))
    return [{s.segment_id: s for s in tx} for tx in reply.transactions]


def _status(tx: dict[str, Segment]) -> tuple[str, list[str]]:
    return tx["21"].get("AN"), tx["21"].all("FB")


async def _reverse(client: GatewayClient, request: pb.ClaimRequest) -> None:
    answer = await client.reverse(reversal_for(request))
    assert answer.transaction_response_status == "A", answer


async def _secondary_setup(
    admin: AdminClient, dataset: tuple[Path, dict[str, Any]], member: dict[str, Any]
) -> None:
    """An external primary on file (payer order 1) and the member's own plan second."""
    rows = [
        r
        for r in csv.DictReader((dataset[0] / "coverages.csv").open(newline=""))
        if r["member_id"] == member["member_id"]
    ]
    (row,) = rows
    await admin.set_other_coverage(
        admin_pb.OtherCoverageChange(
            member_id=member["member_id"],
            payer_order=1,
            payer_name="Hunt Primary Plan",
            bin=OTHER_BIN,
            processor_control_number="HUNT",
            group_id="HG1",
            cardholder_id=f"HX{member['member_id']}",
            person_code="01",
            start_date="20260101",
        )
    )
    await admin.set_coverage(
        admin_pb.CoverageChange(
            member_id=member["member_id"],
            plan_id=row["plan_id"],
            group_id=row["group_id"],
            start_date=row["start_date"].replace("-", ""),
            line_of_business=row["line_of_business"],
            coverage_level=row["coverage_level"],
            payer_order=2,
        )
    )


# ---------------------------------------------------------------------------------------------
# arithmetic: the reference's worked example, and the methods' bounds


def test_worked_example_of_the_reference_standard_and_non_duplication() -> None:
    from rx_gateway.domain.cob import coordinate
    from rx_gateway.domain.other_payments import OtherPayment

    # AM05 4C1 5C01 6C03 7C610014 E820260105 HB1 HC07 DV420{ NR2 NP01 NQ50{ NP05 NQ100{
    primary = OtherPayment(
        "01",
        "03",
        "610014",
        "20260105",
        (("07", 4200),),
        (),
        (("01", 500), ("05", 1000)),
    )
    assert primary.paid_cents == 4200 and primary.patient_responsibility_cents == 1500
    standard = coordinate(
        CobMethod.STANDARD, 2, (primary,), allowed_cents=5700, member_alone_cents=1000
    )
    assert (standard.other_payer_amount_recognized_cents, standard.member_cents) == (4200, 0)
    assert 5700 - standard.member_cents - standard.other_payer_amount_recognized_cents == 1500
    nondup = coordinate(
        CobMethod.NON_DUPLICATION, 2, (primary,), allowed_cents=5700, member_alone_cents=1000
    )
    assert (nondup.other_payer_amount_recognized_cents, nondup.member_cents) == (4200, 1000)
    assert 5700 - nondup.member_cents - nondup.other_payer_amount_recognized_cents == 500


def test_coordinate_never_asks_more_of_the_member_than_alone_nor_pays_negative() -> None:
    from rx_gateway.domain.cob import coordinate
    from rx_gateway.domain.other_payments import OtherPayment
    from rx_gateway.domain.rejects import Reject

    for method in CobMethod:
        for code in (2, 4, 8):
            for paid in (0, 1, 999, 5000, 10_000):
                for left in (None, -50, 0, 1, 500, 5000, 10_000):
                    for alone in (0, 1, 700, 5000):
                        payment = OtherPayment(
                            "01",
                            amounts_paid=(("07", paid),),
                            patient_responsibility=(() if left is None else (("09", left),)),
                        )
                        r = coordinate(
                            method, code, (payment,), allowed_cents=5000, member_alone_cents=alone
                        )
                        if isinstance(r, Reject):
                            continue
                        plan = 5000 - r.member_cents - r.other_payer_amount_recognized_cents
                        assert 0 <= r.member_cents <= alone, (method, code, paid, left, alone)
                        assert 0 <= plan <= 5000 - alone, (method, code, paid, left, alone)
                        assert 0 <= r.other_payer_amount_recognized_cents <= 5000


def test_medicaid_never_pays_more_than_what_the_other_payers_left() -> None:
    from rx_gateway.domain.cob import coordinate
    from rx_gateway.domain.other_payments import OtherPayment

    # allowed 60.00; the primary paid 40.00 and left 20.00; the secondary then paid 15.00
    # (no OPPRA sent): 5.00 is all that is left for Medicaid, the payer of last resort
    first = OtherPayment("01", amounts_paid=(("07", 4000),), patient_responsibility=(("06", 2000),))
    second = OtherPayment("02", amounts_paid=(("07", 1500),))
    r = coordinate(
        CobMethod.PATIENT_RESPONSIBILITY,
        2,
        (first, second),
        allowed_cents=6000,
        member_alone_cents=100,
    )
    plan = 6000 - r.member_cents - r.other_payer_amount_recognized_cents
    assert plan <= 6000 - 4000 - 1500
    # sent in reverse order (02 first): the last payer by 338-5C is still 02
    late = OtherPayment("02", amounts_paid=(("07", 1000),), patient_responsibility=(("06", 500),))
    early = OtherPayment("01", amounts_paid=(("07", 3500),), patient_responsibility=(("06", 2500),))
    r = coordinate(
        CobMethod.PATIENT_RESPONSIBILITY,
        2,
        (late, early),
        allowed_cents=6000,
        member_alone_cents=100,
    )
    plan = 6000 - r.member_cents - r.other_payer_amount_recognized_cents
    assert plan <= 500


# ---------------------------------------------------------------------------------------------
# structured door: odd values reject naming the field, never INTERNAL


def _medicaid_secondary(fixtures: dict[str, Any], rx: int, day: str, **kw: Any) -> pb.ClaimRequest:
    request = _claim(fixtures, _medicaid(fixtures), rx, day=day, drug=kw.pop("drug", "generic"))
    add_other_payment(
        request,
        other_coverage_code=kw.pop("code", 2),
        payer_bin=ACME_BIN,
        paid_on=kw.pop("paid_on", day),
        **({"paid_cents": 300} | kw),
    )
    return request


def _mutations() -> list[tuple[str, Any, str]]:
    def payer(**fields: Any) -> Any:
        def apply(r: pb.ClaimRequest) -> None:
            for name, value in fields.items():
                setattr(r.other_payments[0], name, value)

        return apply

    def amount(qualifier: str, cents: int, where: str = "amounts_paid") -> Any:
        def apply(r: pb.ClaimRequest) -> None:
            getattr(r.other_payments[0], where)[0].qualifier = qualifier
            getattr(r.other_payments[0], where)[0].amount_cents = cents

        return apply

    def code(value: int) -> Any:
        def apply(r: pb.ClaimRequest) -> None:
            r.claim.other_coverage_code = value

        return apply

    def many_payers(r: pb.ClaimRequest) -> None:
        for _ in range(10_000):
            r.other_payments.add(coverage_type="02")

    def many_rejects(r: pb.ClaimRequest) -> None:
        r.other_payments[0].reject_codes.extend(["70"] * 5_000)

    def many_amounts(r: pb.ClaimRequest) -> None:
        for _ in range(5_000):
            r.other_payments[0].amounts_paid.add(qualifier="07", amount_cents=1)

    def many_responsibilities(r: pb.ClaimRequest) -> None:
        for _ in range(26):
            r.other_payments[0].patient_responsibility.add(qualifier="06", amount_cents=1)

    def empty_occurrence(r: pb.ClaimRequest) -> None:
        r.other_payments.add()

    def no_segment(r: pb.ClaimRequest) -> None:
        del r.other_payments[:]

    return [
        ("coverage type unicode", payer(coverage_type="０１"), "5C"),
        ("coverage type 00", payer(coverage_type="00"), "5C"),
        ("coverage type 10", payer(coverage_type="10"), "5C"),
        ("qualifier unknown", payer(payer_id_qualifier="ZZ"), "6C"),
        ("payer id unicode", payer(payer_id="ÄCME"), "7C"),
        ("payer id 11 chars", payer(payer_id="12345678901"), "7C"),
        ("payer id NUL", payer(payer_id="00\x004336"), "7C"),
        ("date not a date", payer(date="20261332"), "E8"),
        ("date arabic digits", payer(date="٢٠٢٦١١١٢"), "E8"),
        ("date after service", payer(date="20261113"), "9J"),
        ("amount negative", amount("07", -1), "8V"),
        ("amount huge", amount("07", 2**62), "DV"),
        ("amount int64 max", amount("07", 2**63 - 1), "DV"),
        ("amount qualifier unicode", amount("０７", 100), "HC"),
        ("responsibility negative", amount("06", -5, "patient_responsibility"), "NQ"),
        ("assistance huge negative", amount("09", -(2**62), "patient_responsibility"), "NQ"),
        ("responsibility qualifier 14", amount("14", 5, "patient_responsibility"), "NP"),
        ("code negative", code(-1), "13"),
        ("code 9", code(9), "13"),
        ("code int32 max", code(2**31 - 1), "13"),
        ("code int32 min", code(-(2**31)), "13"),
        ("ten thousand payers", many_payers, "4C"),
        ("five thousand rejects", many_rejects, "6E"),
        ("five thousand amounts", many_amounts, "HC"),
        ("26 responsibilities", many_responsibilities, "NP"),
        ("empty occurrence", empty_occurrence, "5C"),
        ("code 2 no segment", no_segment, "6G"),
    ]


@pytest.mark.parametrize(("label", "mutate", "expected"), _mutations(), ids=str)
async def test_structured_bad_cob_rejects_by_field(
    client: GatewayClient,
    fixtures: dict[str, Any],
    rx_number: Any,
    conn: asyncpg.Connection,
    label: str,
    mutate: Any,
    expected: str,
) -> None:
    request = _medicaid_secondary(
        fixtures, rx_number(), "20261112", patient_responsibility_cents=100
    )
    mutate(request)
    before = await conn.fetchval("SELECT count(*) FROM claim")
    answer = await client.submit(request)
    assert answer.transaction_response_status == "R", (label, answer)
    assert expected in [r.code for r in answer.rejects], (label, list(answer.rejects))
    assert await conn.fetchval("SELECT count(*) FROM claim") == before


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        (
            "dur_services.reason_for_service",
            lambda r: r.dur_services.add(reason_for_service="E" * 201),
        ),
        ("other_payments.payer_id", lambda r: setattr(r.other_payments[0], "payer_id", "9" * 201)),
        (
            "other_payments.reject_codes",
            lambda r: r.other_payments[0].reject_codes.append("X" * 201),
        ),
        (
            "other_payments.amounts_paid.qualifier",
            lambda r: setattr(r.other_payments[0].amounts_paid[0], "qualifier", "0" * 201),
        ),
    ],
)
async def test_structured_overlong_cob_strings_are_invalid_argument_naming_the_field(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, field: str, mutate: Any
) -> None:
    request = _medicaid_secondary(fixtures, rx_number(), "20261112")
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.submit(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (caught.value.details() or "")


# ---------------------------------------------------------------------------------------------
# raw protobuf bytes


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


async def test_raw_protobuf_cob_bytes_never_internal(
    app: App, fixtures: dict[str, Any], rx_number: Any
) -> None:
    request = _medicaid_secondary(fixtures, rx_number(), "20261112")
    good = request.SerializeToString()
    # field 8 (other_payments), length-delimited, holding field 3 (payer_id) as invalid UTF-8
    bad_utf8 = b"\x1a\x02\xff\xfe"
    # field 8 holding field 5 (amounts_paid) with field 2 (amount_cents) a 10-byte varint
    huge = b"\x2a" + bytes([1 + 10]) + b"\x10" + _varint(2**64 - 1)
    # field 8 declared longer than the message
    truncated = b"\x42\x7f\x0a\x02\x30\x31"
    # field 8 sent as a varint (wrong wire type)
    wrong_type = b"\x40\x05"
    cases = {
        "bad utf8": good + b"\x42" + bytes([len(bad_utf8)]) + bad_utf8,
        "huge varint": good + b"\x42" + bytes([len(huge)]) + huge,
        "truncated": good + truncated,
        "wrong wire type": good + wrong_type,
    }
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        call = channel.unary_unary(SUBMIT)
        for label, data in cases.items():
            try:
                raw = await call(data, timeout=10)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (label, error)
                continue
            reply = pb.ClaimResponse.FromString(raw)
            assert reply.transaction_response_status in {"R", "P"}, (label, reply)
            if reply.transaction_response_status == "P":
                await _reverse_pb(app, request)


async def _reverse_pb(app: App, request: pb.ClaimRequest) -> None:
    async with GatewayClient(f"127.0.0.1:{app.port}") as c:
        await _reverse(c, request)


# ---------------------------------------------------------------------------------------------
# raw D.0 door: segment 05


def _occurrence(
    *,
    paid: str | None = "300{",
    qualifier: str = "07",
    date: str = "20261112",
    extra: tuple[tuple[str, str], ...] = (),
) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = [("5C", "01"), ("6C", "03"), ("7C", ACME_BIN), ("E8", date)]
    if paid is not None:
        fields += [("HB", "1"), ("HC", qualifier), ("DV", paid)]
    return (*fields, *extra)


RAW_CASES: list[tuple[str, int, tuple[tuple[str, str], ...] | None, str]] = [
    ("4C missing", 2, _occurrence(), "P4"),
    ("4C two, one sent", 2, (("4C", "2"), *_occurrence()), "P4"),
    ("4C huge", 2, (("4C", "9" * 30), *_occurrence()), "P4"),
    ("4C negative", 2, (("4C", "-1"), *_occurrence()), "P4"),
    ("4C superscript two", 2, (("4C", SUPERSCRIPT_TWO), *_occurrence(), *_occurrence()), "R8"),
    ("4C ten", 2, (("4C", "10"), *(_occurrence() * 10)), "4C"),
    ("E8 before 5C", 2, (("4C", "1"), ("E8", "20261112"), *_occurrence()), "5C"),
    ("HB before 5C", 2, (("4C", "1"), ("HB", "0"), *_occurrence()), "5C"),
    ("HB 2, 1 pair", 2, (("4C", "1"), *_occurrence(extra=(("HC", "08"),))), "SF"),
    ("DV overpunch negative", 2, (("4C", "1"), *_occurrence(paid="30}")), "8V"),
    ("DV not a number", 2, (("4C", "1"), *_occurrence(paid="3.00")), "DV"),
    ("DV 30 digits", 2, (("4C", "1"), *_occurrence(paid="9" * 29 + "{")), "DV"),
    ("DV over a million", 2, (("4C", "1"), *_occurrence(paid="10000000{")), "DV"),
    ("DV zero with code 2", 2, (("4C", "1"), *_occurrence(paid="0{")), "8W"),
    ("HC unknown", 2, (("4C", "1"), *_occurrence(qualifier="77")), "HC"),
    ("E8 month 13", 2, (("4C", "1"), *_occurrence(date="20261312")), "E8"),
    ("E8 short", 2, (("4C", "1"), *_occurrence(date="2026111")), "E8"),
    ("E8 after service", 2, (("4C", "1"), *_occurrence(date="20261113")), "9J"),
    ("5E 1, no 6E", 3, (("4C", "1"), *_occurrence(paid=None, extra=(("5E", "1"),))), "R2"),
    (
        "6E one char",
        3,
        (("4C", "1"), *_occurrence(paid=None, extra=(("5E", "1"), ("6E", "7")))),
        "6E",
    ),
    (
        "6E six codes",
        3,
        (("4C", "1"), *_occurrence(paid=None, extra=(("5E", "6"), *((("6E", "70"),) * 6)))),
        "6E",
    ),
    ("code 3, no 6E", 3, (("4C", "1"), *_occurrence(paid=None)), "6E"),
    (
        "code 3 with a paid amount",
        3,
        (("4C", "1"), *_occurrence(extra=(("5E", "1"), ("6E", "70")))),
        "8W",
    ),
    ("code 8 without NQ", 8, (("4C", "1"), *_occurrence(paid=None)), "NQ"),
    (
        "NR 1, NP only",
        8,
        (("4C", "1"), *_occurrence(paid=None, extra=(("NR", "1"), ("NP", "06")))),
        "SH",
    ),
    (
        "NQ negative for 06",
        8,
        (("4C", "1"), *_occurrence(paid=None, extra=(("NR", "1"), ("NP", "06"), ("NQ", "5}")))),
        "NQ",
    ),
    ("code 2 without 05", 2, None, "6G"),
    ("code 0: 41", 0, None, "41"),
    ("code 1: 41", 1, None, "41"),
]


@pytest.mark.parametrize(("label", "c8", "cob", "expected"), RAW_CASES, ids=str)
async def test_raw_cob_rejects_by_field(
    client: GatewayClient,
    fixtures: dict[str, Any],
    rx_number: Any,
    label: str,
    c8: int,
    cob: tuple[tuple[str, str], ...] | None,
    expected: str,
) -> None:
    request = _claim(fixtures, _medicaid(fixtures), rx_number(), day="20261112")
    request.claim.other_coverage_code = c8
    (tx,) = await _raw(client, _transmission(request, cob))
    status, codes = _status(tx)
    assert status == "R", (label, tx["21"])
    assert expected in codes, (label, codes)


@pytest.mark.parametrize("c8", ["9", "X", "99999999999", "-1", "2{"])
async def test_raw_bad_308_c8_rejects_13(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, c8: str
) -> None:
    request = _claim(fixtures, _medicaid(fixtures), rx_number(), day="20261112")
    t = request_transmission([request])
    claim, *rest = t.transactions[0]
    claim = Segment("07", (*claim.fields, ("C8", c8)))
    cob = Segment("05", (("4C", "1"), *_occurrence()))
    data = encode(Transmission(t.header, t.segments, ((claim, cob, *rest),)))
    (tx,) = await _raw(client, data)
    assert _status(tx) == ("R", ["13"]), tx["21"]


async def test_raw_curable_other_payer_reject_is_41_and_incurable_pays_as_primary(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    member = _medicaid(fixtures)
    curable = _claim(fixtures, member, rx_number(), day="20261113")
    curable.claim.other_coverage_code = 3
    occurrence = _occurrence(
        paid=None, date="20261113", extra=(("5E", "02"), ("6E", "70"), ("6E", "75"))
    )
    (tx,) = await _raw(client, _transmission(curable, (("4C", "01"), *occurrence)))
    assert _status(tx) == ("R", ["41"]), tx["21"]
    assert tx["28"].get("7C") == ACME_BIN
    incurable = _claim(fixtures, member, rx_number(), day="20261113", drug="generic_copay")
    incurable.claim.other_coverage_code = 3
    occurrence = _occurrence(paid=None, date="20261113", extra=(("5E", "1"), ("6E", "70 ")))
    (tx,) = await _raw(client, _transmission(incurable, (("4C", "1"), *occurrence)))
    assert tx["21"].get("AN") == "P", tx["21"]
    assert decode_money(tx["23"].get("J5") or "0{") == 0
    assert "28" not in tx
    await _reverse(client, incurable)


async def test_raw_zero_padded_counts_pay_and_match_the_structured_door(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, conn: asyncpg.Connection
) -> None:
    """Counts "01", a 05 with fields the gateway reads past (993-A7, benefit stages, unknown
    IDs): the same decision as the structured claim; each identity holds on the wire."""
    request = _medicaid_secondary(
        fixtures,
        rx_number(),
        "20261114",
        drug="preferred_brand",
        paid_cents=250,
        patient_responsibility_cents=120,
    )
    structured = await client.submit(request)
    assert structured.transaction_response_status == "P", structured.rejects
    _identities(structured.pricing)
    await _reverse(client, request)
    occurrence = (
        ("5C", "01"),
        ("6C", "03"),
        ("7C", ACME_BIN),
        ("E8", "20261114"),
        ("A7", "PRIMARYICN123"),
        ("HB", "01"),
        ("HC", "07"),
        ("DV", "25{"),
        ("NR", "001"),
        ("NP", "06"),
        ("NQ", "12{"),
        ("MU", "1"),
        ("MV", "01"),
        ("MW", "25{"),
        ("ZZ", "vendor"),
    )
    (tx,) = await _raw(client, _transmission(request, (("4C", "01"), *occurrence)))
    assert tx["21"].get("AN") == "P", tx["21"]
    p = structured.pricing
    f = {k: decode_money(tx["23"].get(k) or "0{") for k in ("F6", "F7", "F5", "F9", "J5")}
    assert (f["F6"], f["F7"], f["F5"], f["F9"], f["J5"]) == (
        p.ingredient_cost_paid_cents,
        p.dispensing_fee_paid_cents,
        p.patient_pay_amount_cents,
        p.total_amount_paid_cents,
        p.other_payer_amount_recognized_cents,
    )
    assert f["F9"] == f["F6"] + f["F7"] - f["F5"] - f["J5"]
    await _reverse(client, request)
    failed = [r for r in await run_checks(conn) if not r.passed]
    assert failed == [], failed


def _with_segment_05(
    group: tuple[Segment, ...], c8: tuple[str, str], cob: Segment
) -> tuple[Segment, ...]:
    """A transaction's segments with this 308-C8 and segment 05 in place of the ones
    request_transmission wrote (each once: a second is R8)."""
    claim, *rest = group
    kept = tuple(f for f in claim.fields if f[0] != "C8")
    return (
        Segment("07", (*kept, c8)),
        cob,
        *(segment for segment in rest if segment.segment_id != "05"),
    )


async def test_raw_multi_transaction_b1_rejects_only_the_bad_cob(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    member = _medicaid(fixtures)
    good = _medicaid_secondary(
        fixtures, rx_number(), "20261115", drug="generic_copay", patient_responsibility_cents=50
    )
    bad = _claim(fixtures, member, rx_number(), day="20261115", drug="generic")
    bad.claim.other_coverage_code = 2
    t = request_transmission([good, bad])
    first, second = t.transactions
    c8 = ("C8", "2")
    ok_cob = Segment(
        "05",
        (
            ("4C", "1"),
            # paid 10.00 of an allowed 24.61, left 0.50 (30.00 paid would leave nothing: 74)
            *_occurrence(
                paid="100{", date="20261115", extra=(("NR", "1"), ("NP", "06"), ("NQ", "5{"))
            ),
        ),
    )
    bad_cob = Segment("05", (("4C", "3"), *_occurrence(date="20261115")))
    data = encode(
        Transmission(
            t.header,
            t.segments,
            (
                _with_segment_05(first, c8, ok_cob),
                _with_segment_05(second, c8, bad_cob),
            ),
        )
    )
    one, two = await _raw(client, data)
    assert one["21"].get("AN") == "P", one["21"]
    assert _status(two) == ("R", ["P4"]), two["21"]
    await _reverse(client, good)


# ---------------------------------------------------------------------------------------------
# a commercial plan second to a payer this gateway does not process (standard COB)


async def test_standard_cob_secondary_through_both_doors_ledger_and_reversal(
    admin: AdminClient,
    client: GatewayClient,
    dataset: tuple[Path, dict[str, Any]],
    fixtures: dict[str, Any],
    spare: dict[str, dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    member = spare["partd"]
    await _secondary_setup(admin, dataset, member)
    day = "20261110"
    request = _claim(fixtures, member, rx_number(), day=day, drug="generic_copay")
    refused = await client.submit(request)
    assert [r.code for r in refused.rejects] == ["41"], refused
    assert [p.payer_id for p in refused.other_payers] == [OTHER_BIN]
    # what the plan pays alone: 308-C8 4 with nothing collected
    add_other_payment(
        request, other_coverage_code=4, payer_bin=OTHER_BIN, paid_on=day, paid_cents=0
    )
    alone = await client.submit(request)
    assert alone.transaction_response_status == "P", (alone.rejects, alone.rule_trace)
    a = alone.pricing
    _identities(a)
    assert a.other_payer_amount_recognized_cents == 0
    allowed = a.allowed_amount_cents
    plan_alone = a.total_amount_paid_cents
    await _reverse(client, request)
    # the other payer paid part: standard COB pays min(allowed − paid, alone)
    for paid in (1, allowed // 3, allowed - 1):
        rx = rx_number()
        secondary = _claim(fixtures, member, rx, day=day, drug="generic_copay")
        add_other_payment(
            secondary, other_coverage_code=2, payer_bin=OTHER_BIN, paid_on=day, paid_cents=paid
        )
        answer = await client.submit(secondary)
        assert answer.transaction_response_status == "P", (paid, answer.rejects)
        p = answer.pricing
        _identities(p)
        assert p.other_payer_amount_recognized_cents == paid
        assert p.total_amount_paid_cents == min(allowed - paid, plan_alone), (paid, p)
        raw_reply = await client.transmit(encode(_with_cob(secondary)))
        # a retransmission of the same claim through the other door: a duplicate (D)
        status = next(s for s in decode_response(raw_reply).transactions[0] if s.segment_id == "21")
        assert status.get("AN") == "D", status
        postings = dict(
            await conn.fetch(
                "SELECT p.account_key, sum(p.amount_cents) FROM claim c JOIN posting p"
                " ON p.family_id = c.family_id AND p.entry_id = c.entry_id"
                " WHERE c.internal_control_number = $1 GROUP BY 1",
                answer.internal_control_number,
            )
        )
        npi = fixtures["pharmacies"]["preferred"]
        assert postings[f"other_payers:{member['plan_id']}"] == -paid
        assert postings[f"pharmacy_other_payer:{npi}"] == paid
        reversal = await client.reverse(reversal_for(secondary))
        assert reversal.transaction_response_status == "A"
        assert reversal.pricing.other_payer_amount_recognized_cents == -paid
        assert reversal.pricing.total_amount_paid_cents == -p.total_amount_paid_cents
        mirrored = dict(
            await conn.fetch(
                "SELECT p.account_key, sum(p.amount_cents) FROM posting p"
                " WHERE p.account_key IN ($1, $2) AND p.family_id = (SELECT family_id FROM"
                " claim WHERE internal_control_number = $3) GROUP BY 1",
                f"other_payers:{member['plan_id']}",
                f"pharmacy_other_payer:{npi}",
                answer.internal_control_number,
            )
        )
        assert set(mirrored.values()) <= {0}, mirrored
    # the other payer paid it all: 74
    rx = rx_number()
    covered = _claim(fixtures, member, rx, day=day, drug="generic_copay")
    add_other_payment(
        covered, other_coverage_code=2, payer_bin=OTHER_BIN, paid_on=day, paid_cents=allowed
    )
    answer = await client.submit(covered)
    assert [r.code for r in answer.rejects] == ["74"], answer
    failed = [r for r in await run_checks(conn) if not r.passed]
    assert failed == [], failed


# ---------------------------------------------------------------------------------------------
# what a 41 shows


async def test_41_names_only_the_claimants_own_other_payers(
    admin: AdminClient,
    client: GatewayClient,
    fixtures: dict[str, Any],
    spare: dict[str, dict[str, Any]],
    rx_number: Any,
) -> None:
    a, b = spare["family_a"], spare["family_b"]
    await admin.set_other_coverage(
        admin_pb.OtherCoverageChange(
            member_id=a["member_id"],
            payer_order=1,
            payer_name="Spouse Plan Of A",
            bin="017012",
            processor_control_number="SPA",
            cardholder_id="SECRET-A-001",
            start_date="20260101",
        )
    )
    await admin.set_coverage(
        admin_pb.CoverageChange(
            member_id=a["member_id"],
            plan_id="HDHP-2026",
            group_id=a["group_id"],
            start_date="20250101",
            line_of_business="COMMERCIAL",
            coverage_level="family",
            payer_order=2,
        )
    )
    refused = await client.submit(_claim(fixtures, a, rx_number(), day="20261116"))
    assert [r.code for r in refused.rejects] == ["41"]
    assert [p.cardholder_id for p in refused.other_payers] == ["SECRET-A-001"]
    # the dependent on the same card: no 41, nothing of A's
    b_claim = _claim(fixtures, b, rx_number(), day="20261116")
    other = await client.submit(b_claim)
    assert "SECRET-A-001" not in str(other), other
    assert not other.other_payers
    # A's card with B's date of birth (or a wrong one): never A's other payer
    for dob in (b["date_of_birth"], "19000101"):
        wrong = _claim(fixtures, a, rx_number(), day="20261116")
        wrong.patient.date_of_birth = dob
        answer = await client.submit(wrong)
        assert "SECRET-A-001" not in str(answer), (dob, answer)
        raw = await client.transmit(encode(request_transmission([wrong])))
        assert b"SECRET-A-001" not in raw and b"017012" not in raw
    if other.transaction_response_status == "P":
        await _reverse(client, b_claim)


# ---------------------------------------------------------------------------------------------
# admin


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"payer_order": -1}, "payer_order"),
        ({"payer_order": 10}, "payer_order"),
        ({"payer_order": 2**31 - 1}, "payer_order"),
        ({"bin": "０１７０１０"}, "bin"),
        ({"bin": "0170100"}, "bin"),
        ({"payer_name": "Ünïcode Plan"}, "payer_name"),
        ({"payer_name": "P" * 61}, "payer_name"),
        ({"payer_name": "line\nbreak"}, "payer_name"),
        ({"processor_control_number": "P" * 11}, "processor_control_number"),
        ({"group_id": "G" * 16}, "group_id"),
        ({"person_code": "0001"}, "person_code"),
        ({"help_desk_phone": "8" * 19}, "help_desk_phone"),
        ({"cardholder_id": ""}, "cardholder_id"),
        ({"cardholder_id": "Ｘ1"}, "cardholder_id"),
        ({"start_date": ""}, "start_date"),
        ({"start_date": "20260230"}, "start_date"),
        ({"end_date": "2026-12-31"}, "end_date"),
        ({"member_id": "M" * 65}, "member_id"),
        ({"member_id": "M\x00"}, "member_id"),
    ],
    ids=str,
)
async def test_set_other_coverage_bad_fields_are_invalid_argument(
    admin: AdminClient,
    spare: dict[str, dict[str, Any]],
    conn: asyncpg.Connection,
    changes: dict[str, Any],
    field: str,
) -> None:
    member = spare["partd_admin"]
    request = admin_pb.OtherCoverageChange(
        **(
            {
                "member_id": member["member_id"],
                "payer_order": 1,
                "payer_name": "Admin Probe Plan",
                "bin": "017013",
                "cardholder_id": "PROBE1",
                "start_date": "20260101",
            }
            | changes
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set_other_coverage(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert field in (caught.value.details() or "")
    assert not await conn.fetchval(
        "SELECT count(*) FROM other_coverage WHERE member_id = $1", member["member_id"]
    )


@pytest.mark.parametrize("order", [-1, 10, 2**31 - 1, -(2**31)])
async def test_set_coverage_bad_payer_order_is_invalid_argument(
    admin: AdminClient, spare: dict[str, dict[str, Any]], order: int
) -> None:
    member = spare["partd_admin"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.set_coverage(
            admin_pb.CoverageChange(
                member_id=member["member_id"],
                plan_id=member["plan_id"],
                group_id=member["group_id"],
                start_date="20250101",
                line_of_business="MEDICARE_PART_D",
                payer_order=order,
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "payer_order" in (caught.value.details() or "")


async def test_other_coverage_outside_the_date_of_service_or_after_this_plan_is_no_41(
    admin: AdminClient,
    client: GatewayClient,
    fixtures: dict[str, Any],
    spare: dict[str, dict[str, Any]],
    rx_number: Any,
) -> None:
    """Other coverage ending the day before the fill, starting the day after, or second to
    this (primary) plan: the claim pays as primary. Re-sent with another order, the same key
    (member, BIN, PCN, start) is replaced, not duplicated."""
    member = spare["partd_ties"]
    base = {
        "member_id": member["member_id"],
        "payer_name": "Window Plan",
        "bin": "017014",
        "cardholder_id": "WIN1",
    }
    await admin.set_other_coverage(
        admin_pb.OtherCoverageChange(
            **base, payer_order=1, start_date="20260101", end_date="20261116"
        )
    )
    await admin.set_other_coverage(
        admin_pb.OtherCoverageChange(**base, payer_order=1, start_date="20261118")
    )
    await admin.set_other_coverage(
        admin_pb.OtherCoverageChange(
            **(base | {"bin": "017015"}), payer_order=3, start_date="20260101"
        )
    )
    await admin.set_coverage(
        admin_pb.CoverageChange(
            member_id=member["member_id"],
            plan_id=member["plan_id"],
            group_id=member["group_id"],
            start_date="20250101",
            line_of_business="MEDICARE_PART_D",
            coverage_level="self_only",
            payer_order=2,
        )
    )
    request = _claim(fixtures, member, rx_number(), day="20261117", drug="generic_copay")
    answer = await client.submit(request)
    assert answer.transaction_response_status == "P", (answer.rejects, answer.rule_trace)
    await _reverse(client, request)
    refused = await client.submit(_claim(fixtures, member, rx_number(), day="20261118"))
    assert [r.code for r in refused.rejects] == ["41"]
    assert [p.payer_id for p in refused.other_payers] == ["017014"]


# ---------------------------------------------------------------------------------------------
# loading other_coverages.csv / coverages.csv payer_order


def _copy(dataset: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(dataset[0], target)
    return target


def _rewrite(path: Path, edit: Any) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows = edit(rows)
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payer_order", "0"),
        ("payer_order", "10"),
        ("payer_order", ""),
        ("payer_order", "１"),
        ("bin", "43360"),
        ("bin", "ABCDEF"),
        ("payer_name", ""),
        ("payer_name", "X" * 61),
        ("cardholder_id", ""),
        ("start_date", "2026-02-30"),
        ("end_date", "2025-01-01"),
        ("member_id", "NOBODY"),
    ],
)
def test_bad_other_coverages_csv_is_one_error_naming_the_field(
    dataset: tuple[Path, dict[str, Any]], tmp_path: Path, column: str, value: str
) -> None:
    directory = _copy(dataset, tmp_path)

    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[1][rows[0].index(column)] = value
        return rows

    _rewrite(directory / "other_coverages.csv", edit)
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(directory)
    assert "other_coverages.csv" in str(caught.value)


def test_other_coverages_duplicate_key_is_an_error(
    dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory = _copy(dataset, tmp_path)
    _rewrite(directory / "other_coverages.csv", lambda rows: [*rows, rows[1]])
    with pytest.raises(ReferenceDataError):
        read_dataset(directory)


@pytest.mark.parametrize("value", ["0", "10", "x", "1"])
def test_bad_coverages_payer_order_is_an_error(
    dataset: tuple[Path, dict[str, Any]], tmp_path: Path, value: str
) -> None:
    """0, 10 and x are not payer orders; 1 on the Medicaid coverage of a member with another
    coverage in force is Medicaid not last."""
    directory = _copy(dataset, tmp_path)

    def edit(rows: list[list[str]]) -> list[list[str]]:
        order = rows[0].index("payer_order")
        row = next(r for r in rows if r[0] == "M900004")
        row[order] = value
        return rows

    _rewrite(directory / "coverages.csv", edit)
    with pytest.raises(ReferenceDataError) as caught:
        read_dataset(directory)
    assert "payer_order" in str(caught.value)


def test_coverages_without_payer_order_column_and_without_other_coverages_load(
    dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    directory = _copy(dataset, tmp_path)

    def drop(rows: list[list[str]]) -> list[list[str]]:
        order = rows[0].index("payer_order")
        kept = [r for r in rows if r[0] not in ("M900003",)]
        return [r[:order] + r[order + 1 :] for r in kept]

    _rewrite(directory / "coverages.csv", drop)
    (directory / "other_coverages.csv").write_text(
        "member_id,payer_order,payer_name,bin,pcn,group_id,cardholder_id,person_code,"
        "help_desk_phone,start_date,end_date\n"
    )
    data = read_dataset(directory)
    assert not data.rows("other_coverages.csv")


# ---------------------------------------------------------------------------------------------
# 308-C8 8 (patient responsibility only) and a deductible plan as secondary


async def test_code_8_pays_the_responsibility_left_the_same_through_both_doors(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any, conn: asyncpg.Connection
) -> None:
    request = _claim(
        fixtures, _medicaid(fixtures), rx_number(), day="20261117", drug="multi_source_brand"
    )
    add_other_payment(
        request,
        other_coverage_code=8,
        payer_bin=ACME_BIN,
        paid_on="20261117",
        patient_responsibility_cents=75,
    )
    paid = await client.submit(request)
    assert paid.transaction_response_status == "P", (paid.rejects, paid.rule_trace)
    p = paid.pricing
    _identities(p)
    assert p.basis_of_reimbursement_determination == "14"
    assert p.total_amount_paid_cents + p.patient_pay_amount_cents == min(75, p.allowed_amount_cents)
    assert p.other_payer_amount_recognized_cents == p.allowed_amount_cents - min(
        75, p.allowed_amount_cents
    )
    await _reverse(client, request)
    (tx,) = await _raw(client, encode(_with_cob(request)))
    assert tx["21"].get("AN") == "P", tx["21"]
    assert tx["23"].get("FM") == "14"
    assert decode_money(tx["23"].get("F9")) == p.total_amount_paid_cents
    assert decode_money(tx["23"].get("J5") or "0{") == p.other_payer_amount_recognized_cents
    await _reverse(client, request)
    # what the primary left is nothing: 74, nothing written
    request = _claim(
        fixtures, _medicaid(fixtures), rx_number(), day="20261117", drug="multi_source_brand"
    )
    add_other_payment(
        request,
        other_coverage_code=8,
        payer_bin=ACME_BIN,
        paid_on="20261117",
        patient_responsibility_cents=0,
    )
    before = await conn.fetchval("SELECT count(*) FROM claim")
    answer = await client.submit(request)
    assert [r.code for r in answer.rejects] == ["74"], answer
    assert await conn.fetchval("SELECT count(*) FROM claim") == before


async def test_deductible_plan_as_secondary_counts_what_the_member_paid(
    admin: AdminClient,
    client: GatewayClient,
    dataset: tuple[Path, dict[str, Any]],
    fixtures: dict[str, Any],
    spare: dict[str, dict[str, Any]],
    rx_number: Any,
    conn: asyncpg.Connection,
) -> None:
    member = spare["hdhp_single"]
    await _secondary_setup(admin, dataset, member)
    day = "20261119"
    request = _claim(fixtures, member, rx_number(), day=day, drug="preferred_brand")
    # the raw 41: AM28 lists the payer with the fields on file (blanks left out)
    (tx,) = await _raw(client, encode(request_transmission([request])))
    assert _status(tx) == ("R", ["41"]), tx["21"]
    assert tx["28"].get("NT") == "1" and tx["28"].get("7C") == OTHER_BIN
    assert "UB" not in dict(tx["28"].fields) and "UY" not in dict(tx["28"].fields)
    add_other_payment(
        request, other_coverage_code=2, payer_bin=OTHER_BIN, paid_on=day, paid_cents=500
    )
    answer = await client.submit(request)
    assert answer.transaction_response_status == "P", (answer.rejects, answer.rule_trace)
    p = answer.pricing
    _identities(p)
    purses = sum(line.paid_cents for line in answer.purses)
    assert p.health_plan_funded_assistance_amount_cents == -purses
    # F5 is what the member pays: its parts are what the accumulators count
    assert p.patient_pay_amount_cents == (
        p.amount_applied_to_periodic_deductible_cents
        + p.amount_of_copay_cents
        + p.amount_of_coinsurance_cents
        + p.amount_attributed_to_provider_network_selection_cents
        + p.amount_attributed_to_product_selection_brand_cents
        + p.amount_attributed_to_non_preferred_formulary_cents
        + p.amount_attributed_to_brand_non_preferred_formulary_cents
        + p.amount_attributed_to_sales_tax_cents
        + p.health_plan_funded_assistance_amount_cents
    )
    assert p.other_payer_amount_recognized_cents == 500
    reversal = await client.reverse(reversal_for(request))
    assert reversal.transaction_response_status == "A"
    assert reversal.pricing.amount_applied_to_periodic_deductible_cents == (
        -p.amount_applied_to_periodic_deductible_cents
    )
    failed = [r for r in await run_checks(conn) if not r.passed]
    assert failed == [], failed


async def test_medicaid_after_two_payers_pays_at_most_what_they_left_end_to_end(
    client: GatewayClient, fixtures: dict[str, Any], rx_number: Any
) -> None:
    day = "20261118"
    probe = _medicaid_secondary(fixtures, rx_number(), day, drug="insulin", code=4, paid_cents=0)
    alone = await client.submit(probe)
    assert alone.transaction_response_status == "P", (alone.rejects, alone.rule_trace)
    allowed = alone.pricing.allowed_amount_cents
    await _reverse(client, probe)
    first_paid = allowed // 2
    second_paid = allowed * 4 // 10
    request = _claim(fixtures, _medicaid(fixtures), rx_number(), day=day, drug="insulin")
    request.claim.other_coverage_code = 2
    one = request.other_payments.add(
        coverage_type="01", payer_id_qualifier="03", payer_id=ACME_BIN, date=day
    )
    one.amounts_paid.add(qualifier="07", amount_cents=first_paid)
    one.patient_responsibility.add(qualifier="06", amount_cents=allowed - first_paid)
    two = request.other_payments.add(
        coverage_type="02", payer_id_qualifier="03", payer_id="017099", date=day
    )
    two.amounts_paid.add(qualifier="07", amount_cents=second_paid)
    answer = await client.submit(request)
    try:
        assert answer.transaction_response_status == "P", answer.rejects
        _identities(answer.pricing)
        p = answer.pricing
        plan_and_member = p.total_amount_paid_cents + p.patient_pay_amount_cents
        assert plan_and_member <= allowed - first_paid - second_paid, p
    finally:
        if answer.transaction_response_status == "P":
            await _reverse(client, request)
