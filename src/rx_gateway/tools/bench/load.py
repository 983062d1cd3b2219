"""The load generator: open-loop dispatch (each call at its intended time, latency from that
time), the gRPC driver over several connections, and the database floor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import grpc

from rx_gateway.tools.bench.meter import (
    CpuMeter,
    RateResult,
    latency_histogram,
    memory_mb,
    percentile_ms,
)
from rx_gateway.tools.bench.mix import REVERSE, SUBMIT, Mix
from rx_gateway.v1 import claims_pb2 as pb

DEADLINE_S = 2.0
CHANNELS = 4  # separate TCP connections from the load generator
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
FLOOR_COMMIT_SQL = "INSERT INTO bench_floor (v) VALUES ($1)"


Call = Callable[[int], Awaitable[str]]  # sends item i; answers its status key (or raises)


async def open_loop(call: Call, count: int, rate: int, meter: CpuMeter, *, mix: str) -> RateResult:
    """Send ``count`` calls at ``rate`` per second, each at its intended time whatever the
    replies do; latency from the intended time (no coordinated omission)."""
    histogram = latency_histogram()
    statuses: dict[str, int] = {}
    errors = 0
    pending: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def one(index: int, intended: float) -> None:
        nonlocal errors
        try:
            key = await call(index)
        except grpc.aio.AioRpcError as error:
            errors += 1
            key = f"error/{error.code().name}"
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            errors += 1
            key = f"error/{type(error).__name__}"
        else:
            histogram.record_value(max(1, int((time.perf_counter() - intended) * 1_000_000)))
        statuses[key] = statuses.get(key, 0) + 1

    meter.start()
    start = time.perf_counter() + 0.02
    for index in range(count):
        intended = start + index / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(index, intended))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    server, postgres, client = meter.percent(elapsed)
    completed = histogram.get_total_count()
    return RateResult(
        mix=mix,
        offered_per_s=rate,
        seconds=round(elapsed, 2),
        sent=count,
        completed=completed,
        achieved_per_s=round(completed / elapsed, 1),
        p50_ms=percentile_ms(histogram, 50),
        p90_ms=percentile_ms(histogram, 90),
        p99_ms=percentile_ms(histogram, 99),
        p999_ms=percentile_ms(histogram, 99.9),
        max_ms=round(histogram.get_max_value() / 1000, 2) if completed else 0.0,
        errors=errors,
        statuses=dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        server_cpu_percent=server,
        postgres_cpu_percent=postgres,
        client_cpu_percent=client,
        server_rss_mb=memory_mb(meter.server_pids, "VmRSS"),
    )


class Driver:
    """The load generator's connections to the gateway: several channels (TCP connections),
    raw-bytes calls, the reply parsed only for its status and first reject code."""

    def __init__(self, target: str, channels: int = CHANNELS) -> None:
        # a local subchannel pool per channel: otherwise grpc shares one connection among them
        self._channels = [
            grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(channels)
        ]
        # no serializers: requests go as bytes, replies come back as bytes
        self._methods = [
            {
                path: channel.unary_unary(path, request_serializer=None, response_deserializer=None)
                for path in (SUBMIT, REVERSE, HEALTH_CHECK)
            }
            for channel in self._channels
        ]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(None)

    async def claims(
        self, mix: Mix, rate: int, seconds: float, meter: CpuMeter, label: str
    ) -> RateResult:
        shots = mix.shots(max(1, int(rate * seconds)))
        methods = self._methods

        async def call(index: int) -> str:
            path, payload = shots[index]
            reply = await methods[index % len(methods)][path](payload, timeout=DEADLINE_S)
            response = pb.ClaimResponse.FromString(reply)
            status = response.transaction_response_status
            return status + (f"/{response.rejects[0].code}" if response.rejects else "")

        return await open_loop(call, len(shots), rate, meter, mix=label)

    async def capacity(self, mix: Mix, seconds: float, concurrency: int = 32) -> float:
        """Saturation throughput of a mix: ``concurrency`` claims always in flight (closed
        loop, so no call outlives its deadline and none is wasted), completed claims/s."""
        shots = mix.shots(max(1, int(seconds * 1_500)))
        methods = self._methods
        cursor = iter(range(len(shots)))
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            for index in cursor:
                if time.perf_counter() >= deadline:
                    return
                path, payload = shots[index]
                with contextlib.suppress(grpc.aio.AioRpcError):  # not completed: not counted
                    await methods[index % len(methods)][path](payload, timeout=DEADLINE_S)
                    done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return round(done / (time.perf_counter() - began), 1)

    async def echo(self, rate: int, seconds: float, meter: CpuMeter) -> RateResult:
        """The gRPC floor, open loop: bare unary calls (health Check) on the gateway's server."""
        methods = self._methods

        async def call(index: int) -> str:
            await methods[index % len(methods)][HEALTH_CHECK](b"", timeout=DEADLINE_S)
            return "ok"

        return await open_loop(call, max(1, int(rate * seconds)), rate, meter, mix="floor: echo")

    async def echo_saturation(self, seconds: float, concurrency: int = 64) -> float:
        """The gRPC floor at saturation: bare unary calls, ``concurrency`` in flight."""
        methods = self._methods
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker(index: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await methods[index % len(methods)][HEALTH_CHECK](b"", timeout=DEADLINE_S)
                done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return round(done / (time.perf_counter() - began), 1)


class CommitFloor:
    """The database floor: one-statement commits (an INSERT) through asyncpg."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, dsn: str, connections: int = 16) -> AsyncIterator[CommitFloor]:
        pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
        try:
            await pool.execute(
                "CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY,"
                " v bigint NOT NULL)"
            )
            yield cls(pool)
        finally:
            await pool.close()

    async def saturation(self, seconds: float) -> float:
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            async with self._pool.acquire() as conn:
                while time.perf_counter() < deadline:
                    await conn.execute(FLOOR_COMMIT_SQL, done)
                    done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(self._pool.get_max_size())))
        return round(float(done) / (time.perf_counter() - began), 1)

    async def at_rate(self, rate: int, seconds: float, meter: CpuMeter) -> RateResult:
        pool = self._pool

        async def call(index: int) -> str:
            await pool.execute(FLOOR_COMMIT_SQL, index, timeout=DEADLINE_S)
            return "ok"

        return await open_loop(call, max(1, int(rate * seconds)), rate, meter, mix="floor: commit")
