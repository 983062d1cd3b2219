"""The database goes away and comes back: quick honest answers while down, recovery by itself."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rx_gateway.adapters.postgres.database import EmbeddedPostgres
from rx_gateway.adapters.postgres.verify import verify_ledger
from rx_gateway.bootstrap import Database, build_app
from rx_gateway.client import GatewayClient
from rx_gateway.config import PoolLimits
from rx_gateway.tools.synthetic import active_members
from tests.support import TEST_SETTINGS, generic_fill


def _generic_claim(fixtures: dict[str, Any], member: str, rx: int, *, day: int) -> Any:
    """A generic fill for a fixture member; the Rx number picks the month, so fills never collide."""
    return generic_fill(
        fixtures, fixtures["members"][member], rx, f"2026{rx % 10 + 1:02d}{day:02d}"
    )


async def test_database_down_answers_unavailable_then_recovers(
    dataset: tuple[Path, dict[str, Any]],
) -> None:
    """Stop PostgreSQL under a running gateway: claims get UNAVAILABLE well inside their
    deadline (never a hang); restart it: claims are paid again without restarting the gateway."""
    workdir = Path(tempfile.mkdtemp(prefix="rxgw-fault-"))
    embedded = EmbeddedPostgres(workdir / "pg")
    dsn = await asyncio.to_thread(embedded.start)
    fixtures = dataset[1]

    def claim(rx: int) -> Any:
        return _generic_claim(fixtures, "commercial_single", rx, day=1)

    try:
        database = Database(dsn)
        await database.migrate()
        await database.load(dataset[0])
        limits = PoolLimits(size_min=1, size_max=4, acquire_timeout_s=0.5, command_timeout_s=1.0)
        app = await build_app(replace(TEST_SETTINGS, pool=limits), dsn)
        try:
            async with GatewayClient(f"127.0.0.1:{app.port}") as client:
                assert (await client.submit(claim(1))).transaction_response_status == "P"
                await asyncio.to_thread(embedded.stop)
                for rx in (2, 3, 4):
                    began = time.perf_counter()
                    try:
                        await client.submit(claim(rx), timeout_s=5)
                        raise AssertionError("a claim cannot be paid with the database down")
                    except grpc.aio.AioRpcError as error:
                        assert error.code() is grpc.StatusCode.UNAVAILABLE, error
                    assert time.perf_counter() - began < 3.0
                await asyncio.to_thread(embedded.start)
                recovered = None
                for attempt in range(40):
                    try:
                        recovered = await client.submit(claim(100 + attempt), timeout_s=5)
                        break
                    except grpc.aio.AioRpcError as error:
                        assert error.code() is grpc.StatusCode.UNAVAILABLE
                        await asyncio.sleep(0.25)
                assert recovered is not None and recovered.transaction_response_status == "P"
        finally:
            await app.stop()
        conn = await asyncpg.connect(dsn)
        try:
            assert all(r.passed for r in await verify_ledger(conn))
            assert await conn.fetchval("SELECT count(*) FROM claim") == 2
        finally:
            await conn.close()
    finally:
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def test_exhausted_pool_answers_unavailable_quickly(
    loaded_dsn: str, fixtures: dict[str, Any]
) -> None:
    """With every pooled connection busy in a slow query, a claim gets UNAVAILABLE after the
    acquire timeout, not at the caller's deadline; once the pool frees up, claims are paid."""
    limits = PoolLimits(size_min=1, size_max=1, acquire_timeout_s=0.3, command_timeout_s=5.0)
    app = await build_app(replace(TEST_SETTINGS, pool=limits), loaded_dsn)

    def claim(rx: int) -> Any:
        return _generic_claim(fixtures, "part_d", rx, day=10)

    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            async with app.pool.acquire() as busy:
                slow = asyncio.ensure_future(busy.execute("SELECT pg_sleep(2)"))
                began = time.perf_counter()
                try:
                    await client.submit(claim(810_001), timeout_s=5)
                    raise AssertionError("the only connection is busy")
                except grpc.aio.AioRpcError as error:
                    assert error.code() is grpc.StatusCode.UNAVAILABLE
                assert time.perf_counter() - began < 1.5
                await slow
            paid = await client.submit(claim(810_002), timeout_s=5)
            assert paid.transaction_response_status == "P", (paid.rejects, paid.message)
    finally:
        await app.stop()


async def test_server_side_disconnects_under_load_never_answer_internal(
    fresh_loaded_database: Any, dataset: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The server ends every gateway connection five times while claims flow (what a
    `pg_ctl restart -m fast` does to them: each gets the FATAL 57P01 notice mid-claim, some in
    the middle of a protocol exchange). Every call answers OK or UNAVAILABLE (retryable), never
    INTERNAL: a connection in an unknown protocol state is dropped, not handed to the next
    claim. Afterwards the gateway follows a reference load again (its LISTEN connection was
    ended too and is reopened), claims are paid on the new version, and the ledger verifies."""
    dsn = await fresh_loaded_database()
    fixtures = dataset[1]
    members = active_members(dataset[0])[1500:1700]
    limits = replace(
        TEST_SETTINGS.pool, size_min=4, size_max=4, acquire_timeout_s=0.5, command_timeout_s=2.0
    )
    app = await build_app(replace(TEST_SETTINGS, pool=limits, reference_poll_s=0.3), dsn)
    codes: Counter[str] = Counter()
    stop = asyncio.Event()
    numbers = iter(range(9_100_000, 9_200_000))

    async def flow(client: GatewayClient, lane: int) -> None:
        while not stop.is_set():
            rx = next(numbers)
            member = members[rx % len(members)]
            request = generic_fill(fixtures, member, rx, f"2026{rx % 9 + 1:02d}{lane + 1:02d}")
            try:
                await client.submit(request, timeout_s=3)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                codes[error.code().name] += 1
                await asyncio.sleep(0.02)

    admin = await asyncpg.connect(dsn)
    try:
        async with GatewayClient(f"127.0.0.1:{app.port}") as client:
            lanes = [asyncio.ensure_future(flow(client, lane)) for lane in range(4)]
            ended = 0
            for _ in range(5):
                await asyncio.sleep(0.5)
                ended += await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*lanes)
            assert ended >= 5 * 5  # the pool's four and the listener, each time
            assert set(codes) <= {"OK", "UNAVAILABLE"}, codes
            assert codes["OK"] > 0, codes

            before = app.reference.snapshot.version
            (tmp_path / "pharmacies.csv").write_text((dataset[0] / "pharmacies.csv").read_text())
            await Database(dsn).load(tmp_path)
            for _ in range(50):
                if app.reference.snapshot.version != before:
                    break
                await asyncio.sleep(0.1)
            assert int(app.reference.snapshot.version) > int(before)
            paid = await client.submit(
                generic_fill(fixtures, members[0], next(numbers), "20261120"), timeout_s=5
            )
            assert paid.reference_data_version == app.reference.snapshot.version
        assert all(r.passed for r in await verify_ledger(admin))
    finally:
        await admin.close()
        await app.stop()


async def _health(channel: grpc.aio.Channel) -> str:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="rx_gateway.v1.ClaimService"), timeout=2
    )
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def _until(condition: Any, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.1)):
        if await condition():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_database_that_refuses_connections_is_unavailable_and_health_follows_it(
    fresh_loaded_database: Any, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """The claims database stops accepting connections (ALLOW_CONNECTIONS false, its sessions
    ended: what a DBA's maintenance or a dropped database looks like from the gateway). Every
    claim answers UNAVAILABLE (retryable), none INTERNAL (the pool's reconnect raised 55000,
    or 3D000 for a dropped database, which were INTERNAL with a traceback each), and health
    turns NOT_SERVING within the reference poll, so that a load balancer sends the switches
    elsewhere; once connections are allowed again, health is SERVING and claims are paid, with
    no restart."""
    dsn = await fresh_loaded_database()
    name = urlsplit(dsn).path.lstrip("/")  # (an embedded server's URL has its socket's path)
    fixtures = dataset[1]
    members = active_members(dataset[0])[1500:1510]
    limits = replace(
        TEST_SETTINGS.pool, size_min=2, size_max=4, acquire_timeout_s=0.5, command_timeout_s=2.0
    )
    # the database's connections are refused while this one, to another, changes it (opened
    # first: a gateway built and never stopped kept a CI run's pytest from exiting)
    admin = await asyncpg.connect(dsn, database="postgres")
    try:
        app = await build_app(replace(TEST_SETTINGS, pool=limits, reference_poll_s=0.2), dsn)
    except BaseException:
        await admin.close()
        raise
    numbers = iter(range(9_300_000, 9_300_100))

    def claim() -> Any:
        rx = next(numbers)
        return generic_fill(fixtures, members[rx % len(members)], rx, f"2026{rx % 9 + 1:02d}15")

    try:
        async with (
            GatewayClient(f"127.0.0.1:{app.port}") as client,
            grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
        ):
            assert (await client.submit(claim())).transaction_response_status == "P"
            assert await _health(channel) == "SERVING"
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            codes: Counter[str] = Counter()
            for _ in range(6):
                try:
                    await client.submit(claim(), timeout_s=3)
                    codes["OK"] += 1
                except grpc.aio.AioRpcError as error:
                    codes[error.code().name] += 1
            assert codes == Counter(UNAVAILABLE=6), codes

            async def not_serving() -> bool:
                return await _health(channel) == "NOT_SERVING"

            assert await _until(not_serving), "health still SERVING with the database gone"
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            async def serving() -> bool:
                return await _health(channel) == "SERVING"

            assert await _until(serving), "health did not come back"
            paid = None
            for _ in range(20):
                try:
                    paid = await client.submit(claim(), timeout_s=3)
                    break
                except grpc.aio.AioRpcError as error:
                    assert error.code() is grpc.StatusCode.UNAVAILABLE
                    await asyncio.sleep(0.2)
            assert paid is not None and paid.transaction_response_status == "P"
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await app.stop()
