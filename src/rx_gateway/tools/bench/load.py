"""The load generator: open-loop dispatch (each call at its intended time, latency from that
time), the gRPC driver over several connections, and the database floor."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
import grpc

from rx_gateway.tools.bench.meter import (
    CpuMeter,
    RateResult,
    latency_histogram,
    memory_mb,
    per_call_ms,
    percentile_ms,
)
from rx_gateway.tools.bench.mix import REVERSE, SUBMIT, Mix
from rx_gateway.v1 import claims_pb2 as pb

DEADLINE_S = 2.0
CHANNELS = 4  # separate TCP connections from the load generator
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SATURATION_CONCURRENCY = 32  # claims in flight when measuring capacity (closed loop)
# claims prepared per second of a saturation run: above any capacity seen on 2 cores (a run
# that uses them all ends early, and its rate is still completed / elapsed)
SATURATION_SHOTS_PER_S = 4_000
FLOOR_COMMIT_SQL = "INSERT INTO bench_floor (v) VALUES ($1)"


Call = Callable[[int], Awaitable[str]]  # sends item i; answers its status key (or raises)


@dataclass
class Tally:
    """What a run's calls answered beyond their latency: errors, refusals (RESOURCE_EXHAUSTED,
    not errors), each status key's count, and when the last admitted call was answered."""

    errors: int = 0
    refused: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    last_answer: float = 0.0

    def failed(self, error: grpc.aio.AioRpcError) -> str:
        """Count a failed call; its status key."""
        if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            self.refused += 1
            return "refused/RESOURCE_EXHAUSTED"
        self.errors += 1
        return f"error/{error.code().name}"


async def open_loop(call: Call, count: int, rate: int, meter: CpuMeter, *, mix: str) -> RateResult:
    """Send ``count`` calls at ``rate`` per second, each at its intended time whatever the
    replies do; latency from the intended time (no coordinated omission). A call answered
    RESOURCE_EXHAUSTED (refused by admission control) is counted apart from the errors, and
    only the admitted calls' latencies enter the histogram."""
    histogram = latency_histogram()
    lags = latency_histogram()
    tally = Tally()
    pending: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def one(index: int, intended: float) -> None:
        lags.record_value(max(1, int((time.perf_counter() - intended) * 1_000_000)))
        try:
            key = await call(index)
        except grpc.aio.AioRpcError as error:
            key = tally.failed(error)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            tally.errors += 1
            key = f"error/{type(error).__name__}"
        else:
            tally.last_answer = time.perf_counter()
            histogram.record_value(max(1, int((tally.last_answer - intended) * 1_000_000)))
        tally.statuses[key] = tally.statuses.get(key, 0) + 1

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
    result = measured(mix, rate, elapsed, count, histogram, tally, meter, start)
    return replace(result, send_lag_p99_ms=percentile_ms(lags, 99))


def measured(
    mix: str,
    offered: int,
    elapsed: float,
    sent: int,
    histogram: Any,
    tally: Tally,
    meter: CpuMeter,
    start: float,
) -> RateResult:
    """A run's RateResult: latencies from the histogram, CPU from the meter (started at the
    run's start, ``start`` on the perf_counter clock), offered 0 for a closed-loop
    (saturation) run."""
    server_s, postgres_s, client_s = meter.seconds()
    by_worker = meter.worker_seconds()
    completed = histogram.get_total_count()
    return RateResult(
        mix=mix,
        offered_per_s=offered,
        seconds=round(elapsed, 2),
        sent=sent,
        completed=completed,
        achieved_per_s=round(completed / elapsed, 1),
        p50_ms=percentile_ms(histogram, 50),
        p90_ms=percentile_ms(histogram, 90),
        p99_ms=percentile_ms(histogram, 99),
        p999_ms=percentile_ms(histogram, 99.9),
        max_ms=round(histogram.get_max_value() / 1000, 2) if completed else 0.0,
        errors=tally.errors,
        statuses=dict(sorted(tally.statuses.items(), key=lambda kv: -kv[1])),
        server_cpu_percent=round(100 * server_s / elapsed, 1),
        postgres_cpu_percent=round(100 * postgres_s / elapsed, 1),
        client_cpu_percent=round(100 * client_s / elapsed, 1),
        server_rss_mb=memory_mb(meter.server_pids, "VmRSS"),
        server_cpu_ms_per_call=per_call_ms(server_s, completed),
        postgres_cpu_ms_per_call=per_call_ms(postgres_s, completed),
        refused=tally.refused,
        answered_seconds=round(max(0.0, tally.last_answer - start), 3),
        server_cpu_ms_per_call_by_worker=[per_call_ms(s, completed) for s in by_worker],
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

    async def capacity(
        self,
        mix: Mix,
        seconds: float,
        meter: CpuMeter,
        label: str,
        concurrency: int = SATURATION_CONCURRENCY,
    ) -> RateResult:
        """Saturation throughput of a mix: ``concurrency`` claims always in flight (closed
        loop, so no call outlives its deadline and none is wasted). Its achieved_per_s is the
        completed claims/s; its CPU per call is the cost at saturation; its latencies are from
        each call's own send (offered_per_s 0: closed loop)."""
        shots = mix.shots(max(1, int(seconds * SATURATION_SHOTS_PER_S)))
        methods = self._methods
        cursor = iter(range(len(shots)))
        histogram = latency_histogram()
        tally = Tally()
        sent = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal sent
            for index in cursor:
                began = time.perf_counter()
                if began >= deadline:
                    return
                path, payload = shots[index]
                sent += 1
                try:
                    await methods[index % len(methods)][path](payload, timeout=DEADLINE_S)
                except grpc.aio.AioRpcError as error:  # not completed: not counted
                    key = tally.failed(error)
                else:
                    tally.last_answer = time.perf_counter()
                    histogram.record_value(max(1, int((tally.last_answer - began) * 1e6)))
                    key = "ok"
                tally.statuses[key] = tally.statuses.get(key, 0) + 1

        meter.start()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        return measured(label, 0, elapsed, sent, histogram, tally, meter, began)

    async def paid_response(self, mix: Mix, attempts: int = 200) -> bytes:
        """One claim response as the gateway sends it, a paid one if any of ``attempts`` new
        claims is paid (else the last answer): the claim-shaped floor answers with its size."""
        last = b""
        for path, payload in mix.shots(attempts):
            if path != SUBMIT:
                continue
            last = await self._methods[0][path](payload, timeout=DEADLINE_S)
            if pb.ClaimResponse.FromString(last).transaction_response_status == "P":
                break
        return last

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
