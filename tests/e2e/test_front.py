"""HAProxy in front of the gateway (deploy/haproxy/haproxy.cfg, started the way `rx-gateway
bench --front haproxy` starts it): claims pass through unchanged, retransmissions still replay,
and a call that finds no slot in time is refused by HAProxy itself with the gRPC status the
gateway would give (RESOURCE_EXHAUSTED, retryable), never a 503 that a gRPC client reads as
UNAVAILABLE or UNKNOWN; and a gateway HAProxy cannot reach is UNAVAILABLE, not "overloaded".
`.ci/run` installs HAProxy; without HAProxy 2.4 or later these tests are skipped."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rx_gateway.bootstrap import App, build_app
from rx_gateway.client import reversal_for
from rx_gateway.tools.bench.stack import FRONT_CONFIG, free_port, front_problem, front_process
from rx_gateway.tools.synthetic import active_members
from rx_gateway.v1 import claims_pb2 as pb
from rx_gateway.v1 import claims_pb2_grpc as pb_grpc
from tests.support import TEST_SETTINGS, generic_fill

pytestmark = pytest.mark.skipif(
    front_problem() is not None,
    reason=str(front_problem()),  # no HAProxy 2.4+ here
)


def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, str]]:
    """Members no other test bills for (a fixture member billed here broke another test's
    first claim of the same drug: 79, refill too soon)."""
    return active_members(dataset[0])[610:645]


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
        for n, member in enumerate(members(dataset)[1:30] * 2)
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
    dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], tmp_path: Path
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


async def test_a_gateway_that_goes_away_is_unavailable_from_the_first_call(
    loaded_dsn: str, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """A gateway HAProxy had reached, then gone (here: stopped, its port closed): the first call
    after was RESOURCE_EXHAUSTED "overloaded" (HAProxy's 503 for a refused connection takes the
    queue's errorfile) until the health checks fell; the failed connection now marks the
    gateway down at once and that 503 is answered UNAVAILABLE (found by attacking the front)."""
    app = await build_app(replace(TEST_SETTINGS), loaded_dsn)
    member = members(dataset)[31]
    port = free_port()
    with front_process(port, app.port, 16, 20, tmp_path):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClaimServiceStub(channel)
            await asyncio.sleep(1.5)  # a health check has found it up
            first = await stub.Submit(generic_fill(fixtures, member, 61_300_001, "20261102"))
            await app.stop()
            with pytest.raises(grpc.aio.AioRpcError) as gone:
                await stub.Submit(generic_fill(fixtures, member, 61_300_002, "20261102"), timeout=5)
    assert first.transaction_response_status in {"P", "R"}
    assert (gone.value.code(), gone.value.details()) == (
        grpc.StatusCode.UNAVAILABLE,
        "unavailable: the front cannot reach the gateway, retry",
    )


async def test_only_the_claim_services_and_whole_requests_reach_the_gateway(
    app: App, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any], tmp_path: Path
) -> None:
    """With one call at a time in the gateway, a request that never arrives whole (its stream
    left open) held that one slot, and health Watch streams held slots for a minute, locking
    every switch out (found by attacking the front). Now HAProxy takes a request's slot only
    once it has arrived whole (INVALID_ARGUMENT after 5 s otherwise) and serves only the claim
    and benefit services and health Check (UNIMPLEMENTED)."""
    port = free_port()
    request = generic_fill(fixtures, members(dataset)[32], 61_400_001, "20261102")
    with front_process(port, app.port, 1, 20, tmp_path):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            never = asyncio.Event()

            async def nothing() -> Any:
                """A request stream that sends nothing until the test ends, then ends."""
                await never.wait()
                return
                yield b""  # pragma: no cover - makes this an async generator

            submit = "/rx_gateway.v1.ClaimService/Submit"
            began = time.monotonic()
            incomplete = asyncio.ensure_future(channel.stream_unary(submit)(nothing(), timeout=15))
            await asyncio.sleep(0.5)
            paid = await pb_grpc.ClaimServiceStub(channel).Submit(request, timeout=5)
            check = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
            with pytest.raises(grpc.aio.AioRpcError) as watch:
                await (
                    health_pb2_grpc.HealthStub(channel)
                    .Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
                    .read()
                )
            # reflection keeps its stream open (grpcurl's does): refused at once all the same
            reflecting = channel.stream_stream(
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
            )(nothing(), timeout=5)
            asked = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as reflection:
                await reflecting.read()
            reflection_s = time.monotonic() - asked
            with pytest.raises(grpc.aio.AioRpcError) as cut:
                await incomplete
            waited = time.monotonic() - began
            # let grpc's request-stream tasks finish before the channel goes (left pending, one
            # was destroyed later, logging an asyncio error into the next test)
            reflecting.cancel()
            never.set()
            await asyncio.sleep(0.2)
    assert paid.transaction_response_status in {"P", "R"}, paid
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    assert (watch.value.code(), watch.value.details()) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "not served at the front: only the claim and benefit services, and health Check",
    )
    # HAProxy answers UNIMPLEMENTED and resets the stream the client still sends on: grpcio
    # reports the reset (CANCELLED), a raw HTTP/2 client reads the answer; either way at once
    assert reflection.value.code() in {grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.CANCELLED}
    assert reflection_s < 2
    # HAProxy answers INVALID_ARGUMENT (incomplete.http) and resets the stream the client is
    # still sending on: grpcio reports the reset (CANCELLED); a raw HTTP/2 client reads the
    # answer. Either way after timeout http-request (5 s), not at the call's own deadline
    assert cut.value.code() in {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.CANCELLED}
    assert 4.5 < waited < 10


def test_the_bench_names_what_the_front_needs(tmp_path: Path) -> None:
    assert front_problem() is None
    missing = tmp_path / "haproxy.cfg"
    assert front_problem(missing) == (
        f"--front haproxy: {missing} not found"
        " (it ships in the source checkout: run the bench from one)"
    )
    assert FRONT_CONFIG.is_file()
