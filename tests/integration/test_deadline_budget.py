"""The caller's deadline bounds the database work: a claim whose switch has given up does not
commit after its answer can no longer be delivered; the retransmission then pays it once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from rx_gateway.adapters.postgres.database import create_pool
from rx_gateway.adapters.postgres.store import PostgresClaimStore
from rx_gateway.bootstrap import App
from rx_gateway.domain.errors import DeadlineExceeded
from rx_gateway.grpc_api import translate
from rx_gateway.service_layer.claims import ClaimProcessor
from tests.support import BUSINESS_DATE, TEST_SETTINGS, generic_fill


class _SlowRead:
    """The real store, whose member read takes ``delay_s`` longer (a slow moment in the
    database, a long GC pause): the write comes after the caller's deadline."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self._inner = inner
        self._delay_s = delay_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def session(self, *, deadline: float | None = None) -> Any:
        outer = self

        class _Bound:
            async def __aenter__(self) -> Any:
                self._context = outer._inner.session(deadline=deadline)
                return _SlowRead(await self._context.__aenter__(), outer._delay_s)

            async def __aexit__(self, *exc: Any) -> None:
                await self._context.__aexit__(*exc)

        return _Bound()

    async def member_state(self, *args: Any) -> Any:
        lookup = await self._inner.member_state(*args)
        await asyncio.sleep(self._delay_s)
        return lookup


@pytest.fixture
async def store(loaded_dsn: str) -> AsyncIterator[PostgresClaimStore]:
    pool = await create_pool(loaded_dsn, replace(TEST_SETTINGS.pool, size_min=1, size_max=2))
    try:
        yield PostgresClaimStore(pool, acquire_timeout_s=2.0)
    finally:
        await pool.close()


async def test_no_write_starts_after_the_callers_deadline(
    app: App,
    store: PostgresClaimStore,
    conn: asyncpg.Connection,
    fixtures: dict[str, Any],
    rx_number: Any,
) -> None:
    member = fixtures["members"]["part_d_other"]
    request = translate.claim_request_from_pb(
        generic_fill(fixtures, member, rx_number(), "20261118")
    )
    key = request.key.as_text()
    slow = ClaimProcessor(_SlowRead(store, 0.3), app.reference, business_date=lambda: BUSINESS_DATE)
    deadline = asyncio.get_running_loop().time() + 0.1
    with pytest.raises(DeadlineExceeded):
        await slow.submit(request, deadline=deadline)
    assert await conn.fetchval("SELECT count(*) FROM claim WHERE claim_key = $1", key) == 0
    # the switch retransmits with a fresh deadline: paid, once
    prompt = ClaimProcessor(store, app.reference, business_date=lambda: BUSINESS_DATE)
    paid = await prompt.submit(request, deadline=asyncio.get_running_loop().time() + 5)
    assert paid.transaction_response_status.value == "P"
    assert await conn.fetchval("SELECT count(*) FROM claim WHERE claim_key = $1", key) == 1
    with pytest.raises(DeadlineExceeded):  # a deadline already gone reads nothing at all
        await prompt.submit(request, deadline=asyncio.get_running_loop().time() - 1)


async def test_a_deadline_passing_while_the_pool_is_busy_is_deadline_exceeded(
    loaded_dsn: str,
) -> None:
    """A one-connection pool held by another claim, and a caller whose deadline is shorter
    than the pool's wait: it answered UNAVAILABLE "claims database unavailable" of a healthy
    database; its deadline passed, so DEADLINE_EXCEEDED. With the pool's own wait shorter,
    the pool is what gave up: UNAVAILABLE (StorageUnavailable) as before."""
    from rx_gateway.domain.errors import StorageUnavailable

    pool = await create_pool(loaded_dsn, replace(TEST_SETTINGS.pool, size_min=1, size_max=1))
    try:
        store = PostgresClaimStore(pool, acquire_timeout_s=2.0)
        held = await pool.acquire()
        try:
            loop = asyncio.get_running_loop()
            with pytest.raises(DeadlineExceeded):
                async with store.session(deadline=loop.time() + 0.05) as session:
                    await session.family_of("nobody", "001")
            quick = PostgresClaimStore(pool, acquire_timeout_s=0.05)
            with pytest.raises(StorageUnavailable):
                async with quick.session(deadline=loop.time() + 5) as session:
                    await session.family_of("nobody", "001")
        finally:
            await pool.release(held)
    finally:
        await pool.close()
