"""Natural batching against the real database: claims in flight together share one member
read and one ledger write, and each keeps its own outcome (issue 16).

The store is the gateway's own (``app.store``, batching on as the gateway runs it); a
recorder told every batch's size shows what went together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.adapters.postgres.warm_up import WARM_UP_SQL, _warm_up_claim, _warm_up_payment
from rx_gateway.bootstrap import App
from rx_gateway.client import GatewayClient
from rx_gateway.domain.errors import InvariantViolation
from rx_gateway.domain.outcome import ClaimResponse, ResponseStatus
from rx_gateway.grpc_api import translate
from rx_gateway.service_layer.claims import ClaimProcessor
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from tests.support import BUSINESS_DATE, generic_fill

DAY = "20261112"


@pytest.fixture
async def batches(app: App) -> AsyncIterator[list[tuple[str, int]]]:
    """Every batch (kind, size) while the test runs; the gateway's batching as before after."""
    seen: list[tuple[str, int]] = []
    await app.store.close_batches()
    app.store.start_batching(on_batch=lambda kind, size: seen.append((kind, size)))
    yield seen
    await app.store.close_batches()
    app.store.start_batching()


@pytest.fixture(scope="module")
def people(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Members no other test bills for: 24 commercial, 2 HDHP, one more commercial."""
    members = active_members(dataset[0])[830:990]  # members no other test bills for
    families = {m["cardholder_id"]: m for m in members if m["plan_id"] == "COMM-HRA-2026"}
    commercial = list(families.values())[:25]  # one member of each card: distinct families
    hdhp = [m for m in members if m["plan_id"] == "HDHP-2026"][:2]
    return commercial[:24] + hdhp + commercial[24:]


async def test_claims_in_flight_together_share_reads_and_writes(
    app: App,
    client: GatewayClient,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    batches: list[tuple[str, int]],
    rx_number: Any,
) -> None:
    """24 claims of 24 families at once over gRPC: all paid, fewer round trips than claims,
    one write per claim in the writes' items, and the ledger's invariants hold."""
    requests = [generic_fill(fixtures, m, rx_number(), DAY) for m in people[:24]]
    answers = await asyncio.gather(*(client.submit(r) for r in requests))
    assert [a.transaction_response_status for a in answers] == ["P"] * 24
    reads = [size for kind, size in batches if kind == "read"]
    writes = [size for kind, size in batches if kind == "write"]
    assert sum(writes) == 24  # distinct families: no conflict, one write each
    assert sum(reads) == 24
    assert max(reads) > 1 and max(writes) > 1
    assert len(writes) < 24
    stored = await conn.fetchval(
        "SELECT count(*) FROM claim WHERE internal_control_number = ANY($1::text[])",
        [a.internal_control_number for a in answers],
    )
    assert stored == 24
    assert all(result.passed for result in await verify_ledger(conn))


async def test_two_claims_of_one_family_in_one_batch(
    app: App,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    batches: list[tuple[str, int]],
    rx_number: Any,
) -> None:
    """An HDHP member's two brand claims read together and written together: the second finds
    the family changed by the first in the same batch, is read again and adjudicated on the
    new state. The deductible is counted once: what the two answers applied to it is what the
    accumulator holds, and no more than the deductible."""
    member = people[24]
    warm = generic_fill(fixtures, member, rx_number(), "20261101")  # the card's family known
    assert (await app.processor.submit(translate.claim_request_from_pb(warm))).rejects == ()
    before = await _deductible(conn, member)
    batches.clear()
    claims = [
        translate.claim_request_from_pb(
            claim_request(
                fixtures,
                member,
                fixtures["drugs"][drug],
                pharmacy=fixtures["pharmacies"]["preferred"],
                rx_number=rx_number(),
                date_of_service=DAY,
            )
        )
        for drug in ("preferred_brand", "insulin")
    ]
    # Claims of one card take turns in a processor (flow.Turns); two processors sharing the
    # store's batches are how claims of one family that no turn orders (another card of the
    # family, another connection) meet in one batch.
    other = ClaimProcessor(app.store, app.reference, business_date=lambda: BUSINESS_DATE)
    answers: list[ClaimResponse] = await asyncio.gather(
        app.processor.submit(claims[0]), other.submit(claims[1])
    )
    assert [a.transaction_response_status for a in answers] == [ResponseStatus.PAID] * 2, [
        a.rejects for a in answers
    ]
    assert batches[:2] == [("read", 2), ("write", 2)]
    # the second claim's part of the write was refused (the family moved) and it went again
    assert [s for k, s in batches if k == "write"] == [2, 1]
    applied = sum(a.pricing.amount_applied_to_periodic_deductible_cents for a in answers)
    assert applied > 0
    assert await _deductible(conn, member) - before == applied
    assert applied <= 170_000
    assert all(result.passed for result in await verify_ledger(conn))


async def test_claims_of_one_card_take_turns(
    app: App,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    batches: list[tuple[str, int]],
    rx_number: Any,
) -> None:
    """Three claims of one card sent at once through one gateway: each reads the state the one
    before it wrote (no conflict, no second adjudication), in the order they came."""
    member = people[25]
    claims = [
        translate.claim_request_from_pb(
            claim_request(
                fixtures,
                member,
                fixtures["drugs"][drug],
                pharmacy=fixtures["pharmacies"]["preferred"],
                rx_number=rx_number(),
                date_of_service=DAY,
            )
        )
        for drug in ("preferred_brand", "insulin", "generic")
    ]
    answers = await asyncio.gather(*(app.processor.submit(c) for c in claims))
    assert [a.transaction_response_status for a in answers] == [ResponseStatus.PAID] * 3
    assert batches == [("read", 1), ("write", 1)] * 3
    ours = await conn.fetch(
        "SELECT internal_control_number FROM claim WHERE internal_control_number = ANY($1)"
        " ORDER BY claim_id",
        [a.internal_control_number for a in answers],
    )
    assert [r[0] for r in ours] == [a.internal_control_number for a in answers]


async def test_a_write_that_fails_does_not_fail_its_batch(
    app: App, conn: asyncpg.Connection, batches: list[tuple[str, int]]
) -> None:
    """In one batch: an audit row, and a claim whose member is not in its family (the
    database refuses it: check_violation). The claim's part rolls back alone and its caller
    gets the invariant; the audit row commits."""
    row = await conn.fetchrow(WARM_UP_SQL, "")
    assert row is not None
    other = await conn.fetchval(
        "SELECT member_id FROM member WHERE family_id <> $1 LIMIT 1", row["family_id"]
    )
    request = _warm_up_claim(row, _day())
    paid = _warm_up_payment(row, request, _day())
    stranger = paid.__class__(**{**_fields(paid), "member_id": other})
    store = app.store._bound(None, None)
    marker = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'batch-test'")
    audit = store.record_outcome(
        "batch-test",
        ClaimResponse(transaction_response_status=ResponseStatus.REJECTED),
        {"why": "the other item of a batch that also holds a refused claim"},
        family_id=row["family_id"],
    )
    refused = store.post_claim(request, stranger, family_version=row["version"])
    results = await asyncio.gather(audit, refused, return_exceptions=True)
    assert results[0] is None
    assert isinstance(results[1], InvariantViolation)
    assert "not in the family" in str(results[1])
    assert ("write", 2) in batches
    after = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'batch-test'")
    assert after == marker + 1
    assert not await conn.fetchval(
        "SELECT count(*) FROM claim WHERE claim_key = $1", request.key.as_text()
    )


def _day() -> Any:
    import datetime as dt

    return dt.date(2000, 1, 1)


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


async def _deductible(conn: asyncpg.Connection, member: dict[str, Any]) -> int:
    total: int = await conn.fetchval(
        "SELECT coalesce(sum(a.amount_cents), 0) FROM accumulator a JOIN member m"
        " ON a.family_id = m.family_id AND a.subject_id = m.member_id"
        " WHERE m.cardholder_id = $1 AND m.person_code = $2 AND a.level = 'individual'"
        " AND a.kind = 'deductible'",
        member["cardholder_id"],
        member["person_code"],
    )
    return total


async def test_batches_keep_their_connections_and_give_them_back(
    app: App,
    client: GatewayClient,
    fixtures: dict[str, Any],
    people: list[dict[str, Any]],
    batches: list[tuple[str, int]],
    rx_number: Any,
) -> None:
    """The reads and the writes each keep one pooled connection between their batches (no pool
    acquire and release per round trip); closing the batches gives both back to the pool."""
    member = people[26]
    answer = await client.submit(generic_fill(fixtures, member, rx_number(), "20260113"))
    assert answer.transaction_response_status == "P"
    kept = app.store._batches
    assert kept is not None and kept.read_pin is not None and kept.write_pin is not None
    read, write = kept.read_pin.connection, kept.write_pin.connection
    assert read is not None and write is not None and read is not write
    again = await client.submit(generic_fill(fixtures, member, rx_number(), "20260613"))
    assert again.transaction_response_status == "P"
    assert (kept.read_pin.connection, kept.write_pin.connection) == (read, write)
    with pytest.raises(RuntimeError, match="close_batches"):
        app.store.start_batching()  # the running batches keep connections: close them first
    idle = app.pool.get_idle_size()
    await app.store.close_batches()
    assert kept.read_pin.connection is None and kept.write_pin.connection is None
    assert app.pool.get_idle_size() == idle + 2
    # closed batches still batch, but keep nothing (the pool can close)
    late = await client.submit(generic_fill(fixtures, member, rx_number(), "20261013"))
    assert late.transaction_response_status == "P"
    assert kept.read_pin.connection is None and kept.write_pin.connection is None
    assert app.pool.get_idle_size() == idle + 2
