"""One pooled connection per claim, bounded by the claim's deadline.

:class:`PostgresStore` is the base of the claim store's parts (the member read and the claim
ledger): it runs each statement on the connection of the session it is bound to, or on a pooled
one acquired for that statement. A session may carry the call's deadline (the switch's): every
statement then waits at most what is left of it, and none starts after it has passed, so a claim
whose caller has given up does not commit after its answer can no longer be delivered (a
retransmission then finds it committed or not, and answers D or pays it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Self

import asyncpg

from rx_gateway.adapters.postgres.batching import Coalescer
from rx_gateway.adapters.postgres.errors import (
    BROKEN_CONNECTION_ERRORS,
    mapped_errors,
    server_message,
)
from rx_gateway.domain.errors import DeadlineExceeded, StorageUnavailable

# Batches keep connections (Pin) only from this pool size up: two kept, the rest for the rest.
PINS_POOL_SIZE_MIN = 4
# A kept connection goes back to the pool after this many batches (and is acquired again).
PIN_USES_MAX = 10_000


class Pin:
    """The pooled connection one kind of batch keeps between its round trips (the member reads,
    or the ledger writes): natural batching sends one batch of a kind at a time, so it is never
    shared. A pool acquire and release cost the gateway about three times the CPU of a round
    trip itself (asyncpg shields each release in a task of its own), and at low load a claim
    makes two round trips. Kept only after a batch that succeeded: after any error the
    connection goes back to the pool (or is closed, when it broke) and the next batch acquires
    another; a connection that broke closes its ``sibling``'s kept one too (the server likely
    restarted: the other kind's next batch would fail on it). ``Batches.release`` gives the
    kept connections back when batching stops."""

    __slots__ = ("closed", "connection", "sibling", "uses")

    def __init__(self) -> None:
        self.connection: Any = None
        self.sibling: Pin | None = None
        self.closed = False  # batching stopped: nothing is kept any more
        self.uses = 0  # batches since the connection was acquired

    def keeps(self, connection: Any) -> bool:
        """Keep ``connection`` for the next batch (after one that succeeded)? Not once closed,
        not when one is kept already, and not past PIN_USES_MAX batches: then it goes back to
        the pool, which replaces it after max_queries as it does the others."""
        self.uses += 1
        if self.closed or self.connection is not None or self.uses >= PIN_USES_MAX:
            self.uses = 0
            return False
        self.connection = connection
        return True


class Session:
    """A store bound to one connection: the store's own (inside a session or unit of work), or
    a pooled one until the block ends (or, with a ``pin``, kept in it for the next batch of its
    kind). A class rather than a generator, because every claim enters one. The acquire waits
    at most acquire_timeout_s (and never past the deadline), so an exhausted pool answers
    UNAVAILABLE quickly instead of queueing until the deadline; under asyncio.timeout, because
    asyncpg's own acquire timeout runs the acquire in a new task (asyncio.wait_for)."""

    __slots__ = ("_connection", "_deadline", "_pin", "_store")

    def __init__(
        self, store: PostgresStore, deadline: float | None = None, pin: Pin | None = None
    ) -> None:
        self._store = store
        self._deadline = deadline
        self._pin = pin
        self._connection: Any = None

    async def __aenter__(self) -> Any:
        store = self._store
        if store._connection is not None:
            return store
        pin = self._pin
        if pin is not None and pin.connection is not None and not pin.closed:
            self._connection, pin.connection = pin.connection, None
            return store._bound(self._connection, self._deadline)
        wait = store._acquire_timeout_s
        if self._deadline is not None:
            wait = min(wait, _left(self._deadline))
        began = time.perf_counter()
        try:
            with mapped_errors():
                async with asyncio.timeout(wait):
                    self._connection = await _acquire(store._pool)
        except StorageUnavailable as error:
            # the wait was the caller's deadline, not the pool's timeout: DEADLINE_EXCEEDED
            # (it said "claims database unavailable" of a healthy database)
            # (uvloop's timers may fire up to a millisecond early: the clock is not compared)
            if isinstance(error.__cause__, TimeoutError) and wait < store._acquire_timeout_s:
                msg = "the caller's deadline passed waiting for a database connection"
                raise DeadlineExceeded(msg) from error
            raise
        if store._on_acquired is not None:
            store._on_acquired(time.perf_counter() - began)
        return store._bound(self._connection, self._deadline)

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            pin = self._pin
            if pin is not None:
                if error is None and pin.keeps(connection):
                    return  # for the next batch of its kind
                if error is not None:
                    pin.uses = 0  # the next batch acquires another
            closing = [connection]
            if isinstance(error, StorageUnavailable) and isinstance(
                error.__cause__, BROKEN_CONNECTION_ERRORS
            ):
                if pin is not None and pin.sibling is not None and pin.sibling.connection:
                    closing.append(pin.sibling.connection)
                    pin.sibling.connection = None
                for broken in closing:
                    # Its protocol state is unknown: close it rather than give it to the next
                    # claim (the pool opens a new one). The pool may have detached it already.
                    with contextlib.suppress(asyncpg.InterfaceError):
                        broken.terminate()
            for returned in closing:
                with mapped_errors():
                    await self._store._pool.release(returned)


async def _acquire(pool: asyncpg.Pool) -> Any:
    """A pooled connection. Whatever the server answers while the pool opens one (the
    database was dropped or does not accept connections, the role was refused, the server is
    starting) means no claim can be served now: UNAVAILABLE, retryable, one log line (they
    were INTERNAL with a traceback)."""
    try:
        return await pool.acquire()
    except asyncpg.PostgresError as error:
        raise StorageUnavailable(
            f"cannot open a database connection: {server_message(error)}"
        ) from error


def _left(deadline: float) -> float:
    """Seconds left before ``deadline`` (the event loop's clock); DeadlineExceeded if none."""
    left = deadline - asyncio.get_running_loop().time()
    if left <= 0:
        msg = "the caller's deadline passed before the database work could start"
        raise DeadlineExceeded(msg)
    return left


class FamilyDirectory:
    """Which family a card's person belongs to, remembered: the hot path then reads the family
    in one round trip. A member who moved to another family is not found in the remembered
    one; the read then asks the directory again (see MemberReads.member_state). Bounded: it
    starts afresh past ``size_max`` entries."""

    def __init__(self, size_max: int = 200_000) -> None:
        self._families: dict[tuple[str, str], str] = {}
        self._size_max = size_max

    def get(self, cardholder_id: str, person_code: str) -> str | None:
        return self._families.get((cardholder_id, person_code))

    def remember(self, cardholder_id: str, person_code: str, family_id: str) -> None:
        if len(self._families) >= self._size_max:
            self._families.clear()
        self._families[(cardholder_id, person_code)] = family_id

    def forget(self, cardholder_id: str, person_code: str) -> None:
        self._families.pop((cardholder_id, person_code), None)


@dataclass(slots=True)
class Batches:
    """The coalescers claims share (see batching.py): member reads, and ledger writes (paid
    claims, reversals and audit rows, in one transaction per batch)."""

    reads: Coalescer[Any, list[Any]]
    writes: Coalescer[Any, dict[str, Any]]
    # The connections the reads and the writes keep between batches: only with a pool of
    # PINS_POOL_SIZE_MIN connections or more, so that others remain for the calls that do not
    # batch (a reversal's read of its claim, a unit of work).
    read_pin: Pin | None = None
    write_pin: Pin | None = None

    def __post_init__(self) -> None:
        if self.read_pin is not None and self.write_pin is not None:
            self.read_pin.sibling = self.write_pin
            self.write_pin.sibling = self.read_pin

    closed: bool = False

    def _pins(self) -> tuple[Pin | None, Pin | None]:
        return (self.read_pin, self.write_pin)

    def close(self) -> None:
        """From now on no connection is kept (a batch in flight gives its back when it ends)."""
        self.closed = True
        for pin in self._pins():
            if pin is not None:
                pin.closed = True

    async def release(self, pool: asyncpg.Pool) -> None:
        """Give the connections the batches kept back to the pool (after ``close``)."""
        for pin in self._pins():
            if pin is None:
                continue
            connection, pin.connection = pin.connection, None
            if connection is not None:
                with mapped_errors():
                    await pool.release(connection)


class _Unbound:
    """A batching store's session: no connection of its own (the batches have theirs), only
    the call's deadline."""

    __slots__ = ("_store",)

    def __init__(self, store: Any) -> None:
        self._store = store

    async def __aenter__(self) -> Any:
        return self._store

    async def __aexit__(self, *_: object) -> None:
        return None


class PostgresStore:
    """Pool, actor, limits, the family directory, the batches (when claims share round
    trips), and (inside a session) the connection and the deadline."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        actor: str = "gateway",
        acquire_timeout_s: float = 2.0,
        connection: Any = None,
        deadline: float | None = None,
        directory: FamilyDirectory | None = None,
        batches: Batches | None = None,
        on_acquired: Callable[[float], None] | None = None,
    ) -> None:
        self._pool = pool
        self._on_acquired = on_acquired  # told each pool acquire's wait, in seconds (metrics)
        self._batches = batches
        self._actor = actor
        self._acquire_timeout_s = acquire_timeout_s
        self._connection = connection  # set inside a session or unit of work: every call on it
        self._deadline = deadline
        self._directory = directory if directory is not None else FamilyDirectory()

    def _bound(self, connection: Any, deadline: float | None) -> Self:
        return type(self)(
            self._pool,
            actor=self._actor,
            acquire_timeout_s=self._acquire_timeout_s,
            connection=connection,
            deadline=deadline,
            directory=self._directory,
            batches=self._batches,
            on_acquired=self._on_acquired,
        )

    @property
    def _batching(self) -> bool:
        """Reads and writes go through the batches (not inside a unit of work, whose calls
        share its connection and transaction)."""
        return self._batches is not None and self._connection is None

    def session(self, *, deadline: float | None = None) -> Session | _Unbound:
        """One pooled connection for the calls of one claim (its read, then its write or audit
        row), each still its own statement and transaction. One acquire and release per claim
        instead of one per call. Inside a session or unit of work, the same store. With
        batching, no connection: the claim's read and write join the batches."""
        if self._batching:
            return _Unbound(self._bound(None, deadline))
        return Session(self, deadline)

    @contextlib.asynccontextmanager
    async def unit_of_work(self, *, deadline: float | None = None) -> AsyncIterator[Any]:
        """One connection and one transaction for several calls (a B3 rebill): everything
        commits when the block ends, nothing if it raises."""
        async with Session(self, deadline) as store:
            with mapped_errors():
                async with store._connection.transaction():
                    yield store

    async def _run(self, method: str, query: str, *args: Any) -> Any:
        """One statement on the session's connection (or a pooled one acquired for it), waiting
        at most what is left of the deadline."""
        async with Session(self, self._deadline) as store:
            timeout = None if store._deadline is None else _left(store._deadline)
            try:
                return await getattr(store._connection, method)(query, *args, timeout=timeout)
            except TimeoutError as error:
                if timeout is not None:  # the statement's timeout is what is left of it
                    msg = "the caller's deadline passed during the database work"
                    raise DeadlineExceeded(msg) from error
                raise

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        rows: list[Any] = await self._run("fetch", query, *args)
        return rows

    async def _fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, *args)
