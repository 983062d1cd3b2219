"""Bad input and deadlines over a real gRPC channel: never INTERNAL, never a partial write."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc
from tests.support import generic_fill

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)


def _texts(*valid: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(valid), st.text(max_size=30), st.text(min_size=190, max_size=260)
    )


def _requests(fixtures: dict[str, Any]) -> st.SearchStrategy[pb.ClaimRequest]:
    member = fixtures["members"]["commercial_child"]  # no other test bills for this family
    plan = fixtures["plans"][member["plan_id"]]
    drug = fixtures["drugs"]["generic"]
    return st.builds(
        lambda h, i, c, p: pb.ClaimRequest(
            header=h, insurance=i, claim=c, pricing=p, patient=pb.Patient()
        ),
        st.builds(
            pb.Header,
            bin=_texts(plan["bin"], "12345X"),
            processor_control_number=_texts(plan["pcn"]),
            service_provider_id=_texts(fixtures["pharmacies"]["preferred"]),
            date_of_service=_texts("20261101", "20261345", "2026-11-01", "00000000"),
        ),
        st.builds(
            pb.Insurance,
            cardholder_id=_texts(member["cardholder_id"]),
            group_id=_texts(member["group_id"]),
            person_code=_texts(member["person_code"], "1"),
            patient_relationship_code=INT32,
        ),
        st.builds(
            pb.Claim,
            prescription_reference_number=_texts("123456", "0"),
            fill_number=st.one_of(st.just(0), INT32),
            product_id_qualifier=_texts("03"),
            product_id=_texts(drug["ndc"]),
            quantity_dispensed_thousandths=st.one_of(st.just(30_000), st.just(300_001), INT64),
            days_supply=st.one_of(st.just(30), st.sampled_from([0, 9999]), INT32),
            dispense_as_written=st.one_of(st.just(0), INT32),
        ),
        st.builds(
            pb.Pricing,
            ingredient_cost_submitted_cents=st.one_of(st.just(3_000), INT64),
            dispensing_fee_submitted_cents=st.one_of(st.just(200), INT64),
            usual_and_customary_charge_cents=st.one_of(st.just(5_000), INT64),
            gross_amount_due_cents=st.one_of(st.just(3_200), INT64),
        ),
    )


async def test_arbitrary_requests_never_crash_or_write_for_rejects(
    app: App, conn: asyncpg.Connection, fixtures: dict[str, Any]
) -> None:
    """Hypothesis sends valid and invalid claims: OK or INVALID_ARGUMENT only; only P writes."""
    entries_before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    paid: list[str] = []
    target = f"127.0.0.1:{app.port}"

    @settings(
        max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(request=_requests(fixtures))
    def run(request: pb.ClaimRequest) -> None:
        with grpc.insecure_channel(target) as channel:
            try:
                response = pb_grpc.ClaimServiceStub(channel).Submit(request, timeout=10)
            except grpc.RpcError as error:
                assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error
                return
        assert response.transaction_response_status in {"P", "D", "R"}
        if response.transaction_response_status == "R":
            assert response.rejects and not response.pricing.allowed_amount_cents
        if response.transaction_response_status == "P":
            paid.append(response.internal_control_number)

    await asyncio.to_thread(run)
    entries_after = await conn.fetchval("SELECT count(*) FROM journal_entry")
    assert entries_after - entries_before == len(set(paid))
    assert all(result.passed for result in await verify_ledger(conn))


async def test_expired_deadline_commits_fully_or_not_at_all(
    client: GatewayClient, conn: asyncpg.Connection, fixtures: dict[str, Any], rx_number: Any
) -> None:
    """Claims sent with deadlines from 0.5 to 40 ms, then retransmitted as a switch would:
    each ends with exactly one live payment (P the first time it lands, D if it had committed)."""
    outcomes = []
    for deadline_ms in (0.5, 1, 2, 3, 5, 8, 12, 20, 40):
        request = generic_fill(
            fixtures,
            fixtures["members"]["part_d_other"],
            rx_number(),
            f"2026{int(deadline_ms * 10) % 10 + 1:02d}01",
        )
        first: str
        try:
            first = (
                await client.submit(request, timeout_s=deadline_ms / 1000)
            ).transaction_response_status
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            first = "timeout"
        await asyncio.sleep(0.05)  # let an in-flight commit finish or roll back
        retry = await client.submit(request)
        outcomes.append((first, retry.transaction_response_status))
        assert retry.transaction_response_status in {"P", "D", "R"}
        if first == "P":
            assert retry.transaction_response_status == "D"
        key_count = await conn.fetchval(
            "SELECT count(*) FROM claim c WHERE c.claim_key LIKE '%|' || $1 || '|%'"
            " AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)",
            request.claim.prescription_reference_number,
        )
        assert key_count == (1 if retry.transaction_response_status in {"P", "D"} else 0)
    assert all(result.passed for result in await verify_ledger(conn)), outcomes
