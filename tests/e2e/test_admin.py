"""The admin interface (issue 3 changes in real time; issue 5 its own credential): separate
listener, bearer tokens naming the operator, validation naming the field, an audit row for
every change, and each change seen by the next claim of a running gateway."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.bootstrap import App
from rx_gateway.client import AdminClient, GatewayClient
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import admin_pb2_grpc
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import ADMIN_OPERATOR, ADMIN_TOKEN, benefit_request


@pytest.fixture
async def admin(app: App) -> Any:
    async with AdminClient(f"127.0.0.1:{app.admin_port}", token=ADMIN_TOKEN) as client:
        yield client


@pytest.fixture(scope="module")
def member(dataset: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """A commercial member no other test bills for."""
    members = active_members(dataset[0])
    return next(m for m in members[700:] if m["plan_id"] == "COMM-HRA-2026")


async def _purse_id(conn: asyncpg.Connection, member: dict[str, Any]) -> str:
    purse: str = await conn.fetchval(
        "SELECT p.purse_id FROM purse p JOIN member m USING (family_id) WHERE m.member_id = $1",
        member["member_id"],
    )
    return purse


async def _audit_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM audit_log")
    return count


@pytest.mark.parametrize(
    "token",
    [
        None,
        "wrong-token-wrong-token",
        "",
        # two headers (a proxy added one): which was meant cannot be told, so neither counts
        # (the last one did, a good token after a bad one included)
        ("wrong-token-wrong-token", ADMIN_TOKEN),
        (ADMIN_TOKEN, ADMIN_TOKEN),
    ],
)
async def test_calls_without_a_valid_token_are_refused_and_change_nothing(
    app: App, conn: asyncpg.Connection, token: str | tuple[str, str] | None
) -> None:
    before = await _audit_count(conn)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        tokens = () if token is None else (token,) if isinstance(token, str) else token
        metadata = tuple(("authorization", f"Bearer {t}") for t in tokens) or None
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.FundPurse(
                admin_pb.FundPurseRequest(funding_id="X", purse_id="X", amount_cents=1),
                metadata=metadata,
                timeout=5,
            )
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert await _audit_count(conn) == before


async def test_admin_service_is_not_on_the_claim_port(app: App) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.FundPurse(
                admin_pb.FundPurseRequest(),
                metadata=(("authorization", f"Bearer {ADMIN_TOKEN}"),),
                timeout=5,
            )
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_funding_now_and_later_is_idempotent_and_audited(
    admin: AdminClient,
    client: GatewayClient,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    fixtures: dict[str, Any],
) -> None:
    purse_id = await _purse_id(conn, member)
    ask = benefit_request(fixtures, member, "20261115")
    before = (await client.get_benefits(ask)).purses[0]

    now = admin_pb.FundPurseRequest(
        funding_id="ADMIN-FUND-1", purse_id=purse_id, amount_cents=12_345, memo="bonus"
    )
    reply = await admin.fund_purse(now)
    assert (reply.applied, reply.actor) == (True, ADMIN_OPERATOR)
    assert (await admin.fund_purse(now)).applied is False  # the same funding ID again
    later = admin_pb.FundPurseRequest(
        funding_id="ADMIN-ALLOT-1", purse_id=purse_id, amount_cents=5_000, available_on="20261201"
    )
    assert (await admin.fund_purse(later)).applied is True

    after = (await client.get_benefits(ask)).purses[0]
    assert after.posted_cents == before.posted_cents + 12_345
    assert after.available_cents == before.available_cents + 12_345
    assert after.pending_cents == before.pending_cents + 5_000
    rows = await conn.fetch(
        "SELECT action, actor FROM audit_log WHERE detail->>'purse_id' = $1 ORDER BY audit_id",
        purse_id,
    )
    assert [(r["action"], r["actor"]) for r in rows][-2:] == [
        ("fund_purse", ADMIN_OPERATOR),
        ("schedule_allotment", ADMIN_OPERATOR),
    ]


async def test_coverage_and_authorization_changes_apply_to_the_next_claim(
    admin: AdminClient,
    client: GatewayClient,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    fixtures: dict[str, Any],
    rx_number: Any,
) -> None:
    """Terminate → 69; reinstate → paid; a PA-required drug goes from 75 to paid once the
    authorization is granted. No restart in between."""

    def fill(drug: str, day: str) -> pb.ClaimRequest:
        return claim_request(
            fixtures,
            member,
            fixtures["drugs"][drug],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=day,
        )

    span = admin_pb.CoverageChange(
        member_id=member["member_id"],
        plan_id="COMM-HRA-2026",
        group_id=member["group_id"],
        start_date="20250101",
        end_date="20261109",
        end_reason="terminated",
        line_of_business="COMMERCIAL",
    )
    await admin.set_coverage(span)
    assert [r.code for r in (await client.submit(fill("generic", "20261110"))).rejects] == ["69"]
    span.ClearField("end_date")
    span.ClearField("end_reason")
    await admin.set_coverage(span)
    assert (await client.submit(fill("generic", "20261110"))).transaction_response_status == "P"

    assert [
        r.code for r in (await client.submit(fill("prior_authorization", "20261111"))).rejects
    ] == ["75"]
    grant = admin_pb.PriorAuthorizationGrant(
        pa_number="PA-ADMIN-1",
        member_id=member["member_id"],
        ndc=fixtures["drugs"]["prior_authorization"]["ndc"],
        start_date="20261101",
        end_date="20270430",
        quantity_thousandths=30_000,
    )
    assert (await admin.grant_prior_authorization(grant)).applied is True
    paid = await client.submit(fill("prior_authorization", "20261111"))
    assert paid.transaction_response_status == "P"
    actions = await conn.fetch(
        "SELECT action FROM audit_log WHERE actor = $1 AND detail->>'member_id' = $2"
        " ORDER BY occurred_at, audit_id",
        ADMIN_OPERATOR,
        member["member_id"],
    )
    assert [r["action"] for r in actions] == [
        "set_coverage",
        "set_coverage",
        "grant_prior_authorization",
    ]


def _other(**changes: Any) -> admin_pb.OtherCoverageChange:
    return admin_pb.OtherCoverageChange(
        **(
            {
                "member_id": "M000001",
                "payer_order": 1,
                "payer_name": "Other Plan",
                "bin": "004336",
                "cardholder_id": "OTHER1",
                "start_date": "20260101",
            }
            | changes
        )
    )


async def test_payer_order_and_other_coverage_change_the_next_claim(
    admin: AdminClient,
    client: GatewayClient,
    conn: asyncpg.Connection,
    dataset: tuple[Path, dict[str, Any]],
    fixtures: dict[str, Any],
    rx_number: Any,
) -> None:
    """Another payer recorded, and the member's plan moved to second in the payer order: the
    next claim is 41 naming that payer (the audit rows carry no cardholder ID); the other
    coverage ended, the claim pays. Back to first, the plan pays whatever else is on file (the
    same order is no order: nobody is ahead)."""
    members = active_members(dataset[0])
    member = next(m for m in members[720:] if m["plan_id"] == "COMM-HRA-2026")

    def fill(day: str, drug: str = "generic") -> pb.ClaimRequest:
        return claim_request(
            fixtures,
            member,
            fixtures["drugs"][drug],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=rx_number(),
            date_of_service=day,
        )

    other = _other(
        member_id=member["member_id"],
        payer_name="Spouse Employer Plan",
        bin="017010",
        processor_control_number="SPOUSE",
        group_id="G-9",
        cardholder_id="SP0000000001",
        person_code="02",
        help_desk_phone="8005550123",
    )
    span = admin_pb.CoverageChange(
        member_id=member["member_id"],
        plan_id="COMM-HRA-2026",
        group_id=member["group_id"],
        start_date="20250101",
        line_of_business="COMMERCIAL",
        payer_order=2,
    )
    assert (await admin.set_other_coverage(other)).applied is True
    assert (await admin.set_coverage(span)).applied is True
    refused = await client.submit(fill("20261102"))
    assert [r.code for r in refused.rejects] == ["41"]
    assert [(p.payer_id, p.cardholder_id) for p in refused.other_payers] == [
        ("017010", "SP0000000001")
    ]
    details = await conn.fetch(
        "SELECT detail::text FROM audit_log WHERE action IN ('set_other_coverage',"
        " 'set_coverage') AND detail->>'member_id' = $1",
        member["member_id"],
    )
    assert details and all("SP0000000001" not in r[0] for r in details)
    other.end_date = "20261101"
    await admin.set_other_coverage(other)
    assert (await client.submit(fill("20261102"))).transaction_response_status == "P"
    other.ClearField("end_date")
    await admin.set_other_coverage(other)
    span.payer_order = 0  # 0 is 1: primary, level with the other payer
    await admin.set_coverage(span)
    last = await client.submit(fill("20261120", "generic_copay"))
    assert last.transaction_response_status == "P", last.rejects


@pytest.mark.parametrize(
    ("call", "field", "code"),
    [
        (
            admin_pb.FundPurseRequest(funding_id="F", purse_id="P", amount_cents=0),
            "amount_cents",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.FundPurseRequest(
                funding_id="F", purse_id="P", amount_cents=5, available_on="20261345"
            ),
            "available_on",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.FundPurseRequest(funding_id="", purse_id="P", amount_cents=5),
            "funding_id",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.FundPurseRequest(
                funding_id="F-NOPE", purse_id="NO-SUCH-PURSE", amount_cents=5
            ),
            "purse_id",
            "NOT_FOUND",
        ),
        (
            admin_pb.CoverageChange(
                member_id="M1",
                plan_id="P",
                group_id="G",
                start_date="20260101",
                end_date="20251231",
                end_reason="expired",
                line_of_business="COMMERCIAL",
            ),
            "end_date",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.CoverageChange(
                member_id="M1",
                plan_id="P",
                group_id="G",
                start_date="20260101",
                line_of_business="CASH",
            ),
            "line_of_business",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.CoverageChange(
                member_id="NOBODY",
                plan_id="COMM-HRA-2026",
                group_id="G",
                start_date="20260101",
                line_of_business="COMMERCIAL",
            ),
            "member_id",
            "NOT_FOUND",
        ),
        # an unknown plan is named as such (it was "unknown member_id or plan_id")
        (
            admin_pb.CoverageChange(
                member_id="NOBODY",
                plan_id="NO-SUCH-PLAN",
                group_id="G",
                start_date="20260101",
                line_of_business="COMMERCIAL",
            ),
            "unknown plan_id 'NO-SUCH-PLAN'",
            "NOT_FOUND",
        ),
        (
            admin_pb.PriorAuthorizationGrant(
                pa_number="X", member_id="M1", ndc="1", start_date="20260101", end_date="20260201"
            ),
            "ndc",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.PriorAuthorizationGrant(
                pa_number="X",
                member_id="M1",
                ndc="12345678901",
                drug_group="g",
                start_date="20260101",
                end_date="20260201",
            ),
            "ndc",
            "INVALID_ARGUMENT",
        ),
        # a grant naming no drug of the drug file would apply to no claim (the load refuses
        # it; the admin hunt found the admin door took it)
        (
            admin_pb.PriorAuthorizationGrant(
                pa_number="X",
                member_id="M1",
                ndc="00000000000",
                start_date="20260101",
                end_date="20260201",
            ),
            "ndc",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.PriorAuthorizationGrant(
                pa_number="X",
                member_id="M1",
                drug_group="no-such-group",
                start_date="20260101",
                end_date="20260201",
            ),
            "drug_group",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.PriorAuthorizationGrant(
                pa_number="X",
                member_id="M1",
                drug_group="statin",
                start_date="20260101",
                end_date="20260201",
                quantity_thousandths=2**63 - 1,
            ),
            "quantity_thousandths",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.CoverageChange(
                member_id="M1",
                plan_id="P",
                group_id="G",
                start_date="20260101",
                line_of_business="COMMERCIAL",
                payer_order=10,
            ),
            "payer_order",
            "INVALID_ARGUMENT",
        ),
        (_other(payer_order=0), "payer_order", "INVALID_ARGUMENT"),
        (_other(bin="61099"), "bin", "INVALID_ARGUMENT"),
        (_other(payer_name=""), "payer_name", "INVALID_ARGUMENT"),
        (_other(cardholder_id="X" * 21), "cardholder_id", "INVALID_ARGUMENT"),
        (_other(help_desk_phone="800\x00555"), "help_desk_phone", "INVALID_ARGUMENT"),
        (_other(help_desk_phone="call me"), "help_desk_phone", "INVALID_ARGUMENT"),
        (_other(person_code="ABC"), "person_code", "INVALID_ARGUMENT"),
        (_other(payer_name="   "), "payer_name", "INVALID_ARGUMENT"),
        (_other(end_date="20251231"), "end_date", "INVALID_ARGUMENT"),
        (_other(member_id="NOBODY"), "member_id", "NOT_FOUND"),
        # a NUL in the memo was INTERNAL (the database refused the byte)
        (
            admin_pb.FundPurseRequest(
                funding_id="F-NUL", purse_id="X", amount_cents=1, memo="a\x00b"
            ),
            "memo",
            "INVALID_ARGUMENT",
        ),
        # values no claim could ever match: a group past 301-C1's 15 characters, year 1
        (
            admin_pb.CoverageChange(
                member_id="M1",
                plan_id="P",
                group_id="G" * 16,
                start_date="20260101",
                line_of_business="COMMERCIAL",
            ),
            "group_id",
            "INVALID_ARGUMENT",
        ),
        (
            admin_pb.CoverageChange(
                member_id="M1",
                plan_id="P",
                group_id="G",
                start_date="00010101",
                line_of_business="COMMERCIAL",
            ),
            "start_date",
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_bad_changes_name_the_field(
    admin: AdminClient, conn: asyncpg.Connection, call: Any, field: str, code: str
) -> None:
    before = await _audit_count(conn)
    method = {
        admin_pb.FundPurseRequest: admin.fund_purse,
        admin_pb.CoverageChange: admin.set_coverage,
        admin_pb.PriorAuthorizationGrant: admin.grant_prior_authorization,
        admin_pb.OtherCoverageChange: admin.set_other_coverage,
    }[type(call)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await method(call)
    assert caught.value.code().name == code
    assert field in (caught.value.details() or "")
    assert await _audit_count(conn) == before


async def test_a_funding_id_names_one_funding_event_wherever_it_is_sent(
    admin: AdminClient, conn: asyncpg.Connection, member: dict[str, Any]
) -> None:
    """The same funding ID again, as it was, is 'already applied'; the same ID as an allotment,
    for another purse (another family's) or another amount is refused (FAILED_PRECONDITION)
    and changes nothing: each of those funded a second time under one ID."""
    purse_id = await _purse_id(conn, member)
    other_purse: str = await conn.fetchval(
        "SELECT purse_id FROM purse WHERE purse_id <> $1 AND family_id <> ("
        " SELECT family_id FROM purse WHERE purse_id = $1) ORDER BY purse_id LIMIT 1",
        purse_id,
    )
    first = admin_pb.FundPurseRequest(
        funding_id="ADMIN-ONCE-1", purse_id=purse_id, amount_cents=1_000, memo="once"
    )
    assert (await admin.fund_purse(first)).applied is True
    assert (await admin.fund_purse(first)).applied is False
    posted = "SELECT posted_cents FROM purse WHERE purse_id = $1"
    before = (await conn.fetchval(posted, purse_id), await conn.fetchval(posted, other_purse))
    for reuse in (
        admin_pb.FundPurseRequest(
            funding_id="ADMIN-ONCE-1", purse_id=purse_id, amount_cents=1_000,
            available_on="20261201",
        ),
        admin_pb.FundPurseRequest(
            funding_id="ADMIN-ONCE-1", purse_id=other_purse, amount_cents=1_000
        ),
        admin_pb.FundPurseRequest(
            funding_id="ADMIN-ONCE-1", purse_id=purse_id, amount_cents=2_000
        ),
    ):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.fund_purse(reuse)
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "funding_id" in (caught.value.details() or "")
    after = (await conn.fetchval(posted, purse_id), await conn.fetchval(posted, other_purse))
    assert after == before
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM purse_allotment WHERE allotment_id = 'ADMIN-ONCE-1'"
        )
        == 0
    )


async def test_one_new_funding_id_sent_twice_at_once_funds_once(
    admin: AdminClient,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    dataset: tuple[Path, dict[str, Any]],
) -> None:
    """The same new funding ID for two families' purses, at the same moment: one is applied,
    the other refused (both passed the check before it was held under a lock). The second
    purse is another member's no other test bills for (the funding may land there)."""
    purse_id = await _purse_id(conn, member)
    other = next(
        m
        for m in active_members(dataset[0])[750:]
        if m["plan_id"] == "COMM-HRA-2026" and m["cardholder_id"] != member["cardholder_id"]
    )
    other_purse = await _purse_id(conn, other)
    assert (
        await conn.fetchval(
            "SELECT count(DISTINCT family_id) FROM purse WHERE purse_id = ANY($1::text[])",
            [purse_id, other_purse],
        )
        == 2
    )
    calls = [
        admin.fund_purse(
            admin_pb.FundPurseRequest(funding_id="ADMIN-RACE-1", purse_id=p, amount_cents=700)
        )
        for p in (purse_id, other_purse)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    applied = [o for o in outcomes if not isinstance(o, BaseException) and o.applied]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert (len(applied), len(refused)) == (1, 1), outcomes
    assert refused[0].code() is grpc.StatusCode.FAILED_PRECONDITION
    assert (
        await conn.fetchval("SELECT count(*) FROM purse_funding WHERE funding_id = 'ADMIN-RACE-1'")
        == 1
    )


async def test_one_pa_number_is_granted_to_one_family_even_when_asked_at_once(
    admin: Any, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], conn: Any
) -> None:
    """Ten grants of one new PA number, each for a member of another family, all at once:
    exactly one is applied and the others are refused naming pa_number; the number is held by
    one family. (Each checked that the number was free, then inserted: in three rounds of
    five two families got it.) Members 1600-1700 are the database-fault tests' range, which
    run on databases of their own: no test bills them here."""
    people: dict[str, dict[str, Any]] = {}
    for m in active_members(dataset[0])[1600:1700]:
        people.setdefault(m["cardholder_id"], m)
    chosen = list(people.values())[:10]
    drug = fixtures["drugs"]["prior_authorization"]
    for round_number in range(3):
        number = f"PA-RACE-{round_number}-{secrets.token_hex(3)}"

        async def grant(member: dict[str, Any], number: str = number) -> str:
            try:
                await admin.grant_prior_authorization(
                    admin_pb.PriorAuthorizationGrant(
                        pa_number=number,
                        member_id=member["member_id"],
                        ndc=drug["ndc"],
                        start_date="20260101",
                        end_date="20260102",
                    )
                )
            except grpc.aio.AioRpcError as error:
                assert "pa_number" in (error.details() or ""), error.details()
                return error.code().name
            return "OK"

        codes = await asyncio.gather(*(grant(m) for m in chosen))
        assert sorted(codes) == ["INVALID_ARGUMENT"] * 9 + ["OK"], codes
        families = await conn.fetchval(
            "SELECT count(DISTINCT family_id) FROM prior_authorization WHERE pa_number = $1",
            number,
        )
        assert families == 1


async def test_a_coverage_span_that_could_never_apply_or_would_pay_twice_is_refused(
    admin: Any, app: App, dataset: tuple[Path, dict[str, Any]], conn: Any
) -> None:
    """SetCoverage against the member's stored spans, as the load checks its files (the admin
    hunt found each accepted, with no effect or two primaries): another span of the same plan
    overlapping (claims take the first: it would never apply) is FAILED_PRECONDITION naming
    start_date; another plan in force together at the same payer order, or Medicaid not last,
    names payer_order; a line of business that is not the plan's is INVALID_ARGUMENT. The
    stored span itself may be changed (by its start_date), and a secondary plan added.
    (A member of 1600-1700, the database-fault tests' range: billed by no test here.)"""
    member = [
        m
        for m in active_members(dataset[0])[1600:1700]
        if m["plan_id"] == "COMM-HRA-2026" and m["person_code"] == "001"
    ][-1]
    start = await conn.fetchval(
        "SELECT start_date FROM coverage WHERE member_id = $1 AND plan_id = 'COMM-HRA-2026'",
        member["member_id"],
    )
    group = member["group_id"]

    def change(plan: str, begin: str, **kw: Any) -> Any:
        lob = {"MEDICAID-2026": "MEDICAID"}.get(plan, "COMMERCIAL")
        fields = {"line_of_business": lob, "group_id": group} | kw
        return admin_pb.CoverageChange(
            member_id=member["member_id"], plan_id=plan, start_date=begin, **fields
        )

    refused = [
        (change("COMM-HRA-2026", "20260601", group_id="EMP1-XX"), "FAILED_PRECONDITION", "start_date"),
        (change("HDHP-2026", "20260101", payer_order=1), "FAILED_PRECONDITION", "payer_order"),
        (change("MEDICAID-2026", "20260101", payer_order=1), "FAILED_PRECONDITION", "Medicaid pays last"),
        (change("HDHP-2026", "20260101", line_of_business="MEDICAID"), "INVALID_ARGUMENT", "line_of_business"),
    ]  # fmt: skip
    before = await _audit_count(conn)
    for request, code, said in refused:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin.set_coverage(request)
        assert caught.value.code().name == code, (request, caught.value.details())
        assert said in (caught.value.details() or ""), caught.value.details()
    assert await _audit_count(conn) == before
    # the stored span itself, sent again as stored: nothing changes (applied false, no audit
    # row); changed by its start date; a plan second to it
    same = change("COMM-HRA-2026", f"{start:%Y%m%d}", payer_order=1)
    assert (await admin.set_coverage(same)).applied is False
    assert await _audit_count(conn) == before
    same.end_date, same.end_reason = "20991231", "expired"
    assert (await admin.set_coverage(same)).applied is True
    secondary = change("HDHP-2026", "20260101", payer_order=2, end_date="20260131")
    secondary.end_reason = "expired"
    assert (await admin.set_coverage(secondary)).applied is True
