"""kill -9 mid-stream: nothing acknowledged is lost, nothing is paid twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.client import GatewayClient
from rx_gateway.tools.synthetic import active_members
from tests.support import BUSINESS_DATE, generic_fill

CLAIMS = 240
RATE_PER_S = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(dsn: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=dsn,
        RX_GATEWAY_LOG_LEVEL="WARNING",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE.isoformat(),
        RX_GATEWAY_DEV_MODE="1",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    assert b"listening" in server.stdout.readline()
    return server


async def test_kill_dash_nine_loses_nothing_and_doubles_nothing(
    fresh_loaded_database: Any, dataset: tuple[Path, dict[str, Any]]
) -> None:
    dsn = await fresh_loaded_database()
    fixtures = dataset[1]
    members = active_members(dataset[0])[200 : 200 + CLAIMS]  # members no other test bills for
    requests = [
        generic_fill(fixtures, member, 700_000 + n, "20260610") for n, member in enumerate(members)
    ]
    port = _free_port()
    server = _start_server(dsn, port)
    first: dict[int, Any] = {}
    try:
        async with GatewayClient(f"127.0.0.1:{port}") as client:

            async def send(index: int) -> None:
                await asyncio.sleep(index / RATE_PER_S)
                with contextlib.suppress(grpc.aio.AioRpcError):  # no answer: retransmitted later
                    first[index] = await client.submit(requests[index], timeout_s=3)

            async def crash() -> None:
                await asyncio.sleep(CLAIMS / RATE_PER_S / 2)
                server.send_signal(signal.SIGKILL)

            await asyncio.gather(crash(), *(send(i) for i in range(CLAIMS)))
        server.wait(timeout=10)
        unanswered = [i for i in range(CLAIMS) if i not in first]
        assert first, "some claims must be answered before the crash"
        assert unanswered, "the crash must leave some claims unanswered"
        server = _start_server(dsn, port)
        final = dict(first)
        async with GatewayClient(f"127.0.0.1:{port}") as client:
            for index in unanswered:
                final[index] = await client.submit(requests[index], timeout_s=5)
    finally:
        server.kill()
        server.wait(timeout=10)

    assert {r.transaction_response_status for r in first.values()} <= {"P"}
    assert {final[i].transaction_response_status for i in unanswered} <= {"P", "D"}
    conn = await asyncpg.connect(dsn)
    try:
        stored = {
            r["internal_control_number"]
            for r in await conn.fetch("SELECT internal_control_number FROM claim")
        }
        assert {
            r.internal_control_number for r in first.values()
        } <= stored  # nothing acknowledged is lost
        assert len(stored) == CLAIMS  # each claim paid exactly once
        for index in unanswered:  # a D replays the payment that committed before the crash
            assert final[index].internal_control_number in stored
        assert all(result.passed for result in await verify_ledger(conn))
    finally:
        await conn.close()
