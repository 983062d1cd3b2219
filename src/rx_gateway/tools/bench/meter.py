"""The meter: latency in HDR histograms, the CPU of the gateway, of PostgreSQL and of the
load generator (from /proc and getrusage), the memory of processes, and what one step
measured (RateResult)."""

from __future__ import annotations

import contextlib
import os
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rx_gateway.tools.bench.stack import process_tree

TARGET_P99_MS = 10.0


@dataclass
class RateResult:
    mix: str
    offered_per_s: int
    seconds: float
    sent: int
    completed: int
    achieved_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    server_cpu_percent: float = 0.0  # gateway process(es), % of one core
    postgres_cpu_percent: float = 0.0  # the benchmark's PostgreSQL cluster, % of one core
    client_cpu_percent: float = 0.0  # the load generator, % of one core
    server_rss_mb: float = 0.0  # the gateway process(es) resident memory after the step
    # CPU per completed call, in ms: the server process(es) (the gateway, or the claim-shaped
    # floor's server for its rows) and the benchmark's PostgreSQL
    server_cpu_ms_per_call: float = 0.0
    postgres_cpu_ms_per_call: float = 0.0
    # calls answered RESOURCE_EXHAUSTED (refused by admission control: not in ``errors``, and
    # their latency is not in the histogram, which holds the admitted calls' only)
    refused: int = 0
    # from the first intended send to the last admitted answer (goodput's denominator)
    answered_seconds: float = 0.0
    # each server process's CPU per completed call (every call, whichever process served it):
    # the workers of `serve --workers N` (or the one gateway process), the floor's processes
    server_cpu_ms_per_call_by_worker: list[float] = field(default_factory=list)
    # from the gateway's Prometheus metrics scraped before and after the run (None: not
    # scraped, as for the floors): mean claims per read and per write round trip, the pool
    # acquire wait (mean, and p99 estimated from the histogram's buckets), the calls the
    # gateway counted as refused, and the p99 of the paid-or-rejected Submits' time inside the
    # gateway's handler (from its arrival at the handler to its answer: what the client's
    # latency adds on top of it waited before the handler, in grpc's, the loop's, the kernel's
    # or the load generator's queues)
    batch_size_read_mean: float | None = None
    batch_size_write_mean: float | None = None
    pool_wait_ms_mean: float | None = None
    pool_wait_ms_p99: float | None = None
    server_refused: int | None = None
    server_p99_ms: float | None = None
    # open loop: the p99 of how late the load generator itself began its calls (from each
    # call's intended time to when the call's task began, before the client's own grpc work):
    # latency the generator's event loop adds, which no server can remove (0.0 closed loop)
    send_lag_p99_ms: float = 0.0

    @property
    def holds_target(self) -> bool:
        """p99 <= 10 ms with no errors and nothing refused."""
        return self.errors == 0 and self.refused == 0 and self.p99_ms <= TARGET_P99_MS

    @property
    def holds_p90(self) -> bool:
        """p90 <= 10 ms without errors or refusals: less sensitive than p99 to the machine's
        own stalls (the floor's p99 at the same rates shows those)."""
        return self.errors == 0 and self.refused == 0 and self.p90_ms <= TARGET_P99_MS


def latency_histogram() -> Any:
    """An HDR histogram of latencies in microseconds (needs rx-gateway[bench])."""
    from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]  # noqa: PLC0415

    return HdrHistogram(1, 120_000_000, 3)  # microseconds, up to 2 minutes, 3 digits


def _proc_cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds of the gateway, the benchmark's PostgreSQL and this process between start
    and stop; and of each of ``workers`` (the server processes that serve calls: the workers of
    `serve --workers N`, not their parent) separately."""

    server_pids: list[int]
    postmaster: int | None = None
    began: tuple[float, float, float] = (0.0, 0.0, 0.0)
    workers: list[int] = field(default_factory=list)
    workers_began: list[float] = field(default_factory=list)

    def _now(self) -> tuple[float, float, float]:
        return (
            sum(_proc_cpu_seconds(p) for p in self.server_pids),
            sum(_proc_cpu_seconds(p) for p in process_tree(self.postmaster)),
            _own_cpu_seconds(),
        )

    def start(self) -> None:
        self.began = self._now()
        self.workers_began = [_proc_cpu_seconds(p) for p in self.workers]

    def worker_seconds(self) -> list[float]:
        """CPU seconds of each worker since start, in the order of ``workers``."""
        now = [_proc_cpu_seconds(p) for p in self.workers]
        return [b - a for a, b in zip(self.workers_began, now, strict=True)]

    def seconds(self) -> tuple[float, float, float]:
        """CPU seconds since start: the server(s), PostgreSQL, this process."""
        now = self._now()
        server, postgres, client = (b - a for a, b in zip(self.began, now, strict=True))
        return server, postgres, client

    def percent(self, seconds: float) -> tuple[float, float, float]:
        server, postgres, client = (round(100 * c / seconds, 1) for c in self.seconds())
        return server, postgres, client


def per_call_ms(cpu_seconds: float, calls: int) -> float:
    """CPU ms per completed call (0 when none completed)."""
    return round(1000 * cpu_seconds / calls, 3) if calls else 0.0


def memory_mb(pids: list[int], status_key: str = "VmHWM") -> float:
    """Summed over the processes: VmHWM (peak resident) or VmRSS (resident now)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{status_key}:"):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


def percentile_ms(histogram: Any, percentile: float) -> float:
    return round(float(histogram.get_value_at_percentile(percentile)) / 1000, 2)
