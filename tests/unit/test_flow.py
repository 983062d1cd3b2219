"""Admission by what can finish in time, and one claim at a time per card."""

from __future__ import annotations

import asyncio

import pytest

from rx_gateway.domain.errors import DeadlineExceeded, Overloaded
from rx_gateway.service_layer.flow import RATE_WINDOW_S, Admission, Turns


def _with_rate(admission: Admission, rate_per_s: float, in_flight: int) -> None:
    admission._rate_per_s = rate_per_s
    admission.in_flight = in_flight


async def test_few_claims_in_flight_are_always_admitted() -> None:
    admission = Admission(wait_budget_s=0.03, in_flight_free=4)
    _with_rate(admission, 1.0, 3)  # 3 s of wait by the rate, but only 3 in flight
    with admission.admitted(None, 0.0):
        assert admission.in_flight == 4
    assert admission.in_flight == 3


@pytest.mark.parametrize(
    ("rate", "in_flight", "deadline_left", "admitted"),
    [
        (1_000.0, 20, None, True),  # 20 ms of wait: within the 30 ms budget
        (1_000.0, 40, None, False),  # 40 ms: past the budget
        (1_000.0, 20, 0.015, False),  # the caller's deadline is nearer than the wait
        (1_000.0, 20, 0.025, True),
        (0.0, 500, None, True),  # the rate is not known yet: admitted
    ],
)
async def test_a_claim_is_admitted_when_it_can_start_in_time(
    rate: float, in_flight: int, deadline_left: float | None, admitted: bool
) -> None:
    admission = Admission(wait_budget_s=0.03, in_flight_free=8)
    _with_rate(admission, rate, in_flight)
    deadline = None if deadline_left is None else 100.0 + deadline_left
    if admitted:
        with admission.admitted(deadline, 100.0):
            pass
        assert admission.refused == 0
    else:
        with pytest.raises(Overloaded, match="at capacity"), admission.admitted(deadline, 100.0):
            pass  # pragma: no cover - refused before
        assert admission.refused == 1
    assert admission.in_flight == in_flight


async def test_the_rate_is_measured_from_completions() -> None:
    admission = Admission()
    loop = asyncio.get_running_loop()
    admission._window_start = loop.time() - 2 * RATE_WINDOW_S  # a window began 0.2 s ago
    admission._rate_per_s = 1.0  # known, so the next window is smoothed into it
    admission._completed = 98  # completed in the window so far
    with admission.admitted(None, loop.time()):
        pass
    # the 99th completion closes the window: about 99 / 0.2 s, smoothed with 1/s
    assert 200 < admission._rate_per_s < 260
    assert admission.expected_wait_s() == 0.0  # nothing in flight


async def test_claims_of_one_card_take_turns_in_order() -> None:
    turns = Turns()
    order: list[str] = []

    async def claim(key: str, name: str, pause: float) -> None:
        async with turns.turn(key, None):
            order.append(f"{name} starts")
            await asyncio.sleep(pause)
            order.append(f"{name} ends")

    await asyncio.gather(
        claim("card-1", "a", 0.02), claim("card-1", "b", 0.0), claim("card-2", "c", 0.0)
    )
    assert order.index("a ends") < order.index("b starts")
    assert order.index("c ends") < order.index("a ends")  # another card does not wait
    assert turns._locks == {}  # nothing left behind


async def test_waiting_for_a_turn_stops_at_the_deadline() -> None:
    turns = Turns()
    loop = asyncio.get_running_loop()
    release = asyncio.Event()

    async def first() -> None:
        async with turns.turn("card", None):
            await release.wait()

    holder = asyncio.ensure_future(first())
    await asyncio.sleep(0)
    with pytest.raises(DeadlineExceeded):
        async with turns.turn("card", loop.time() + 0.01):
            pass  # pragma: no cover - never its turn
    release.set()
    await holder
    async with turns.turn("", None):  # no card: no turn to take
        pass
    assert turns._locks == {}
