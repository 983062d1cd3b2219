"""Enrollment in (X12 834, issue 17) on a running gateway: a file added through the admin
interface is paid on the next claim, a termination rejects it (69), the same file twice
changes nothing, a retroactive termination lists the claim already paid for review (and
reverses nothing), and a member moving from Medicaid to a Marketplace plan stays one member
with both coverages over time. Every card here starts with E834: no other test's members."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.adapters.files.x12_834 import X12EnrollmentReader
from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.enrollment import PostgresEnrollment
from rx_gateway.adapters.postgres.reference_loader import PostgresReferenceLoader
from rx_gateway.bootstrap import App
from rx_gateway.client import AdminClient, GatewayClient
from rx_gateway.domain.enrollment import EnrollmentOutcome
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.service_layer import enrollment
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import admin_pb2_grpc
from rx_gateway.v1 import claims_pb2 as pb
from tests.e2e.test_cli import _env, _one_line_error, _run
from tests.support import ADMIN_OPERATOR, ADMIN_TOKEN, generic_fill
from tests.support_834 import coverage, interchange, member
from tests.support_x12 import x12_errors

COMMERCIAL, HDHP, MEDICAID = "COMM-HRA-2026", "HDHP-2026", "MEDICAID-2026"


async def _enroll(dsn: str, text: str, name: str = "test.834") -> EnrollmentOutcome:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, init=init_connection)
    try:
        plans = (await PostgresReferenceLoader(pool).load_snapshot()).plans
        return await enrollment.enroll(
            X12EnrollmentReader(), PostgresEnrollment(pool), text.encode(), name, plans,
            actor="test",
        )  # fmt: skip
    finally:
        await pool.close()


def _card(card: str, plan_id: str, group_id: str) -> dict[str, Any]:
    """A claim's view of an enrolled subscriber (born 1980-01-01, female)."""
    return {
        "cardholder_id": card,
        "person_code": "001",
        "group_id": group_id,
        "plan_id": plan_id,
        "date_of_birth": "19800101",
        "gender_code": 2,
    }


async def _claim(
    client: GatewayClient, fixtures: dict[str, Any], who: dict[str, Any], rx: int, day: str
) -> pb.ClaimResponse:
    return await client.submit(generic_fill(fixtures, who, rx, day))


def _codes(response: pb.ClaimResponse) -> list[str]:
    return [r.code for r in response.rejects]


async def _count(conn: asyncpg.Connection, table: str) -> int:
    value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def test_an_addition_through_the_admin_interface_is_paid_and_a_termination_rejects_69(
    app: App,
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
) -> None:
    """Enroll (bytes in, a summary out) as an operator: the next claim is paid; after a
    termination the next claim past its end is 69; a bad file is INVALID_ARGUMENT naming the
    segment and element, and changes nothing; each file has its audit row."""
    add = interchange(
        member("E834A0001", member_id="E834A1", group="EMP2-FT",
               lines=coverage(COMMERCIAL, begin="20260101")),
        sender="E834ADMIN", control=1,
    )  # fmt: skip
    end = interchange(
        member("E834A0001", maintenance="024",
               lines=coverage(COMMERCIAL, maintenance="024", end="20261105")),
        sender="E834ADMIN", control=2,
    )  # fmt: skip
    bad = interchange(
        member("E834A0002", group="EMP2-FT", lines=coverage("NOT-A-PLAN", begin="20260101")),
        sender="E834ADMIN", control=3,
    )  # fmt: skip
    who = _card("E834A0001", COMMERCIAL, "EMP2-FT")
    metadata = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        reply = await stub.Enroll(
            admin_pb.EnrollRequest(content=add.encode(), name="add.834"), metadata=metadata
        )
        assert (reply.applied, reply.actor, reply.members_added) == (True, ADMIN_OPERATOR, 1)
        assert reply.coverage_spans_added == 1 and "1 added" in reply.detail

        paid = await _claim(client, fixtures, who, rx_number(), "20261101")
        assert paid.transaction_response_status == "P", _codes(paid)
        assert paid.plan_id == COMMERCIAL

        ended = await stub.Enroll(admin_pb.EnrollRequest(content=end.encode()), metadata=metadata)
        assert (ended.applied, ended.members_terminated, ended.claims_for_review) == (True, 1, 0)
        after = await _claim(client, fixtures, who, rx_number(), "20261110")
        assert _codes(after) == ["69"]

        members = await _count(conn, "member")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Enroll(
                admin_pb.EnrollRequest(content=bad.encode(), name="bad.834"), metadata=metadata
            )
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == (
            "bad.834: segment 10 (HD): HD04 unknown plan 'NOT-A-PLAN' (no loaded plan has this ID)"
        )
        assert await _count(conn, "member") == members
    audit = await conn.fetch(
        "SELECT actor, detail->>'name' AS name FROM audit_log WHERE action = 'enroll'"
        " AND detail->>'name' IN ('add.834', '834') ORDER BY audit_id"
    )
    assert [(r["actor"], r["name"]) for r in audit] == [
        (ADMIN_OPERATOR, "add.834"),
        (ADMIN_OPERATOR, "834"),
    ]


async def test_the_same_file_twice_changes_nothing_the_second_time(
    loaded_dsn: str, conn: asyncpg.Connection
) -> None:
    """Kept by content (a new envelope around the same content is the same file) and by
    control number (another file under a used ISA13 is refused). The file applied is
    notified on rx_enrollment (its ID and counts, no PHI)."""
    body = member(
        "E834T0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")
    ) + member(
        "E834T0001", subscriber=False, first="ROBIN", born="20150606", gender="M",
        lines=coverage(COMMERCIAL, begin="20260101"),
    )  # fmt: skip
    text = interchange(body, sender="E834TWICE", control=1, reference="TWICE")
    notified: list[str] = []
    await conn.add_listener("rx_enrollment", lambda *args: notified.append(args[-1]))
    first = await _enroll(loaded_dsn, text)
    assert (first.applied, first.counts.members_added) == (True, 2)
    for _ in range(50):
        if notified:
            break
        await asyncio.sleep(0.02)
    assert json.loads(notified[0]) == {"file_id": first.file_id, "families": 1}
    tables = ("member", "member_key", "coverage", "family", "enrollment_file", "audit_log")
    before = [await _count(conn, t) for t in tables]

    again = await _enroll(loaded_dsn, text)
    resent = await _enroll(
        loaded_dsn, interchange(body, sender="E834TWICE", control=2, reference="TWICE")
    )
    assert (again.applied, again.file_id) == (False, first.file_id)
    assert (resent.applied, resent.file_id) == (False, first.file_id)
    assert again.counts == first.counts
    assert [await _count(conn, t) for t in tables] == before

    other = interchange(body, sender="E834TWICE", control=1, reference="OTHER")
    with pytest.raises(InvalidRequest, match="ISA13 000000001 from sender E834TWICE was already"):
        await _enroll(loaded_dsn, other)
    assert [await _count(conn, t) for t in tables] == before


async def test_a_retroactive_termination_lists_the_paid_claim_for_review(
    loaded_dsn: str,
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
    tmp_path: Path,
) -> None:
    """`rx-gateway enroll`: coverage re-dated to end before a claim already paid; the claim is
    listed by --report and left as it is (not reversed); the next claim is 69. A bad file is
    one line naming the segment and element."""
    env = _env(RX_GATEWAY_DATABASE_URL=loaded_dsn)
    add, end, bad = tmp_path / "add.834", tmp_path / "end.834", tmp_path / "bad.834"
    add.write_text(
        interchange(
            member("E834R0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")),
            sender="E834RETRO", control=1,
        )
    )  # fmt: skip
    end.write_text(
        interchange(
            member("E834R0001", maintenance="024",
                   lines=coverage(COMMERCIAL, maintenance="024", end="20260930")),
            sender="E834RETRO", control=2,
        )
    )  # fmt: skip
    bad.write_text(
        interchange(
            member("E834R0001", maintenance="024",
                   lines=coverage(COMMERCIAL, maintenance="024", end="20251231")),
            sender="E834RETRO", control=3,
        )
    )  # fmt: skip
    added = await asyncio.to_thread(_run, "enroll", str(add), env=env)
    assert added.returncode == 0, added.stderr
    assert "applied as enrollment file" in added.stdout and "1 added" in added.stdout
    # the same content under another name: this file is named first, then the one it was
    # applied as (the line began with the earlier file's name)
    copy = tmp_path / "copy.834"
    copy.write_text(add.read_text())
    again = await asyncio.to_thread(_run, "enroll", str(copy), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{copy}: already applied as enrollment file"), again.stdout
    assert f"({add}, ISA13 000000001," in again.stdout.splitlines()[0], again.stdout
    who = _card("E834R0001", COMMERCIAL, "EMP2-FT")
    september = await _claim(client, fixtures, who, rx_number(), "20260915")
    october = await _claim(client, fixtures, who, rx_number(), "20261015")
    assert [september.transaction_response_status, october.transaction_response_status] == [
        "P",
        "P",
    ]

    ended = await asyncio.to_thread(_run, "enroll", str(end), env=env)
    assert ended.returncode == 0, ended.stderr
    assert "1 terminated" in ended.stdout and "claims for review: 1" in ended.stdout
    report = await asyncio.to_thread(_run, "enroll", "--report", env=env)
    assert report.returncode == 0, report.stderr
    listed = [line for line in report.stdout.splitlines() if "E834" in line or "plan " in line]
    ours = [line for line in listed if october.internal_control_number in line]
    assert len(ours) == 1, report.stdout
    assert "service 2026-10-15" in ours[0] and "now ends 2026-09-30" in ours[0]
    assert september.internal_control_number not in report.stdout
    reversed_count = await conn.fetchval(
        "SELECT count(*) FROM claim_reversal r JOIN claim c USING (family_id, claim_id)"
        " WHERE c.internal_control_number = $1",
        october.internal_control_number,
    )
    assert reversed_count == 0
    late = await _claim(client, fixtures, who, rx_number(), "20261020")
    assert _codes(late) == ["69"]

    refused = _one_line_error(await asyncio.to_thread(_run, "enroll", str(bad), env=env))
    assert refused == (
        f"rx-gateway: {bad}: segment 10 (DTP): DTP03 the termination (2025-12-31) is before"
        " the coverage begins (2026-01-01)"
    )


async def test_a_member_moving_from_medicaid_to_a_marketplace_plan_stays_one_member(
    loaded_dsn: str,
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
) -> None:
    """The state's 834 ends Medicaid on 2026-06-30; the Marketplace sponsor's 834 adds the
    same person (same card, same member ID) to the high-deductible plan from 2026-07-01. One
    member, two spans; each day's claim is adjudicated on the coverage in force; the new
    plan's deductible starts from zero (accumulators belong to their plan and plan year)."""
    card, member_id = "E834V0001", "E834V1"
    medicaid = _card(card, MEDICAID, "MCAID")
    marketplace = _card(card, HDHP, "EMP3-FT")
    joined = await _enroll(
        loaded_dsn,
        interchange(
            member(card, member_id=member_id, group="MCAID",
                   lines=coverage(MEDICAID, begin="20260101")),
            sender="E834STATE", sponsor="STATE-MEDICAID", control=1,
        ),
    )  # fmt: skip
    assert joined.counts.members_added == 1
    march = await _claim(client, fixtures, medicaid, rx_number(), "20260310")
    assert (march.transaction_response_status, march.plan_id) == ("P", MEDICAID), _codes(march)

    left = await _enroll(
        loaded_dsn,
        interchange(
            member(card, member_id=member_id, maintenance="024",
                   lines=coverage(MEDICAID, maintenance="024", end="20260630")),
            sender="E834STATE", sponsor="STATE-MEDICAID", control=2,
        ),
    )  # fmt: skip
    moved = await _enroll(
        loaded_dsn,
        interchange(
            member(card, member_id=member_id, group="EMP3-FT",
                   lines=coverage(HDHP, begin="20260701")),
            sender="E834MARKET", sponsor="EMP3", control=1,
        ),
    )  # fmt: skip
    assert (left.counts.members_terminated, left.claims_for_review) == (1, 0)
    assert (moved.counts.members_added, moved.counts.members_changed) == (0, 1)
    assert moved.counts.spans_added == 1

    august = await _claim(client, fixtures, marketplace, rx_number(), "20260815")
    assert (august.transaction_response_status, august.plan_id) == ("P", HDHP), _codes(august)
    assert august.accumulators.plan_year == "20260101"
    assert august.accumulators.deductible_individual_met_cents == (
        august.pricing.amount_applied_to_periodic_deductible_cents
    )
    assert _codes(await _claim(client, fixtures, medicaid, rx_number(), "20260820")) == ["69"]
    assert _codes(await _claim(client, fixtures, marketplace, rx_number(), "20260320")) == ["67"]

    rows = await conn.fetch(
        "SELECT m.member_id, f.employer_id FROM member m JOIN family f USING (family_id)"
        " WHERE m.cardholder_id = $1",
        card,
    )
    assert [(r["member_id"], r["employer_id"]) for r in rows] == [(member_id, "EMP3")]
    spans = await conn.fetch(
        "SELECT plan_id, start_date::text, end_date::text, end_reason FROM coverage"
        " WHERE member_id = $1 ORDER BY start_date",
        member_id,
    )
    assert [tuple(r) for r in spans] == [
        (MEDICAID, "2026-01-01", "2026-06-30", "terminated"),
        (HDHP, "2026-07-01", None, None),
    ]


async def test_the_same_content_under_other_delimiters_is_the_same_file(
    loaded_dsn: str, conn: asyncpg.Connection
) -> None:
    """ISA16 '>' and ':' around the same content are one file; a '>' file applied by a gateway
    that digested it as written (before delimiters were written the usual way) is still
    recognized: its row is found by the digest it was stored under."""
    body = member(
        "E834D0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")
    )  # fmt: skip
    body[body.index("DMG*D8*19800101*F")] = "DMG*D8*19800101*F**:RET:2106-3"
    colon = interchange(body, sender="E834DELIM", control=1, reference="DELIM")
    greater = (
        interchange(body, sender="E834DELIM", control=2, reference="DELIM")
        .replace("*P*:~", "*P*>~")
        .replace(":RET:2106-3", ">RET>2106-3")
    )
    first = await _enroll(loaded_dsn, colon)
    assert first.applied
    resent = await _enroll(loaded_dsn, greater)
    assert (resent.applied, resent.file_id) == (False, first.file_id)

    # a '>' file an older gateway applied: stored under the digest of its text as written
    older = (
        interchange(body, sender="E834DELIM", control=3, reference="OLDER")
        .replace("*P*:~", "*P*>~")
        .replace(":RET:2106-3", ">RET>2106-3")
    )
    from rx_gateway.adapters.documents import plan_from_document
    from rx_gateway.tools.synthetic.plans import plan_documents

    plans = {d["plan_id"]: plan_from_document(d, d["plan_id"]) for d in plan_documents()}
    read = X12EnrollmentReader().read(older.encode(), "older.834", plans)
    assert read.interchange.earlier_content_sha256 not in ("", read.interchange.content_sha256)
    stored_id = await conn.fetchval(
        "INSERT INTO enrollment_file (content_sha256, name, interchange_sender_id,"
        " interchange_control_number, transaction_control_numbers, sponsor_ids, actor, summary)"
        " VALUES ($1, 'older.834', 'E834DELIM', '000000003', '{0001}', '{EMP2}', 'test',"
        " '{\"counts\": {}}')"
        " RETURNING file_id",
        read.interchange.earlier_content_sha256,
    )
    again = await _enroll(
        loaded_dsn,
        older.replace("*000000003*", "*000000004*").replace("IEA*1*000000003", "IEA*1*000000004"),
    )
    assert (again.applied, again.file_id) == (False, stored_id)


async def test_a_file_applied_before_its_data_was_escaped_in_the_digest_is_still_applied(
    loaded_dsn: str, conn: asyncpg.Connection
) -> None:
    """A file with | between elements and a * in a name digests otherwise than it did before
    such data was escaped. Re-sent in its own envelope (sender and ISA13), it is found by
    its old digest and answered "already applied"; another file under that ISA13 is still
    refused (the old digest could be another content's)."""
    from rx_gateway.x12.enrollment_834 import content_sha256, legacy_digests, split

    body = member("E834E0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101"))
    name = next(s for s in body if s.startswith("NM1*IL"))
    body = [name + "*B" if s == name else s for s in body]
    starred = interchange(body, sender="E834ESC", control=7, reference="ESC")
    first_name = name.split("*")[4]
    piped = starred.replace("*", "|").replace(f"|{first_name}|B", f"|{first_name}*B")
    found, segments = split(piped, "t.834")
    (old, *_) = legacy_digests("E834ESC", segments, found)
    assert old != content_sha256("E834ESC", segments, found)
    stored_id = await conn.fetchval(
        "INSERT INTO enrollment_file (content_sha256, name, interchange_sender_id,"
        " interchange_control_number, transaction_control_numbers, sponsor_ids, actor, summary)"
        " VALUES ($1, 'before.834', 'E834ESC', '000000007', '{0001}', '{EMP2}', 'test',"
        " '{\"counts\": {}}')"
        " RETURNING file_id",
        old,
    )
    again = await _enroll(loaded_dsn, piped)
    assert (again.applied, again.file_id) == (False, stored_id)
    other = piped.replace(f"{first_name}*B", f"{first_name}*C")
    with pytest.raises(InvalidRequest, match="ISA13 000000007 from sender E834ESC was already"):
        await _enroll(loaded_dsn, other)


async def test_acknowledge_answers_a_999_and_changes_nothing(
    app: App, conn: asyncpg.Connection
) -> None:
    """Acknowledge through the admin interface: a conforming file's 999 accepts it, a file
    with a bad date rejects it naming DMG02, neither changes a member or an audit row, and
    each 999 has its own interchange control number (the 835s' sequence)."""
    good = interchange(
        member("E834K0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")),
        sender="E834ACK", control=1,
    )  # fmt: skip
    bad = good.replace("DMG*D8*19800101*F", "DMG*D8*19801301*F")
    assert bad != good
    metadata = (("authorization", f"Bearer {ADMIN_TOKEN}"),)
    tables = ("member", "coverage", "enrollment_file", "audit_log")
    before = [await _count(conn, t) for t in tables]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        accepted = await stub.Acknowledge(
            admin_pb.EnrollRequest(content=good.encode(), name="good.834"), metadata=metadata
        )
    async with AdminClient(f"127.0.0.1:{app.admin_port}", token=ADMIN_TOKEN) as admin:
        rejected = await admin.acknowledge(bad.encode(), "bad.834")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        # past grpc's default 4 MiB: the admin listener takes an 834 of up to 64 MiB
        with pytest.raises(grpc.aio.AioRpcError) as large:
            await stub.Acknowledge(
                admin_pb.EnrollRequest(content=b"x" * (5 * 1024 * 1024)), metadata=metadata
            )
        assert large.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        spent = await conn.fetchval("SELECT last_value FROM x12_interchange_control_number")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Acknowledge(admin_pb.EnrollRequest(content=b"hello"), metadata=metadata)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "not an X12 interchange" in (caught.value.details() or "")
        # no envelope to answer: no control number spent
        assert await conn.fetchval("SELECT last_value FROM x12_interchange_control_number") == spent
        with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
            await stub.Acknowledge(admin_pb.EnrollRequest(content=good.encode()))
        assert unauthenticated.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert (accepted.accepted, rejected.accepted) == (True, False)
    assert accepted.actor == ADMIN_OPERATOR
    good_999 = accepted.acknowledgment.decode("ascii").splitlines()
    bad_999 = rejected.acknowledgment.decode("ascii").splitlines()
    assert x12_errors(accepted.acknowledgment.decode()) == []
    assert x12_errors(rejected.acknowledgment.decode()) == []
    # addressed back: the file's receiver RXGATEWAY sends it to E834ACK
    assert (good_999[0][35:50].strip(), good_999[0][54:69].strip()) == ("RXGATEWAY", "E834ACK")
    assert "AK9*A*1*1*1~" in good_999 and "IK5*A~" in good_999
    dmg = next(n for n, line in enumerate(bad_999) if line.startswith("IK3*DMG*"))
    assert bad_999[dmg + 1] == "IK4*2*1251*8~"  # no copy of a date of birth
    assert "AK9*R*1*1*0~" in bad_999
    assert good_999[0][90:99] != bad_999[0][90:99]  # ISA13: one number each
    assert [await _count(conn, t) for t in tables] == before


async def test_enroll_ack_writes_the_999_before_applying_and_whether_or_not_it_applies(
    loaded_dsn: str, tmp_path: Path, conn: asyncpg.Connection
) -> None:
    env = _env(RX_GATEWAY_DATABASE_URL=loaded_dsn)
    good = interchange(
        member("E834C0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")),
        sender="E834CLI", control=1,
    )  # fmt: skip
    file, ack = tmp_path / "good.834", tmp_path / "good.999"
    file.write_text(good)
    applied = await asyncio.to_thread(_run, "enroll", str(file), "--ack", str(ack), env=env)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[0] == f"{ack}: 999 written, the file accepted"
    assert "applied as enrollment file" in applied.stdout
    assert "AK9*A*1*1*1~" in ack.read_text().splitlines()

    bad, bad_ack = tmp_path / "bad.834", tmp_path / "bad.999"
    bad.write_text(  # a file of its own (ISA13 2: the good file's ISA13 would be TA1 025)
        interchange(
            member("E834C0002", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101")),
            sender="E834CLI", control=2,
        ).replace("HD*021**PDG*", "HD*021**PGD*")
    )  # fmt: skip
    members = await _count(conn, "member")
    refused = await asyncio.to_thread(_run, "enroll", str(bad), "--ack", str(bad_ack), env=env)
    assert refused.returncode == 1
    assert refused.stdout == f"{bad_ack}: 999 written, the file rejected\n"
    assert _one_line_error(refused).startswith(f"rx-gateway: {bad}: segment ")
    lines = bad_ack.read_text().splitlines()
    assert any(line.startswith("IK4*3*1205*7*PGD") for line in lines), lines
    assert x12_errors(bad_ack.read_text()) == []
    assert await _count(conn, "member") == members

    assert not list(tmp_path.glob(".*"))  # written beside, then renamed: nothing left over
    unwritable = await asyncio.to_thread(
        _run, "enroll", str(bad), "--ack", str(tmp_path / "no" / "such.999"), env=env
    )
    assert "cannot write the 999" in _one_line_error(unwritable)
    directory = await asyncio.to_thread(_run, "enroll", str(bad), "--ack", str(tmp_path), env=env)
    assert _one_line_error(directory) == (
        f"rx-gateway: {tmp_path}: not a regular file: name a file for the 999 (nothing applied)"
    )
    locked = tmp_path / "locked.999"
    locked.write_text("kept")
    locked.chmod(0o444)
    if os.geteuid() != 0:  # root may write anything: the check is for everyone else
        refused_ro = await asyncio.to_thread(
            _run, "enroll", str(bad), "--ack", str(locked), env=env
        )
        assert "read-only" in _one_line_error(refused_ro)
        assert locked.read_text() == "kept"
    ack.chmod(0o640)
    again = await asyncio.to_thread(_run, "enroll", str(file), "--ack", str(ack), env=env)
    assert again.returncode == 0, again.stderr
    assert stat.S_IMODE(ack.stat().st_mode) == 0o640  # a file replaced keeps its mode
    kept = bad.read_text()
    itself = await asyncio.to_thread(_run, "enroll", str(bad), "--ack", str(bad), env=env)
    assert _one_line_error(itself) == (
        f"rx-gateway: enroll: --ack {bad} is the 834 file itself: name another file for the 999"
    )
    assert bad.read_text() == kept
    alone = await asyncio.to_thread(_run, "enroll", "--ack", str(ack), "--report", env=env)
    assert (
        _one_line_error(alone)
        == "rx-gateway: enroll: --ack acknowledges an 834 file: give the file"
    )


async def test_a_file_under_an_isa13_another_file_used_is_answered_ta1_025(
    loaded_dsn: str,
) -> None:
    """The 999 knows what enroll knows: the sender's ISA13 already names another applied
    file (TA1 R 025, alone), while the same file again is accepted (enroll says it was applied
    before and changes nothing)."""
    body = member("E834U0001", group="EMP2-FT", lines=coverage(COMMERCIAL, begin="20260101"))
    first = interchange(body, sender="E834REUSE", control=7, reference="FIRST")
    other = interchange(body, sender="E834REUSE", control=7, reference="OTHER")
    assert (await _enroll(loaded_dsn, first)).applied
    pool = await asyncpg.create_pool(loaded_dsn, min_size=1, max_size=1, init=init_connection)
    try:
        store = PostgresEnrollment(pool)
        again = await enrollment.acknowledge(X12EnrollmentReader(), store, first.encode(), "a")
        reused = await enrollment.acknowledge(X12EnrollmentReader(), store, other.encode(), "b")
    finally:
        await pool.close()
    assert again.accepted
    assert not reused.accepted
    assert reused.text.splitlines()[1:] == [
        "TA1*000000007*261101*1200*R*025~",
        reused.text.splitlines()[-1],
    ]
    assert reused.text.splitlines()[-1].startswith("IEA*0*")
    with pytest.raises(InvalidRequest, match="ISA13 000000007 from sender E834REUSE was already"):
        await _enroll(loaded_dsn, other)
