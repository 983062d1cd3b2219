"""A member's CARIN Blue Button pharmacy EOB end to end (issue 17): claims paid over the real
gRPC client (one of them reversed), then `rx-gateway export eob` and the admin interface's
ExportEob; both Bundles parsed by an independent FHIR library, the CARIN-required elements and
the interop.md §2 identities asserted, each read audited, every mistake one line or one status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.adapters.postgres.database import init_connection
from rx_gateway.adapters.postgres.eob import PostgresEob
from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient, reversal_for
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import admin_pb2 as admin_pb
from rx_gateway.v1 import admin_pb2_grpc
from rx_gateway.v1 import claims_pb2 as pb
from tests.e2e.test_cli import _env, _one_line_error, _run
from tests.support import ADMIN_OPERATOR, ADMIN_TOKEN
from tests.unit.test_eob import assert_identities, validate_bundle

# (drug, date of service, DAW): claims dated before the business date (2026-11-23)
FILLS = [
    ("generic", "20261102", 0),
    ("generic_copay", "20261105", 0),
    ("multi_source_brand", "20261109", 1),  # a brand penalty: the claim keeps DAW 1
]


@pytest.fixture(scope="module")
def member(dataset: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """A commercial HRA member in a range no other test bills for."""
    members = active_members(dataset[0])[1930:1950]
    return next(m for m in members if m["plan_id"] == "COMM-HRA-2026")


@pytest.fixture(scope="module")
async def paid(
    client: GatewayClient, fixtures: dict[str, Any], member: dict[str, Any]
) -> list[tuple[pb.ClaimRequest, pb.ClaimResponse]]:
    """The member's three fills, all paid; the second reversed."""
    claims = []
    for position, (drug, day, daw) in enumerate(FILLS):
        request = claim_request(
            fixtures,
            member,
            fixtures["drugs"][drug],
            pharmacy=fixtures["pharmacies"]["preferred"],
            rx_number=991_930_000 + position,  # this module's own prescription numbers
            date_of_service=day,
            dispense_as_written=daw,
        )
        response = await client.submit(request)
        assert response.transaction_response_status == "P", (drug, response)
        claims.append((request, response))
    reversed_ = await client.reverse(reversal_for(claims[1][0]))
    assert reversed_.transaction_response_status == "A", reversed_
    return claims


def _cli(dsn: str, *args: str) -> Any:
    return asyncio.to_thread(_run, "export", "eob", *args, env=_env(RX_GATEWAY_DATABASE_URL=dsn))


async def _export_rpc(
    app: App, request: admin_pb.ExportEobRequest, token: str = ADMIN_TOKEN
) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.admin_port}") as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        return await stub.ExportEob(
            request, metadata=(("authorization", f"Bearer {token}"),), timeout=30
        )


def _amounts_match_the_responses(
    resources: list[dict[str, Any]], paid: list[tuple[pb.ClaimRequest, pb.ClaimResponse]]
) -> None:
    """Each EOB is its claim: 993-A7, the NDC, the date, and the amounts the pharmacy was told."""
    assert [r["identifier"][0]["value"] for r in resources] == [
        response.internal_control_number for _, response in paid
    ]
    assert [r["status"] for r in resources] == ["active", "cancelled", "active"]
    for resource, (request, response) in zip(resources, paid, strict=True):
        (item,) = resource["item"]
        assert item["productOrService"]["coding"][0]["code"] == request.claim.product_id
        day = request.header.date_of_service
        assert item["servicedDate"] == f"{day[:4]}-{day[4:6]}-{day[6:]}"
        amounts = assert_identities(resource)
        cents = {code: int(value * 100) for code, value in amounts.items()}
        p = response.pricing
        assert cents["submitted"] == request.pricing.gross_amount_due_cents
        assert cents["eligible"] == p.allowed_amount_cents
        assert cents["paidtoprovider"] == p.total_amount_paid_cents
        assert cents["paidbypatientcash"] == p.patient_pay_amount_cents
        assert cents["benefit"] == p.plan_paid_cents
        assert (
            cents.get("paidbypatienthealthaccount", 0)
            == -p.health_plan_funded_assistance_amount_cents
        )
        assert cents["copay"] == p.amount_of_copay_cents
        info = {e["category"]["coding"][0]["code"]: e for e in resource["supportingInfo"]}
        assert info["dayssupply"]["valueQuantity"]["value"] == request.claim.days_supply
        assert info["refillnum"]["valueQuantity"]["value"] == request.claim.fill_number
        prescriber = {c["id"]: c for c in resource["contained"]}["prescriber"]
        assert prescriber["identifier"][0]["value"] == request.prescriber.prescriber_id
    brand = {e["category"]["coding"][0]["code"]: e for e in resources[2]["supportingInfo"]}
    assert brand["dawcode"]["code"]["coding"][0]["code"] == "1"


async def test_the_member_file_from_the_command_line_and_the_admin_interface(
    app: App,
    loaded_dsn: str,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    paid: list[tuple[pb.ClaimRequest, pb.ClaimResponse]],
    tmp_path: Path,
) -> None:
    out = tmp_path / "eob.json"
    result = await _cli(
        loaded_dsn, "--member", member["member_id"], "--from", "2026-11-01", "--to",
        "2026-11-22", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"3 ExplanationOfBenefit(s) for member {member['member_id']}" in result.stdout
    from_cli = validate_bundle(out.read_bytes())
    _amounts_match_the_responses(from_cli, paid)

    reply = await _export_rpc(
        app,
        admin_pb.ExportEobRequest(
            member_id=member["member_id"], date_from="20261101", date_to="20261122"
        ),
    )
    assert (reply.claims, reply.actor) == (3, ADMIN_OPERATOR)
    from_rpc = validate_bundle(reply.bundle)
    assert from_rpc == from_cli  # the same resources; only the Bundle's timestamp differs

    # the range is by date of service: the first fill alone, then none
    only_first = await _export_rpc(
        app, admin_pb.ExportEobRequest(member_id=member["member_id"], date_to="20261102")
    )
    assert [r["status"] for r in validate_bundle(only_first.bundle)] == ["active"]
    later = await _export_rpc(
        app, admin_pb.ExportEobRequest(member_id=member["member_id"], date_from="20261110")
    )
    assert (later.claims, validate_bundle(later.bundle)) == (0, [])

    # to stdout: the Bundle alone
    printed = await _cli(loaded_dsn, "--member", member["member_id"])
    assert printed.returncode == 0, printed.stderr
    assert validate_bundle(printed.stdout.encode()) == from_cli

    rows = await conn.fetch(
        "SELECT actor, detail->>'claims' AS claims, detail->>'date_from' AS date_from"
        " FROM audit_log WHERE action = 'export_eob' AND detail->>'member_id' = $1"
        " ORDER BY audit_id",
        member["member_id"],
    )
    assert [(r["actor"] == ADMIN_OPERATOR, r["claims"], r["date_from"]) for r in rows] == [
        (False, "3", "2026-11-01"),  # the CLI's, as the local user
        (True, "3", "2026-11-01"),
        (True, "1", None),
        (True, "0", "2026-11-10"),
        (False, "3", None),
    ]
    assert all(r["actor"].startswith("cli") for r in rows if r["actor"] != ADMIN_OPERATOR)


async def test_export_mistakes_are_one_line_or_one_status(
    app: App,
    loaded_dsn: str,
    conn: asyncpg.Connection,
    member: dict[str, Any],
    paid: list[tuple[pb.ClaimRequest, pb.ClaimResponse]],
    tmp_path: Path,
) -> None:
    before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'export_eob'")
    unknown = _one_line_error(await _cli(loaded_dsn, "--member", "NO-SUCH-MEMBER"))
    assert "unknown member_id" in unknown and "NO-SUCH-MEMBER" in unknown
    backwards = _one_line_error(
        await _cli(
            loaded_dsn, "--member", member["member_id"], "--from", "2026-11-10", "--to",
            "2026-11-01",
        )
    )  # fmt: skip
    assert "--from 2026-11-10 is after --to 2026-11-01" in backwards
    nowhere = tmp_path / "absent" / "eob.json"
    unwritable = _one_line_error(
        await _cli(loaded_dsn, "--member", member["member_id"], "--out", str(nowhere))
    )
    assert "--out" in unwritable and "absent" in unwritable
    directory = _one_line_error(
        await _cli(loaded_dsn, "--member", member["member_id"], "--out", str(tmp_path))
    )
    assert "is a directory" in directory
    bad_date = await _cli(loaded_dsn, "--member", member["member_id"], "--from", "2026-13-01")
    assert bad_date.returncode == 2 and "not a date YYYY-MM-DD" in bad_date.stderr

    cases = [
        (admin_pb.ExportEobRequest(member_id="NO-SUCH-MEMBER"), grpc.StatusCode.NOT_FOUND),
        (admin_pb.ExportEobRequest(member_id=""), grpc.StatusCode.INVALID_ARGUMENT),
        (
            admin_pb.ExportEobRequest(member_id=member["member_id"], date_from="2026-11-01"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            admin_pb.ExportEobRequest(
                member_id=member["member_id"], date_from="20261110", date_to="20261101"
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _export_rpc(app, request)
        assert caught.value.code() is code, (request, caught.value.details())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _export_rpc(
            app, admin_pb.ExportEobRequest(member_id=member["member_id"]), token="wrong-token"
        )
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    # more claims than a call may carry: refused whole, nothing audited
    pool = await asyncpg.create_pool(loaded_dsn, min_size=1, max_size=1, init=init_connection)
    try:
        with pytest.raises(InvalidRequest, match="more than 2 claims"):
            await PostgresEob(pool).eob_facts(
                member["member_id"], None, None, claims_max=2, actor="test"
            )
    finally:
        await pool.close()
    after = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'export_eob'")
    assert after == before  # nothing was read, nothing audited
