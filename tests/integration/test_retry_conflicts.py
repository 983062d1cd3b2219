"""The 40001 retry, for real: a claim whose family changes between its read and its write.

The store is the real PostgresClaimStore on the session's database. A thin wrapper around it
lets another connection change the claim's family at the worst moment, after the claim's read
and before its write, as a concurrent funding, a sibling's claim or any family write would:
rx_post_claim then finds the family version moved and raises SQLSTATE 40001. Nothing here fakes
the conflict; the wrapper only chooses when the concurrent write happens and records what the
database answered.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from rx_gateway.adapters.postgres.database import create_pool
from rx_gateway.adapters.postgres.store import PostgresClaimStore
from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient
from rx_gateway.domain.errors import ConcurrencyConflict
from rx_gateway.domain.outcome import ResponseStatus
from rx_gateway.grpc_api import translate
from rx_gateway.grpc_api.server import GatewayServer
from rx_gateway.service_layer.claims import ClaimProcessor, RetryPolicy
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import BUSINESS_DATE, TEST_SETTINGS

DATE_OF_SERVICE = "20261116"
_funding_ids = itertools.count(1)


@dataclass
class Interference:
    """Between a claim's read and its write, ``interfere(family_id)`` changes the family on
    another connection, for the first ``times`` writes. Records what the claim read and what
    the database answered."""

    interfere: Callable[[str], Awaitable[None]]
    times: int
    versions_read: list[int] = field(default_factory=list)
    writes: int = 0
    conflicts: list[ConcurrencyConflict] = field(default_factory=list)


class InterferedStore:
    """The real store (every call goes to PostgresClaimStore), with ``Interference`` run just
    before each paid claim's write."""

    def __init__(self, inner: Any, interference: Interference) -> None:
        self._inner = inner
        self._interference = interference

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextlib.asynccontextmanager
    async def session(self, *, deadline: float | None = None) -> AsyncIterator[InterferedStore]:
        async with self._inner.session(deadline=deadline) as bound:
            yield InterferedStore(bound, self._interference)

    @contextlib.asynccontextmanager
    async def unit_of_work(
        self, *, deadline: float | None = None
    ) -> AsyncIterator[InterferedStore]:
        async with self._inner.unit_of_work(deadline=deadline) as bound:
            yield InterferedStore(bound, self._interference)

    async def member_state(self, *args: Any) -> Any:
        lookup = await self._inner.member_state(*args)
        if lookup.state is not None:
            self._interference.versions_read.append(lookup.state.family_version)
        return lookup

    async def post_claim(self, request: Any, paid: Any, *, family_version: int) -> Any:
        interference = self._interference
        interference.writes += 1
        if interference.writes <= interference.times:
            await interference.interfere(paid.family_id)
        try:
            return await self._inner.post_claim(request, paid, family_version=family_version)
        except ConcurrencyConflict as conflict:
            interference.conflicts.append(conflict)
            raise


def _from_the_database(conflict: ConcurrencyConflict) -> bool:
    """The conflict is PostgreSQL's 40001 from rx_post_claim's family version check."""
    cause = conflict.__cause__
    return (
        isinstance(cause, asyncpg.SerializationError)
        and cause.sqlstate == "40001"
        and "family state changed since it was read" in str(cause)
    )


@pytest.fixture(scope="module")
def families(dataset: tuple[Path, dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Commercial (HRA) families with at least two active members that no other test bills
    for, members in person-code order."""
    by_cardholder: dict[str, list[dict[str, Any]]] = {}
    for member in active_members(dataset[0])[1200:1400]:
        if member["plan_id"] == "COMM-HRA-2026":
            by_cardholder.setdefault(member["cardholder_id"], []).append(member)
    return [members for members in by_cardholder.values() if len(members) >= 2]


@pytest.fixture
async def store(loaded_dsn: str) -> AsyncIterator[PostgresClaimStore]:
    """The real claim store on its own small pool, as the gateway's application role."""
    pool = await create_pool(loaded_dsn, replace(TEST_SETTINGS.pool, size_min=1, size_max=2))
    try:
        yield PostgresClaimStore(pool, acquire_timeout_s=2.0)
    finally:
        await pool.close()


def _processor(app: App, store: Any, attempts: int) -> ClaimProcessor:
    return ClaimProcessor(
        store,
        app.reference,
        retry=RetryPolicy(attempts_max=attempts, wait_initial_s=0.001, wait_max_s=0.004),
        business_date=lambda: BUSINESS_DATE,
    )


def _fill(fixtures: dict[str, Any], member: dict[str, Any], rx: int, drug: str) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"][drug],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service=DATE_OF_SERVICE,
    )


async def _family(conn: asyncpg.Connection, member: dict[str, Any]) -> tuple[str, str, int, int]:
    """(family ID, HRA purse ID, family version, purse balance)."""
    row = await conn.fetchrow(
        "SELECT m.family_id, p.purse_id, f.version, p.posted_cents FROM member m"
        " JOIN family f USING (family_id) JOIN purse p USING (family_id)"
        " WHERE m.member_id = $1 AND p.kind = 'HRA'",
        member["member_id"],
    )
    return row["family_id"], row["purse_id"], row["version"], row["posted_cents"]


_TABLES = (
    ("claim", "claim_id"),
    ("journal_entry", "entry_id"),
    ("posting", "posting_id"),
    ("accumulator_move", "move_id"),
    ("claim_purse_spend", "claim_id"),
    ("audit_log", "audit_id"),
)


async def _high_water(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(
        "SELECT "
        + ", ".join(
            f"(SELECT coalesce(max({column}), 0) FROM {table}) AS {table}"
            for table, column in _TABLES
        )
    )
    return dict(row)


async def _rows_since(conn: asyncpg.Connection, since: dict[str, int]) -> dict[str, list[Any]]:
    return {
        table: await conn.fetch(
            f"SELECT * FROM {table} WHERE {column} > $1 ORDER BY {column}", since[table]
        )
        for table, column in _TABLES
    }


async def test_a_conflict_between_read_and_write_is_retried_on_fresh_state_then_paid(
    app: App,
    client: GatewayClient,
    store: PostgresClaimStore,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    families: list[list[dict[str, Any]]],
    rx_number: Any,
) -> None:
    """The claim's first write meets a concurrent funding of the family's HRA, its second a
    sibling's claim paid through the running gateway; both really happen on other connections
    between the claim's read and its write. PostgreSQL answers 40001 twice, the processor
    adjudicates again on fresh state each time, and the third write pays: the response and the
    ledger count the funding and the sibling's spending."""
    member, sibling = families[0][:2]
    family_id, purse_id, version_before, balance_before = await _family(conn, member)
    funding_cents = 1_234
    sibling_responses: list[pb.ClaimResponse] = []

    async def concurrent_funding(family: str) -> None:
        assert family == family_id
        await conn.fetchval(
            "SELECT rx_fund_purse($1, $2, $3, $4, 'test', 'concurrent funding')",
            family,
            f"RETRY-FUND-{next(_funding_ids)}",
            purse_id,
            funding_cents,
        )

    async def concurrent_sibling_claim(family: str) -> None:
        assert family == family_id
        sibling_responses.append(
            await client.submit(_fill(fixtures, sibling, rx_number(), "preferred_brand"))
        )

    steps = iter((concurrent_funding, concurrent_sibling_claim))

    async def interfere(family: str) -> None:
        await next(steps)(family)

    interference = Interference(interfere, times=2)
    processor = _processor(app, InterferedStore(store, interference), attempts=3)
    request = _fill(fixtures, member, rx_number(), "generic_copay")  # a copay the HRA pays
    before = await _high_water(conn)

    response = await processor.submit(translate.claim_request_from_pb(request))

    assert response.transaction_response_status is ResponseStatus.PAID, response.rejects
    # two real conflicts, both PostgreSQL's 40001, then the write that landed
    assert interference.writes == 3
    assert len(interference.conflicts) == 2
    assert all(_from_the_database(c) for c in interference.conflicts)
    # each attempt read the family afresh: the funding, then the sibling's claim, moved it
    assert interference.versions_read == [version_before, version_before + 1, version_before + 2]
    [sibling_response] = sibling_responses
    assert sibling_response.transaction_response_status == "P"
    # the claim was priced on the state it finally wrote over: funding in, sibling's HRA out
    sibling_hra = -sibling_response.pricing.health_plan_funded_assistance_amount_cents
    assert response.pricing is not None
    own_hra = -response.pricing.health_plan_funded_assistance_amount_cents
    assert own_hra > 0
    expected_balance = balance_before + funding_cents - sibling_hra - own_hra
    assert [line.available_cents for line in response.purses] == [expected_balance]
    assert (
        await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
        == expected_balance
    )
    assert (
        await conn.fetchval("SELECT version FROM family WHERE family_id = $1", family_id)
        == version_before + 3
    )
    # the claim was written once: one claim row, one claim entry, one B1 audit row
    written = await _rows_since(conn, before)
    mine = [c for c in written["claim"] if c["member_id"] == member["member_id"]]
    assert [c["internal_control_number"] for c in mine] == [response.internal_control_number]
    assert sorted(e["kind"] for e in written["journal_entry"]) == ["claim", "claim", "funding"]
    assert [
        a["outcome"]
        for a in written["audit_log"]
        if a["internal_control_number"] == response.internal_control_number
    ] == ["P"]
    assert all(result.passed for result in await verify_ledger(conn))


async def _bump_version(conn: asyncpg.Connection, family_id: str) -> None:
    await conn.execute("UPDATE family SET version = version + 1 WHERE family_id = $1", family_id)


async def test_conflicts_on_every_attempt_exhaust_the_retries_and_write_nothing(
    app: App,
    store: PostgresClaimStore,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    families: list[list[dict[str, Any]]],
    rx_number: Any,
) -> None:
    """Every write of the claim meets a family change: after attempts_max real 40001s the
    processor raises ConcurrencyConflict, and the ledger holds nothing of the claim."""
    member = families[1][0]
    family_id, purse_id, version_before, balance_before = await _family(conn, member)
    accumulators_before = await conn.fetch(
        "SELECT * FROM accumulator WHERE subject_id = ANY($1::text[]) ORDER BY 1, 2, 3, 4, 5",
        [member["member_id"], family_id],
    )

    async def interfere(family: str) -> None:
        await _bump_version(conn, family)

    interference = Interference(interfere, times=1_000)
    processor = _processor(app, InterferedStore(store, interference), attempts=4)
    request = _fill(fixtures, member, rx_number(), "preferred_brand")
    before = await _high_water(conn)

    with pytest.raises(ConcurrencyConflict):
        await processor.submit(translate.claim_request_from_pb(request))

    assert interference.writes == 4
    assert len(interference.conflicts) == 4
    assert all(_from_the_database(c) for c in interference.conflicts)
    assert interference.versions_read == [version_before + n for n in range(4)]
    # nothing of the claim: no row in any ledger table, purse and accumulators untouched,
    # the family version moved only by the interfering writes
    assert await _rows_since(conn, before) == {table: [] for table, _ in _TABLES}
    assert (
        await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
        == balance_before
    )
    assert (
        await conn.fetch(
            "SELECT * FROM accumulator WHERE subject_id = ANY($1::text[]) ORDER BY 1, 2, 3, 4, 5",
            [member["member_id"], family_id],
        )
        == accumulators_before
    )
    assert (
        await conn.fetchval("SELECT version FROM family WHERE family_id = $1", family_id)
        == version_before + 4
    )
    # once the family is quiet, the same claim is paid at the first attempt
    quiet = Interference(interfere, times=0)
    paid = await _processor(app, InterferedStore(store, quiet), attempts=4).submit(
        translate.claim_request_from_pb(request)
    )
    assert paid.transaction_response_status is ResponseStatus.PAID
    assert (quiet.writes, quiet.conflicts) == (1, [])


async def test_exhausted_retries_answer_aborted_over_grpc(
    app: App,
    store: PostgresClaimStore,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    families: list[list[dict[str, Any]]],
    rx_number: Any,
) -> None:
    """The same exhaustion seen by a switch: a gateway over the interfered store answers
    gRPC ABORTED (not INTERNAL, not a claim response), and nothing is written; the switch's
    retransmission, once the family is quiet, is paid."""
    member = families[2][0]
    family_id, purse_id, version_before, balance_before = await _family(conn, member)

    async def interfere(family: str) -> None:
        await _bump_version(conn, family)

    interference = Interference(interfere, times=3)
    server = GatewayServer(
        _processor(app, InterferedStore(store, interference), attempts=3),
        listen_address="127.0.0.1:0",
        concurrent_rpcs_max=10,
        message_bytes_max=64 * 1024,
    )
    await server.start()
    try:
        async with GatewayClient(f"127.0.0.1:{server.port}") as gateway:
            request = _fill(fixtures, member, rx_number(), "generic")
            before = await _high_water(conn)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await gateway.submit(request)
            assert caught.value.code() is grpc.StatusCode.ABORTED
            assert interference.writes == 3
            assert len(interference.conflicts) == 3
            assert all(_from_the_database(c) for c in interference.conflicts)
            assert await _rows_since(conn, before) == {table: [] for table, _ in _TABLES}
            assert (
                await conn.fetchval("SELECT posted_cents FROM purse WHERE purse_id = $1", purse_id)
                == balance_before
            )
            assert (
                await conn.fetchval("SELECT version FROM family WHERE family_id = $1", family_id)
                == version_before + 3
            )
            # the interference is spent: the retransmission is paid at its first write
            retry = await gateway.submit(request)
            assert retry.transaction_response_status == "P"
            assert interference.writes == 4
            assert len(interference.conflicts) == 3
    finally:
        await server.stop(0)
