"""Operators can see it (issue 16): Prometheus metrics on their own listener, over a real gRPC
channel and the real ledger; one scrape sees every worker of `serve --workers 2`; a bad or busy
RX_GATEWAY_METRICS_LISTEN is one line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from rx_gateway.bootstrap import App, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.config import Settings
from rx_gateway.ncpdp.codec import decode_response, encode
from rx_gateway.observability import scrape
from rx_gateway.tools.bench.stack import free_port
from rx_gateway.tools.synthetic import active_members
from rx_gateway.tools.synthetic.claims import claim_request
from rx_gateway.v1 import claims_pb2 as pb
from tests.support import BUSINESS_DATE, TEST_SETTINGS
from tests.support_d0 import request_transmission

SUBMIT = 'grpc_method="Submit",grpc_service="rx_gateway.v1.ClaimService",grpc_type="unary"'
TRANSMIT = 'grpc_method="Transmit",grpc_service="rx_gateway.v1.ClaimService",grpc_type="unary"'


@pytest.fixture(scope="module")
def members(dataset: tuple[Path, dict[str, Any]]) -> list[dict[str, Any]]:
    """Commercial members no other test bills for."""
    return [m for m in active_members(dataset[0])[1400:] if m["plan_id"] == "COMM-HRA-2026"][:12]


def _fill(fixtures: dict[str, Any], member: dict[str, Any], rx: int) -> pb.ClaimRequest:
    return claim_request(
        fixtures,
        member,
        fixtures["drugs"]["generic"],
        pharmacy=fixtures["pharmacies"]["preferred"],
        rx_number=rx,
        date_of_service="20261110",
    )


def _delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_metrics_listener_is_off_by_default(app: App) -> None:
    """No RX_GATEWAY_METRICS_LISTEN, no listener (and no RPC interceptor to pay for)."""
    assert TEST_SETTINGS.metrics_listen_address is None
    assert app.metrics_listener is None


async def test_a_scrape_shows_claims_rejects_rpcs_and_the_pool(
    loaded_dsn: str, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    """After a paid claim, a rejected one, a raw D.0 claim and an unreadable call, one scrape
    shows them by transaction and 112-AN status, the reject by its code, the RPCs by method
    and gRPC code, the pool's connections, the reference version; and no PHI anywhere."""
    settings = replace(TEST_SETTINGS, admin_tokens={}, metrics_listen_address="127.0.0.1:0")
    app = await build_app(settings, loaded_dsn)
    try:
        assert app.metrics_listener is not None
        url = f"http://127.0.0.1:{app.metrics_listener.port}/metrics"
        before = await asyncio.to_thread(scrape, url)
        paid_request = _fill(fixtures, members[0], rx_number())
        rejected_request = _fill(fixtures, members[1], rx_number())
        rejected_request.insurance.cardholder_id = "NOBODY00000001"
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            paid = await client.submit(paid_request)
            rejected = await client.submit(rejected_request)
            raw = decode_response(
                await client.transmit(
                    encode(request_transmission([_fill(fixtures, members[2], rx_number())]))
                )
            )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as unreadable:
                await channel.unary_unary(
                    "/rx_gateway.v1.ClaimService/Submit",
                    request_serializer=lambda data: data,
                    response_deserializer=lambda data: data,
                )(b"\xff\xff\xff", timeout=5)
        after = await asyncio.to_thread(scrape, url)
        pool_size = app.pool.get_size()
    finally:
        await app.stop()
    assert paid.transaction_response_status == "P"
    assert rejected.transaction_response_status == "R"
    reject_code = rejected.rejects[0].code
    raw_status = next(s for s in raw.transactions[0] if s.segment_id == "21").get("AN")
    assert raw_status == "P"
    assert unreadable.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    assert _delta(before, after, 'rxgw_claims_total{status="P",txn="B1"}') == 2  # both doors
    assert _delta(before, after, 'rxgw_claims_total{status="R",txn="B1"}') == 1
    for reject in rejected.rejects:
        assert _delta(before, after, f'rxgw_rejects_total{{reject_code="{reject.code}"}}') == 1
    assert reject_code
    # the RPC histogram, by method and code
    assert (
        _delta(before, after, f'grpc_server_handling_seconds_count{{grpc_code="OK",{SUBMIT}}}') == 2
    )
    assert (
        _delta(
            before,
            after,
            f'grpc_server_handling_seconds_count{{grpc_code="INVALID_ARGUMENT",{SUBMIT}}}',
        )
        == 1
    )
    assert (
        _delta(before, after, f'grpc_server_handling_seconds_count{{grpc_code="OK",{TRANSMIT}}}')
        == 1
    )
    assert after[f'grpc_server_handling_seconds_bucket{{grpc_code="OK",{SUBMIT},le="+Inf"}}'] >= 2
    assert after[f'grpc_server_handling_seconds_sum{{grpc_code="OK",{SUBMIT}}}'] > 0
    assert after["rxgw_inflight_requests"] == 0
    # the pool: every connection is in use or idle
    in_use = after['rxgw_db_pool_connections{state="in_use"}']
    idle = after['rxgw_db_pool_connections{state="idle"}']
    assert in_use >= 0 and idle >= 0
    assert in_use + idle == pool_size > 0
    version = app.reference.snapshot.version
    assert after[f'rxgw_reference_data_version_info{{version="{version}"}}'] == 1
    assert "rxgw_worker_start_time_seconds" in after
    # no PHI in any series: not the cardholder, the names, the birth date or the Rx number
    text = "\n".join(after)
    for request in (paid_request, rejected_request):
        for value in (
            request.insurance.cardholder_id,
            request.patient.date_of_birth,
            request.claim.prescription_reference_number,
        ):
            assert not value or value not in text, value
    for member in members[:3]:
        for field in ("member_id", "cardholder_id", "date_of_birth"):
            assert str(member[field]) not in text, field


@pytest.mark.parametrize(
    "address", ["nonsense", "127.0.0.1:99999", ":9464", "127.0.0.1:\u00b2", "[::1:9464", "[]:9464"]
)
def test_a_bad_metrics_address_is_one_line(address: str) -> None:
    """A malformed RX_GATEWAY_METRICS_LISTEN: one line naming the variable, no traceback."""
    env = dict(os.environ, RX_GATEWAY_DEV_MODE="1", RX_GATEWAY_METRICS_LISTEN=address)
    result = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "serve", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rx-gateway: configuration error: RX_GATEWAY_METRICS_LISTEN")
    assert repr(address) in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_busy_metrics_port_is_one_line(fresh_database: Any, workers: int) -> None:
    """The metrics port already bound: one line naming the address, the variable and why,
    before anything else starts (one process, and the parent of --workers alike)."""
    dsn = await fresh_database()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = f"127.0.0.1:{holder.getsockname()[1]}"
        env = dict(
            os.environ,
            RX_GATEWAY_DATABASE_URL=dsn,
            RX_GATEWAY_DEV_MODE="1",
            RX_GATEWAY_METRICS_LISTEN=busy,
        )
        port = "0" if workers == 1 else str(free_port())  # --workers needs a fixed port
        command = [sys.executable, "-m", "rx_gateway", "serve", "--listen", f"127.0.0.1:{port}"]
        if workers > 1:
            command += ["--workers", str(workers)]
        result = await asyncio.to_thread(
            subprocess.run,
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rx-gateway:")]
    assert len(errors) == 1, result.stderr
    assert f"cannot listen on {busy} (RX_GATEWAY_METRICS_LISTEN)" in errors[0]
    assert "already in use" in errors[0]
    assert "rx-gateway listening" not in result.stdout


async def test_one_scrape_sees_both_workers(
    loaded_dsn: str, fixtures: dict[str, Any], members: list[dict[str, Any]], rx_number: Any
) -> None:
    """`serve --workers 2` with RX_GATEWAY_METRICS_LISTEN: the parent serves the scrape, the
    workers' counters add up in it (claims over separate connections, spread by the kernel),
    both workers' pools are in the pool gauge, and each live worker has its start time."""
    port, metrics_port = _free_port(), _free_port()
    env = dict(
        os.environ,
        RX_GATEWAY_DATABASE_URL=loaded_dsn,
        RX_GATEWAY_DEV_MODE="1",
        RX_GATEWAY_BUSINESS_DATE=BUSINESS_DATE.isoformat(),
        RX_GATEWAY_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        RX_GATEWAY_LOG_LEVEL="WARNING",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rx_gateway",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        line = await asyncio.to_thread(server.stdout.readline)
        assert line.decode().startswith("rx-gateway listening"), line
        claims = 8
        for index in range(claims):  # a connection each: SO_REUSEPORT spreads connections
            async with GatewayClient(f"127.0.0.1:{port}") as client:
                reply = await client.submit(_fill(fixtures, members[3 + index % 9], rx_number()))
                assert reply.transaction_response_status == "P"
        after = await asyncio.to_thread(scrape, f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = await asyncio.to_thread(server.communicate, timeout=60)
    assert server.returncode == 0, errors
    assert after['rxgw_claims_total{status="P",txn="B1"}'] == claims
    assert after[f'grpc_server_handling_seconds_count{{grpc_code="OK",{SUBMIT}}}'] == claims
    starts = [key for key in after if key.startswith("rxgw_worker_start_time_seconds{")]
    pids = {re.search(r'pid="(\d+)"', key).group(1) for key in starts}  # type: ignore[union-attr]
    assert len(pids) == 2, starts
    pool = (
        after['rxgw_db_pool_connections{state="in_use"}']
        + after['rxgw_db_pool_connections{state="idle"}']
    )
    assert pool == 2 * Settings().pool.size_min  # both workers' pools, opened at start-up
    assert after["rxgw_inflight_requests"] == 0
