"""Past its in-flight limit the gateway sheds load with RESOURCE_EXHAUSTED, quickly."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import grpc

from rx_gateway.bootstrap import build_app
from rx_gateway.client import GatewayClient
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
