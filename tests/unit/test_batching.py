"""The coalescer on its own: what goes together, what each caller gets back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from rx_gateway.adapters.postgres.batching import Coalescer
from rx_gateway.domain.errors import DeadlineExceeded


class Recorder:
    """A runner that records each batch and answers item * 10, or the item's own error."""

    def __init__(self, pause_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.deadlines: list[float | None] = []
        self.pause_s = pause_s
        self.fail_all: Exception | None = None

    async def __call__(self, items: list[int], deadline: float | None) -> Sequence[int | Exception]:
        self.batches.append(list(items))
        self.deadlines.append(deadline)
        await asyncio.sleep(self.pause_s)
        if self.fail_all is not None:
            raise self.fail_all
        return [ValueError(f"item {i}") if i < 0 else i * 10 for i in items]


async def test_a_lone_call_goes_at_once_and_alone() -> None:
    runner = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(runner)
    assert await coalescer.call(1) == 10
    assert await coalescer.call(2) == 20
    assert runner.batches == [[1], [2]]


async def test_calls_that_arrive_while_a_batch_is_in_flight_go_together_next() -> None:
    runner = Recorder(pause_s=0.01)
    sizes: list[int] = []
    coalescer: Coalescer[int, int] = Coalescer(runner, on_batch=sizes.append)
    first = asyncio.ensure_future(coalescer.call(1))
    await asyncio.sleep(0.001)  # the first batch is in flight
    rest = [asyncio.ensure_future(coalescer.call(n)) for n in range(2, 7)]
    assert await asyncio.gather(first, *rest) == [10, 20, 30, 40, 50, 60]
    assert runner.batches == [[1], [2, 3, 4, 5, 6]]
    assert sizes == [1, 5]


async def test_a_batch_is_at_most_size_max() -> None:
    runner = Recorder(pause_s=0.005)
    coalescer: Coalescer[int, int] = Coalescer(runner, size_max=3)
    results = await asyncio.gather(*(coalescer.call(n) for n in range(1, 9)))
    assert results == [n * 10 for n in range(1, 9)]
    assert [len(b) for b in runner.batches] == [3, 3, 2]


async def test_one_items_error_is_its_own() -> None:
    coalescer: Coalescer[int, int] = Coalescer(Recorder())
    results = await asyncio.gather(
        coalescer.call(1), coalescer.call(-2), coalescer.call(3), return_exceptions=True
    )
    assert results[0] == 10 and results[2] == 30
    assert isinstance(results[1], ValueError) and str(results[1]) == "item -2"


async def test_a_batch_that_fails_fails_each_of_its_callers_and_the_next_still_goes() -> None:
    runner = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(runner)
    runner.fail_all = ConnectionError("gone")
    results = await asyncio.gather(coalescer.call(1), coalescer.call(2), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    runner.fail_all = None
    assert await coalescer.call(3) == 30


async def test_an_item_past_its_deadline_is_not_sent() -> None:
    runner = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(runner)
    now = asyncio.get_running_loop().time()
    with pytest.raises(DeadlineExceeded):
        await coalescer.call(1, deadline=now - 1)
    late, soon = now + 5.0, now + 1.0
    assert await asyncio.gather(coalescer.call(2, late), coalescer.call(3, soon)) == [20, 30]
    assert runner.batches == [[2, 3]]
    assert runner.deadlines == [late]  # the round trip may take as long as its latest caller
    assert await coalescer.call(4, soon) == 40 and runner.deadlines[-1] == soon
    await coalescer.call(5, None)
    assert runner.deadlines[-1] is None


async def test_a_cancelled_caller_does_not_cancel_the_round_trip_the_others_share() -> None:
    runner = Recorder(pause_s=0.02)
    coalescer: Coalescer[int, int] = Coalescer(runner)
    blocker = asyncio.ensure_future(coalescer.call(1))
    await asyncio.sleep(0.001)
    quitter = asyncio.ensure_future(coalescer.call(2))
    stayer = asyncio.ensure_future(coalescer.call(3))
    await asyncio.sleep(0.03)  # 2 and 3 are in flight together now
    quitter.cancel()
    assert await stayer == 30
    assert await blocker == 10
    assert runner.batches == [[1], [2, 3]]
    # a caller cancelled before its batch goes is left out of it
    blocker = asyncio.ensure_future(coalescer.call(4))
    await asyncio.sleep(0.001)
    gone = asyncio.ensure_future(coalescer.call(5))
    kept = asyncio.ensure_future(coalescer.call(6))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == 60 and await blocker == 40
    assert runner.batches[-1] == [6]
    await coalescer.close()


async def test_two_batches_may_be_in_flight_when_asked() -> None:
    runner = Recorder(pause_s=0.01)
    coalescer: Coalescer[int, int] = Coalescer(runner, in_flight_max=2)
    first = asyncio.ensure_future(coalescer.call(1))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(coalescer.call(2))
    await asyncio.sleep(0.001)
    assert len(runner.batches) == 2  # the second did not wait for the first
    assert await asyncio.gather(first, second) == [10, 20]


def test_a_pin_keeps_one_connection_until_closed_or_used_up() -> None:
    """connection.Pin: keeps a connection after a batch, not a second one over it, none once
    closed, and gives one back after PIN_USES_MAX batches (the pool recycles it then)."""
    from rx_gateway.adapters.postgres.connection import PIN_USES_MAX, Pin

    pin = Pin()
    first, second = object(), object()
    assert pin.keeps(first) and pin.connection is first
    assert not pin.keeps(second) and pin.connection is first  # one kept already: not replaced
    pin.connection = None  # the next batch took it
    kept = 0
    while pin.keeps(first):
        kept += 1
        pin.connection = None
    assert 0 < kept < PIN_USES_MAX and pin.uses == 0 and pin.connection is None
    pin.closed = True
    assert not pin.keeps(first) and pin.connection is None
