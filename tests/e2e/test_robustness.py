"""Bad input and deadlines over a real gRPC channel: never INTERNAL, never a partial write."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
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


# Everything a claim may write, by table: (table, id column). A claim that did not commit must
# have added no row to any of them.
LEDGER_TABLES = (
    ("claim", "claim_id"),
    ("journal_entry", "entry_id"),
    ("posting", "posting_id"),
    ("accumulator_move", "move_id"),
    ("claim_purse_spend", "claim_id"),
    ("audit_log", "audit_id"),
    ("purse_funding", "entry_id"),
)


async def _high_water(conn: asyncpg.Connection) -> dict[str, int]:
    """The highest id of each ledger table: rows above it are new."""
    row = await conn.fetchrow(
        "SELECT "
        + ", ".join(
            f"(SELECT coalesce(max({column}), 0) FROM {table}) AS {table}"
            for table, column in LEDGER_TABLES
        )
    )
    return dict(row)


async def _new_rows(conn: asyncpg.Connection, since: dict[str, int]) -> dict[str, list[Any]]:
    return {
        table: await conn.fetch(
            f"SELECT * FROM {table} WHERE {column} > $1 ORDER BY {column}", since[table]
        )
        for table, column in LEDGER_TABLES
    }


async def _settle(conn: asyncpg.Connection) -> None:
    """Wait until no other session of this database runs a statement and the ledger stopped
    growing: an expired call's write has committed or rolled back by then."""
    await asyncio.sleep(0.05)
    previous: dict[str, int] | None = None
    for _ in range(300):
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            " AND state <> 'idle'"
        )
        now = await _high_water(conn)
        if not busy and now == previous:
            return
        previous = now
        await asyncio.sleep(0.02)
    raise AssertionError("the database did not settle")


@pytest.fixture(scope="module")
def deadline_members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Ten members of ten different families that no other test bills for: each claim below
    would be paid on its own (no 79 from a sibling fill)."""
    chosen: list[dict[str, Any]] = []
    cardholders: set[str] = set()
    for member in active_members(dataset[0])[1000:1200]:
        if member["cardholder_id"] not in cardholders:
            cardholders.add(member["cardholder_id"])
            chosen.append(member)
    return chosen[:10]


async def test_expired_deadline_commits_fully_or_not_at_all(
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
    deadline_members: list[dict[str, Any]],
) -> None:
    """Ten claims that would each be paid (ten members of ten families), sent with deadlines
    from 0.2 ms to 5 s. After each first attempt the ledger holds, for that claim, either
    nothing at all or all of it: the claim row, its balanced entry, postings equal to its
    response, its accumulator moves and purse spending, and one audit row. The retransmission
    a switch then sends settles it: D (the stored response) if it had committed, P if not."""
    deadlines_ms = (0.2, 0.5, 0.8, 1, 1.5, 2, 3, 5, 12, 5_000)
    assert len(deadline_members) == len(deadlines_ms)
    outcomes: list[tuple[float, str, bool, str]] = []
    for deadline_ms, member in zip(deadlines_ms, deadline_members, strict=True):
        request = generic_fill(fixtures, member, rx_number(), "20261115")
        before = await _high_water(conn)
        first: str
        try:
            first = (
                await client.submit(request, timeout_s=deadline_ms / 1000)
            ).transaction_response_status
        except grpc.aio.AioRpcError as error:
            assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            first = "timeout"
        assert first in {"P", "timeout"}, (deadline_ms, first)
        await _settle(conn)
        written = await _new_rows(conn, before)
        committed = bool(written["claim"])
        if not committed:
            # nothing at all: no claim, entry, posting, move, spending, funding or audit row
            assert written == {table: [] for table in written}, (deadline_ms, written)
        else:
            [claim] = written["claim"]
            assert claim["member_id"] == member["member_id"]
            assert claim["claim_key"].split("|")[3] == request.claim.prescription_reference_number
            [entry] = written["journal_entry"]
            assert (entry["entry_id"], entry["kind"]) == (claim["entry_id"], "claim")
            postings = written["posting"]
            assert postings and {p["entry_id"] for p in postings} == {entry["entry_id"]}
            assert sum(p["amount_cents"] for p in postings) == 0
            assert {m["entry_id"] for m in written["accumulator_move"]} <= {entry["entry_id"]}
            assert {s["claim_id"] for s in written["claim_purse_spend"]} <= {claim["claim_id"]}
            assert written["purse_funding"] == []
            [audit] = written["audit_log"]
            assert (audit["action"], audit["outcome"], audit["internal_control_number"]) == (
                "B1",
                "P",
                claim["internal_control_number"],
            )

        retry = await client.submit(request)
        outcomes.append((deadline_ms, first, committed, retry.transaction_response_status))
        assert retry.transaction_response_status == ("D" if committed else "P"), outcomes
        if first == "P":
            assert committed
        # exactly one live payment under the key, and its postings are its response's amounts
        live = await conn.fetch(
            "SELECT c.* FROM claim c WHERE c.claim_key LIKE '%|' || $1 || '|%'"
            " AND NOT EXISTS (SELECT 1 FROM claim_reversal r WHERE r.claim_id = c.claim_id)",
            request.claim.prescription_reference_number,
        )
        assert len(live) == 1
        assert live[0]["internal_control_number"] == retry.internal_control_number
        by_account = dict(
            await conn.fetch(
                "SELECT account_key, sum(amount_cents) FROM posting WHERE entry_id = $1"
                " GROUP BY account_key",
                live[0]["entry_id"],
            )
        )
        p = retry.pricing
        npi = request.header.service_provider_id
        assert by_account.get(f"pharmacy_payable:{npi}", 0) == p.total_amount_paid_cents
        assert by_account.get(f"plan:{retry.plan_id}", 0) == -p.plan_paid_cents
        assert (
            by_account.get(f"member_paid:{member['member_id']}", 0) == -p.patient_pay_amount_cents
        )
        purse_postings = sum(v for k, v in by_account.items() if k.startswith("purse:"))
        assert purse_postings == p.health_plan_funded_assistance_amount_cents
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE internal_control_number = $1 AND action = 'B1'"
                " AND outcome = 'P'",
                retry.internal_control_number,
            )
            == 1
        )

    # The scenario did what it is for: some first attempts expired, some committed.
    assert any(first == "timeout" for _, first, _, _ in outcomes), outcomes
    assert any(committed for _, _, committed, _ in outcomes), outcomes
    assert all(result.passed for result in await verify_ledger(conn)), outcomes
