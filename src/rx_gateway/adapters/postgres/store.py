"""The claim store on PostgreSQL: one read and one write per claim, each a single SQL call.

The parts live apart: the connection and deadline handling (connection.py), the member read
(member_reader.py), the claim ledger's writes and the stored claim a reversal mirrors
(claim_ledger.py, with the response records in records.py), natural batching (batching.py),
the warm-up (warm_up.py). The reference snapshot is read by reference_loader.py.

Without batching each claim holds one pooled connection for its read and its write. With
batching (the default on plain PostgreSQL) a claim holds none: its read joins the member
read in flight's successor, its write (or audit row) the ledger write's, each batch one
statement on a pooled connection, the write one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from rx_gateway.adapters.postgres.batching import BatchTracing, Coalescer
from rx_gateway.adapters.postgres.claim_ledger import LedgerWrites
from rx_gateway.adapters.postgres.connection import PINS_POOL_SIZE_MIN, Batches, Pin
from rx_gateway.adapters.postgres.errors import mapped_errors
from rx_gateway.adapters.postgres.warm_up import warm_up


class PostgresClaimStore(LedgerWrites):
    """The ClaimStore port: sessions that read members and write the claim ledger."""

    def start_batching(
        self,
        *,
        in_flight_max: int = 1,
        on_batch: Callable[[str, int], None] | None = None,
        tracing: BatchTracing | None = None,
    ) -> None:
        """From now on, claims in flight together share their reads and their writes.
        ``on_batch(kind, size)`` is told every batch ("read" or "write"); ``tracing`` (when
        traces are on) makes the spans of each claim's wait and of each round trip."""

        if self._batches is not None and not self._batches.closed:
            msg = "close_batches() first: the batches running now keep pooled connections"
            raise RuntimeError(msg)
        # kept connections (Pin): one batch of a kind in flight at a time, and a pool with room
        pinned = in_flight_max == 1 and self._pool.get_max_size() >= PINS_POOL_SIZE_MIN

        def told(kind: str) -> Callable[[int], None] | None:
            if on_batch is None:
                return None
            return lambda size: on_batch(kind, size)

        self._batches = Batches(
            reads=Coalescer(
                self.read_batch,
                in_flight_max=in_flight_max,
                on_batch=told("read"),
                tracing=tracing,
                kind="read",
            ),
            writes=Coalescer(
                self.write_batch,
                in_flight_max=in_flight_max,
                on_batch=told("write"),
                tracing=tracing,
                kind="write",
            ),
            read_pin=Pin() if pinned else None,
            write_pin=Pin() if pinned else None,
        )

    async def close_batches(self) -> None:
        """Keep no connection from now on, wait for the batches in flight, then give back the
        connections they kept. Calls after this still batch, acquiring for each round trip."""
        if self._batches is not None:
            self._batches.close()
            await self._batches.reads.close()
            await self._batches.writes.close()
            await self._batches.release(self._pool)

    async def warm(self, connections: int) -> None:
        """Open ``connections`` pooled connections and make every hot-path call once on each,
        so that no claim pays for a backend's first call."""
        with mapped_errors():
            held = [
                await self._pool.acquire(timeout=self._acquire_timeout_s)
                for _ in range(connections)
            ]
            try:
                for connection in held:
                    await self.warm_connection(connection)
            finally:
                for connection in held:
                    await self._pool.release(connection)

    async def warm_connection(self, connection: Any) -> None:
        """Every hot-path call once on one connection (rolled back): the pool calls this for
        each connection it opens later too (growth, a replaced connection), see
        ``create_pool(warm=...)``."""
        await warm_up(self._bound(connection, None), connection)


def warming(store_of: Callable[[], PostgresClaimStore | None]) -> Callable[[Any], Any]:
    """A pool's hook for each new connection: warm it once the store exists."""

    async def warm(connection: asyncpg.Connection) -> None:
        store = store_of()
        if store is not None:
            await store.warm_connection(connection)

    return warm
