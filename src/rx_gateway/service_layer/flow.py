"""What lets claims through, and in which order: admission by what can finish in time, and one
claim at a time per card.

Admission (overload without collapse): a claim is admitted only when the claims already in
flight, at the rate claims have been completing, leave it time to start before its deadline
and within the wait budget. Otherwise it is refused at once (Overloaded → RESOURCE_EXHAUSTED,
which a switch retries) instead of waiting in a queue past its deadline. At low load (fewer
claims in flight than ``in_flight_free``) every claim is admitted without estimating.

Turns: the claims of one card in this process go one after another, each reading the state
the previous one wrote. Claims of one family sent together (a reversal right after its
claim, a family's fills at one counter) would otherwise read the same family version and all
but one find it changed at their write, to be read and adjudicated again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

from rx_gateway.domain.errors import DeadlineExceeded, Overloaded

# How long an admitted claim may expect to wait behind those in flight.
WAIT_BUDGET_S = 0.03
# Below this many claims in flight, every claim is admitted (the rate is not yet known, and a
# handful in flight cannot make anyone wait long).
IN_FLIGHT_FREE = 32
# The completion rate is measured over windows of this length, smoothed.
RATE_WINDOW_S = 0.1


class Admission:
    """Claims in flight and the rate they complete at; admits a claim or refuses it."""

    def __init__(
        self,
        *,
        wait_budget_s: float = WAIT_BUDGET_S,
        in_flight_free: int = IN_FLIGHT_FREE,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self._on_refused = on_refused
        self._wait_budget_s = wait_budget_s
        self._in_flight_free = in_flight_free
        self.in_flight = 0
        self.refused = 0
        self._rate_per_s = 0.0
        self._window_start = 0.0
        self._completed = 0

    def expected_wait_s(self) -> float:
        """How long a claim admitted now should expect to wait for those ahead of it (0 while
        the rate is not known: after start-up or a pause, until a window has been measured)."""
        if self._rate_per_s <= 0:
            return 0.0
        return self.in_flight / self._rate_per_s

    @contextlib.contextmanager
    def admitted(self, deadline: float | None, now: float) -> Iterator[None]:
        if self.in_flight >= self._in_flight_free:
            budget = self._wait_budget_s
            if deadline is not None:
                budget = min(budget, deadline - now)
            wait = self.expected_wait_s()
            if wait > budget:
                self.refused += 1
                if self._on_refused is not None:
                    self._on_refused()
                msg = (
                    f"the gateway is at capacity ({self.in_flight} claims in flight, about"
                    f" {min(wait, 99.0) * 1000:.0f} ms to wait): retry the transmission"
                )
                raise Overloaded(msg)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._completed_at(asyncio.get_running_loop().time())

    def _completed_at(self, now: float) -> None:
        self._completed += 1
        elapsed = now - self._window_start
        if elapsed >= RATE_WINDOW_S:
            if self._window_start == 0.0 or elapsed > 10 * RATE_WINDOW_S:
                self._rate_per_s = 0.0  # after a pause: not known until the next window
            else:
                measured = self._completed / elapsed
                known = self._rate_per_s > 0
                self._rate_per_s = 0.5 * self._rate_per_s + 0.5 * measured if known else measured
            self._window_start = now
            self._completed = 0


class Turns:
    """One claim at a time per key (the card), first come first served; bounded by the
    claim's deadline. Keys nobody waits on are forgotten."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str, deadline: float | None) -> AsyncIterator[None]:
        if not key:
            yield
            return
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            if lock.locked():
                left = None if deadline is None else deadline - asyncio.get_running_loop().time()
                try:
                    async with asyncio.timeout(left):
                        await lock.acquire()
                except TimeoutError:
                    msg = "the caller's deadline passed waiting for the card's previous claim"
                    raise DeadlineExceeded(msg) from None
            else:
                await lock.acquire()
            try:
                yield
            finally:
                lock.release()
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]
