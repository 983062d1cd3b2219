"""HAProxy in front of the gateway (deploy/haproxy/haproxy.cfg, started the way `rx-gateway
bench --front haproxy` starts it): claims pass through unchanged, retransmissions still replay,
and a call that finds no slot in time is refused by HAProxy itself with the gRPC status the
gateway would give (RESOURCE_EXHAUSTED, retryable), never a 503 that a gRPC client reads as
UNAVAILABLE or UNKNOWN; and a gateway HAProxy cannot reach is UNAVAILABLE, not "overloaded".
`.ci/run` installs HAProxy; without HAProxy 2.4 or later these tests are skipped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from rx_gateway.bootstrap import App
from rx_gateway.client import reversal_for
from rx_gateway.tools.bench.stack import FRONT_CONFIG, free_port, front_problem, front_process
from rx_gateway.tools.synthetic import active_members
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc
from tests.support import generic_fill

pytestmark = pytest.mark.skipif(
    front_problem() is not None,
    reason=str(front_problem()),  # no HAProxy 2.4+ here
)


def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, str]]:
    return active_members(dataset[0])[610:640]  # members no other test bills for


async def test_claims_pass_through_the_front_and_replay(
    app: App, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    member = members(dataset)[0]
    request = generic_fill(fixtures, member, 61_000_001, "20261102")
    with front_process(port, app.port, 16, 50, tmp_path):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClaimServiceStub(channel)
            first = await stub.Submit(request, timeout=10)
            again = await stub.Submit(request, timeout=10)
            reversal = await stub.Reverse(reversal_for(request), timeout=10)
    assert first.transaction_response_status == "P", first
    assert again.transaction_response_status == "D"
    assert again.authorization_number == first.authorization_number
    assert reversal.transaction_response_status == "A", reversal


async def test_a_call_with_no_slot_in_time_is_refused_resource_exhausted(
    app: App, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """One call at a time in the gateway, a millisecond of waiting: of a burst of 40 claims
    most are refused by HAProxy, each RESOURCE_EXHAUSTED with HAProxy's message, and every
    other answer is the gateway's own (paid or rejected), none an error of another kind."""
    port = free_port()
    burst = [
        generic_fill(fixtures, member, 61_100_000 + n, "20261102")
        for n, member in enumerate(members(dataset)[1:] * 2)
    ][:40]
    with front_process(port, app.port, 1, 1, tmp_path):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClaimServiceStub(channel)

            async def send(request: pb.ClaimRequest) -> tuple[str, str]:
                try:
                    answer = await stub.Submit(request, timeout=10)
                except grpc.aio.AioRpcError as error:
                    return error.code().name, error.details() or ""
                return answer.transaction_response_status, ""

            answers = await asyncio.gather(*(send(r) for r in burst))
    refused = [details for status, details in answers if status == "RESOURCE_EXHAUSTED"]
    assert refused, answers
    assert all(d == "overloaded: no capacity in time at the front, retry" for d in refused)
    assert {status for status, _ in answers} <= {"P", "R", "RESOURCE_EXHAUSTED"}, answers
    assert any(status in {"P", "R"} for status, _ in answers)


async def test_a_gateway_the_front_cannot_reach_is_unavailable_not_overloaded(
    fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """HAProxy answers every call it cannot pass on with a 503; only the queue's are
    "overloaded" (RESOURCE_EXHAUSTED). Once its health checks find the gateway down (one
    connection a second, two failures), calls are UNAVAILABLE, which every gRPC client retries
    (the reviewer's catch: a down gateway looked like load)."""
    port, nowhere = free_port(), free_port()  # nothing listens on ``nowhere``
    request = generic_fill(
        fixtures, fixtures["members"]["commercial_single"], 61_200_001, "20261102"
    )
    answers: list[tuple[str, str]] = []
    with front_process(port, nowhere, 16, 20, tmp_path):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClaimServiceStub(channel)
            until = time.monotonic() + 10
            while time.monotonic() < until:
                try:
                    await stub.Submit(request, timeout=5)
                except grpc.aio.AioRpcError as error:
                    answers.append((error.code().name, error.details() or ""))
                if answers and answers[-1][0] == "UNAVAILABLE":
                    break
                await asyncio.sleep(0.25)
    assert answers[-1] == (
        "UNAVAILABLE",
        "unavailable: the front cannot reach the gateway, retry",
    ), answers
    # nothing but those two answers, and no claim was ever paid
    assert {code for code, _ in answers} <= {"RESOURCE_EXHAUSTED", "UNAVAILABLE"}, answers


def test_the_bench_names_what_the_front_needs(tmp_path: Path) -> None:
    assert front_problem() is None
    missing = tmp_path / "haproxy.cfg"
    assert front_problem(missing) == (
        f"--front haproxy: {missing} not found"
        " (it ships in the source checkout: run the bench from one)"
    )
    assert FRONT_CONFIG.is_file()
