"""Natural batching: the claims in flight at one moment share one database round trip.

A :class:`Coalescer` sends what is waiting as soon as the previous batch of its kind returns:
no timer, so at low load a claim goes alone and waits for nothing, and under load every round
trip carries every claim that arrived while the last one was in flight. Each caller gets its
own result or its own exception; a batch that fails as a whole (the connection broke, the
deadline passed) fails each of its callers with that error.

The batch runs in a task of its own, not in any caller's: a caller whose RPC is cancelled
stops waiting for its answer but does not cancel the round trip the other claims share.

Traced (``tracing``, with OpenTelemetry on), each caller's wait is a span in its own trace and
each round trip a span of its own over the database calls: the child of its one caller's
wait, or, for a batch of several, a root linked to every caller's wait (a shared round trip
belongs to no single claim's trace).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from rx_gateway.domain.errors import DeadlineExceeded

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its result

# The largest batch: past it, the rest wait for the next round trip. A bound on one statement's
# size and on what one failure can touch, far above what 2 cores bring together.
BATCH_SIZE_MAX = 64


class BatchTracing(Protocol):
    """Spans for batches (observability.tracing.batch_tracing): ``wait(kind)`` around one
    caller's wait, entered as that caller, giving what its round trip links to;
    ``round_trip(kind, waits)`` around one round trip, given its callers' ``wait`` values."""

    def wait(self, kind: str) -> AbstractContextManager[object]: ...

    def round_trip(self, kind: str, waits: Sequence[object]) -> AbstractContextManager[object]: ...


@dataclass(slots=True)
class _Waiting(Generic[I, R]):
    item: I
    deadline: float | None
    future: asyncio.Future[R]
    trace: object = None  # the caller's wait, as BatchTracing.wait gave it (traced only)


# A batch's runner: one round trip for the items, and for each its result or the exception
# its caller gets.
Runner = Callable[[list[I], float | None], Awaitable[Sequence[R | Exception]]]


class Coalescer(Generic[I, R]):
    """Gathers items while a batch is in flight and sends them together when it returns.

    ``run(items, deadline)`` makes one round trip for ``items`` and returns one outcome per
    item, in order. ``deadline`` (the event loop's clock) is the latest of the items'
    deadlines, None if one has none: the round trip may take that long. Items whose deadline
    has passed before their batch goes are answered DeadlineExceeded and not sent.
    ``on_batch(size)`` is told each batch's size (metrics); ``tracing`` makes the spans of the
    callers' waits and of the round trips, named by ``kind``."""

    def __init__(
        self,
        run: Runner[I, R],
        *,
        size_max: int = BATCH_SIZE_MAX,
        in_flight_max: int = 1,
        on_batch: Callable[[int], None] | None = None,
        tracing: BatchTracing | None = None,
        kind: str = "batch",
    ) -> None:
        self._run = run
        self._tracing = tracing
        self._kind = kind
        self._size_max = size_max
        self._in_flight_max = in_flight_max
        self._on_batch = on_batch
        self._waiting: list[_Waiting[I, R]] = []
        self._sending = 0  # senders running (counted by the senders themselves, see _send)
        self._senders: set[asyncio.Task[None]] = set()  # held, so that none is collected

    async def call(self, item: I, deadline: float | None = None) -> R:
        if self._tracing is None:
            return await self._call(item, deadline, None)
        with self._tracing.wait(self._kind) as trace:
            return await self._call(item, deadline, trace)

    async def _call(self, item: I, deadline: float | None, trace: object) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._waiting.append(_Waiting(item, deadline, future, trace))
        if self._sending < self._in_flight_max:
            self._sending += 1
            sender = loop.create_task(self._send())
            self._senders.add(sender)
            sender.add_done_callback(self._senders.discard)
        return await future

    async def _send(self) -> None:
        """Send what is waiting, batch after batch, until nothing is. The sender stops counting
        itself in the same step as it finds nothing waiting (no await between): a call that
        comes after starts a sender of its own, one that came before is in a batch."""
        try:
            await self._send_all()
        finally:
            self._sending -= 1

    async def _send_all(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            taken = self._waiting[: self._size_max]
            del self._waiting[: self._size_max]
            now = loop.time()
            batch: list[_Waiting[I, R]] = []
            for waiting in taken:
                if waiting.future.done():  # its caller stopped waiting (cancelled)
                    continue
                if waiting.deadline is not None and waiting.deadline <= now:
                    waiting.future.set_exception(
                        DeadlineExceeded(
                            "the caller's deadline passed before the database work could start"
                        )
                    )
                    continue
                batch.append(waiting)
            if not batch:
                continue
            deadlines = [w.deadline for w in batch]
            deadline = None if None in deadlines else max(d for d in deadlines if d is not None)
            if self._on_batch is not None:
                self._on_batch(len(batch))
            try:
                if self._tracing is None:
                    outcomes = await self._run([w.item for w in batch], deadline)
                else:
                    with self._tracing.round_trip(self._kind, [w.trace for w in batch]):
                        outcomes = await self._run([w.item for w in batch], deadline)
            except Exception as error:
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(error)
                continue
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.future.done():
                    continue
                if isinstance(outcome, Exception):
                    waiting.future.set_exception(outcome)
                else:
                    waiting.future.set_result(outcome)

    async def close(self) -> None:
        """Wait for the batches in flight (at shutdown)."""
        if self._senders:
            await asyncio.gather(*self._senders, return_exceptions=True)
