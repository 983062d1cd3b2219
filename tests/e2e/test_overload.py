"""Past its in-flight limit the gateway sheds load with RESOURCE_EXHAUSTED, quickly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc

from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
from tests.support import TEST_SETTINGS, generic_fill


async def test_excess_calls_are_shed_not_queued(loaded_dsn: str, fixtures: dict[str, Any]) -> None:
    """With room for 4 calls in flight, a burst of 60: every call is answered or shed, none
    fails any other way, and shed calls come back fast instead of waiting in a queue."""
    settings = replace(TEST_SETTINGS, grpc_concurrent_rpcs_max=4)
    app = await build_app(settings, loaded_dsn)
    member = fixtures["members"]["part_d_other"]
    requests = [generic_fill(fixtures, member, 900_000 + n, "20260315") for n in range(60)]
    shed_latencies: list[float] = []

    async def send(client: GatewayClient, request: Any) -> str:
        began = time.perf_counter()
        try:
            return (await client.submit(request, timeout_s=10)).transaction_response_status
        except grpc.aio.AioRpcError as error:
            shed_latencies.append(time.perf_counter() - began)
            return error.code().name

    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            results = await asyncio.gather(*(send(client, r) for r in requests))
    finally:
        await app.stop()
    assert set(results) <= {"P", "R", "RESOURCE_EXHAUSTED"}, results
    assert "RESOURCE_EXHAUSTED" in results
    assert results.count("P") >= 1
    assert max(shed_latencies) < 2.0


async def test_half_closed_calls_hold_one_connections_share_not_the_server(
    loaded_dsn: str, dataset: tuple[Path, dict[str, Any]], fixtures: dict[str, Any]
) -> None:
    """A unary call half-closed without its message is never answered by grpc.aio (found from
    outside with h2; grpcio's own client sends one as a stream-unary call with no request). Each
    holds one of the server's call slots: 150 of them on one connection took all 120 here,
    and every other switch was RESOURCE_EXHAUSTED. Now a connection holds at most its
    streams' share (5 here), and a claim on another connection pays at once."""
    settings = replace(
        TEST_SETTINGS, grpc_concurrent_rpcs_max=12, grpc_streams_per_connection_max=5
    )
    app = await build_app(settings, loaded_dsn)
    target = f"127.0.0.1:{app.port}"
    member = active_members(dataset[0])[644]  # a member no other test bills for
    try:
        # a connection of its own (channels to one target share one by default)
        own = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(target, options=own) as abuser:
            empty = abuser.stream_unary("/rx_gateway.v1.ClaimService/Submit")
            stuck = [asyncio.ensure_future(empty(iter([]))) for _ in range(30)]
            await asyncio.sleep(1.0)
            assert not any(call.done() for call in stuck)  # grpc.aio's own silence
            async with GatewayClient(target) as client:
                began = time.perf_counter()
                reply = await client.submit(
                    generic_fill(fixtures, member, 901_000, "20260316"), timeout_s=5
                )
            assert reply.transaction_response_status in {"P", "R"}, reply
            assert time.perf_counter() - began < 2.0
            for call in stuck:
                call.cancel()
    finally:
        await app.stop()
