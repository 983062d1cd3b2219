"""The final JSON line's keys, from what the run measured (pure arithmetic, no I/O).

The runs are RateResults named by their mix: "hot" (the gateway's open-loop steps), "floor:
claim" (the claim-shaped floor's, the same rates), "floor: echo" and "floor: commit" (the bare
stack, open loop), and the closed-loop saturation runs "capacity: hot", "capacity: no-hot" and
"capacity: floor claim" (offered_per_s 0), and "overload: hot" (the gateway offered twice its
hot capacity, open loop). With HAProxy in front (`--front haproxy`): "capacity: front" (closed loop
through it, as many in flight as it lets into the gateway) and "overload: front" (twice the
gateway's own hot capacity offered to it, open loop).

The gateway's Prometheus metrics are scraped before and after each of its runs (``scrape``'s
samples, keyed ``name{label="value",...}``): the difference of two scrapes is what the run
added to each counter and histogram, and the batch sizes, pool waits and refusals of a run come
from it (histogram means from _sum/_count, quantiles from the cumulative _bucket counts)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rx_gateway.tools.bench.meter import RateResult

HOT = "hot"
FLOOR_CLAIM = "floor: claim"
FLOOR_ECHO = "floor: echo"
FLOOR_COMMIT = "floor: commit"
CAPACITY_HOT = "capacity: hot"
CAPACITY_NO_HOT = "capacity: no-hot"
CAPACITY_FLOOR = "capacity: floor claim"
OVERLOAD = "overload: hot"
CAPACITY_FRONT = "capacity: front"
OVERLOAD_FRONT = "overload: front"
OVERLOAD_FACTOR = 2  # the overload run offers this many times the hot capacity

BATCH_SIZE = "rxgw_db_batch_size"
ACQUIRE_SECONDS = "rxgw_db_acquire_seconds"
REFUSED_TOTAL = "rxgw_refused_requests_total"
RPC_SECONDS = "grpc_server_handling_seconds"
_SAMPLE_KEY = re.compile(r"^([^{]+)(?:\{(.*)\})?$")
_ESCAPE = re.compile(r"\\(.)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator to 3 places; 0.0 when the denominator is 0."""
    return round(numerator / denominator, 3) if denominator else 0.0


def best_rate(results: list[RateResult], mix: str) -> float:
    """The highest achieved rate among ``mix``'s steps that held p99 <= 10 ms with no errors."""
    return max((r.achieved_per_s for r in results if r.mix == mix and r.holds_target), default=0.0)


def capacity_runs(results: list[RateResult], mix: str) -> list[float]:
    return [r.achieved_per_s for r in results if r.mix == mix]


def mean_capacity(results: list[RateResult], mix: str) -> float:
    runs = capacity_runs(results, mix)
    return round(sum(runs) / len(runs), 1) if runs else 0.0


def cpu_ms_per_call(results: list[RateResult], mix: str, attribute: str) -> float:
    """CPU ms per completed call over every run of ``mix``: each run's per-call figure
    weighted by its completed calls (the total CPU over the total calls)."""
    runs = [r for r in results if r.mix == mix]
    calls = sum(r.completed for r in runs)
    if not calls:
        return 0.0
    total: float = sum(getattr(r, attribute) * r.completed for r in runs)
    return round(total / calls, 3)


def floor_keys(results: list[RateResult]) -> dict[str, float]:
    """The gateway against the claim-shaped floor, measured the same way in the same run."""
    gateway_capacity = mean_capacity(results, CAPACITY_HOT)
    floor_capacity = mean_capacity(results, CAPACITY_FLOOR)
    gateway_best = best_rate(results, HOT)
    floor_best = best_rate(results, FLOOR_CLAIM)
    gateway_cpu = cpu_ms_per_call(results, CAPACITY_HOT, "server_cpu_ms_per_call")
    gateway_pg = cpu_ms_per_call(results, CAPACITY_HOT, "postgres_cpu_ms_per_call")
    floor_cpu = cpu_ms_per_call(results, CAPACITY_FLOOR, "server_cpu_ms_per_call")
    floor_pg = cpu_ms_per_call(results, CAPACITY_FLOOR, "postgres_cpu_ms_per_call")
    return {
        "floor_claim_capacity_per_s": floor_capacity,
        "floor_claim_per_s_at_p99_10ms": floor_best,
        "capacity_ratio": ratio(gateway_capacity, floor_capacity),
        "p99_rate_ratio": ratio(gateway_best, floor_best),
        "cpu_ms_per_claim_gateway": gateway_cpu,
        "cpu_ms_per_claim_postgres": gateway_pg,
        "cpu_ms_per_call_floor_server": floor_cpu,
        "cpu_ms_per_call_floor_postgres": floor_pg,
        "cpu_ratio_gateway": ratio(gateway_cpu, floor_cpu),
        "cpu_ratio_postgres": ratio(gateway_pg, floor_pg),
    }


def cpu_ms_per_call_by_worker(results: list[RateResult], mix: str) -> list[float]:
    """Each worker's CPU ms per completed call over every run of ``mix`` (weighted by the
    runs' completed calls, as cpu_ms_per_call), in the order of the workers."""
    runs = [r for r in results if r.mix == mix and r.server_cpu_ms_per_call_by_worker]
    calls = sum(r.completed for r in runs)
    if not calls:
        return []
    workers = min(len(r.server_cpu_ms_per_call_by_worker) for r in runs)
    return [
        round(sum(r.server_cpu_ms_per_call_by_worker[i] * r.completed for r in runs) / calls, 3)
        for i in range(workers)
    ]


def overload_rate(hot_capacity: float) -> int:
    """The overload run's offered rate: OVERLOAD_FACTOR times the hot capacity (at least 1)."""
    return max(1, round(OVERLOAD_FACTOR * hot_capacity))


def overload_keys(
    results: list[RateResult], mix: str = OVERLOAD, prefix: str = "overload"
) -> dict[str, float]:
    """The overload run (``mix``) against the hot capacity, its keys named ``prefix``_...
    Goodput: the admitted calls answered (not refused with RESOURCE_EXHAUSTED, not errors)
    per second, over the longer of the send window (sent / offered) and the time to the last
    admitted answer, so that neither the last calls' answers nor the deadline of a call that
    failed stretch it. The p99 is the admitted calls' (a refused call's latency is not in the
    histogram)."""
    run = next((r for r in reversed(results) if r.mix == mix), None)
    if run is None:
        run = RateResult(mix, 0, 0.0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)  # all zeros
    send_window = run.sent / run.offered_per_s if run.offered_per_s else 0.0
    window = max(send_window, run.answered_seconds)
    goodput = round(run.completed / window, 1) if window else 0.0
    return {
        f"{prefix}_offered_per_s": run.offered_per_s,
        f"{prefix}_goodput_per_s": goodput,
        f"{prefix}_goodput_ratio": ratio(goodput, mean_capacity(results, CAPACITY_HOT)),
        f"{prefix}_p99_admitted_ms": run.p99_ms,
        f"{prefix}_refused": run.refused,
        f"{prefix}_errors": run.errors,
        # the admitted claims' p99 inside the handler (0.0: not scraped)
        f"{prefix}_server_p99_ms": run.server_p99_ms or 0.0,
        f"{prefix}_send_lag_p99_ms": run.send_lag_p99_ms,
    }


def front_keys(results: list[RateResult], inflight: int, queue_ms: int) -> dict[str, float]:
    """HAProxy in front of the gateway (deploy/haproxy/haproxy.cfg, at most ``inflight`` calls
    in the gateway, refused after ``queue_ms`` of waiting): its closed-loop capacity, the
    overload run's keys (goodput against the gateway's own hot capacity, as for the gateway
    alone, and against the capacity through the front), and HAProxy's own CPU per admitted
    call in the overload run (its refusals included)."""
    keys = overload_keys(results, OVERLOAD_FRONT, "overload_front")
    capacity = mean_capacity(results, CAPACITY_FRONT)
    run = next((r for r in reversed(results) if r.mix == OVERLOAD_FRONT), None)
    by_process = run.server_cpu_ms_per_call_by_worker if run is not None else []
    return {
        "front_inflight": inflight,
        "front_queue_ms": queue_ms,
        "front_capacity_per_s": capacity,
        **keys,
        "overload_front_goodput_ratio_to_front_capacity": ratio(
            keys["overload_front_goodput_per_s"], capacity
        ),
        "cpu_ms_per_admitted_call_front": by_process[0] if by_process else 0.0,
    }


# --- Scrapes of the gateway's metrics ----------------------------------------------------------


def parse_sample_key(key: str) -> tuple[str, dict[str, str]]:
    """``name{a="1",b="2"}`` (as ``scrape`` keys a sample) into its name and labels."""
    match = _SAMPLE_KEY.match(key)
    if match is None:
        return key, {}
    name, labels = match.group(1), match.group(2) or ""
    return name, {k: _ESCAPE.sub(_unescape, v) for k, v in _LABEL.findall(labels)}


def _unescape(match: re.Match[str]) -> str:
    return "\n" if match.group(1) == "n" else match.group(1)


def scrape_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What a run added to each sample: after - before (a series new in ``after`` from 0).
    Meaningful for counters and histograms, which only grow, not for gauges."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def add_deltas(deltas: Iterable[dict[str, float]]) -> dict[str, float]:
    """Several runs' deltas, added up per sample."""
    total: dict[str, float] = {}
    for delta in deltas:
        for key, value in delta.items():
            total[key] = total.get(key, 0.0) + value
    return total


def _matching(
    delta: dict[str, float], name: str, labels: dict[str, str]
) -> Iterable[tuple[dict[str, str], float]]:
    for key, value in delta.items():
        sample, sample_labels = parse_sample_key(key)
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            yield sample_labels, value


def histogram_mean(delta: dict[str, float], name: str, **labels: str) -> float | None:
    """The mean of a histogram's observations in ``delta`` (_sum / _count); None if none."""
    count = sum(v for _, v in _matching(delta, f"{name}_count", labels))
    total = sum(v for _, v in _matching(delta, f"{name}_sum", labels))
    return total / count if count > 0 else None


def histogram_buckets(
    delta: dict[str, float], name: str, **labels: str
) -> list[tuple[float, float]]:
    """A histogram's cumulative buckets in ``delta``: (upper bound, count), bounds ascending,
    the last +Inf (series of other label values than ``labels`` added together)."""
    counts: dict[float, float] = {}
    for sample_labels, value in _matching(delta, f"{name}_bucket", labels):
        bound = float(sample_labels.get("le", "nan"))
        if not math.isnan(bound):
            counts[bound] = counts.get(bound, 0.0) + value
    return sorted(counts.items())


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``quantile`` (0-1) of cumulative buckets, estimated as Prometheus's
    histogram_quantile does: linear inside the bucket the rank falls in (from 0 below the first
    bound); in the +Inf bucket, the highest finite bound. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = quantile * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class StepMetrics:
    """A run's batch sizes, pool waits and refusals, from the difference of two scrapes (the
    RateResult fields of the same names). None: nothing observed."""

    batch_size_read_mean: float | None
    batch_size_write_mean: float | None
    pool_wait_ms_mean: float | None
    pool_wait_ms_p99: float | None
    server_refused: int
    server_p99_ms: float | None


def _rounded(value: float | None, scale: float = 1.0, places: int = 2) -> float | None:
    return None if value is None else round(value * scale, places)


def step_metrics(delta: dict[str, float]) -> StepMetrics:
    wait_p99 = histogram_quantile(0.99, histogram_buckets(delta, ACQUIRE_SECONDS))
    return StepMetrics(
        batch_size_read_mean=_rounded(histogram_mean(delta, BATCH_SIZE, kind="read")),
        batch_size_write_mean=_rounded(histogram_mean(delta, BATCH_SIZE, kind="write")),
        pool_wait_ms_mean=_rounded(histogram_mean(delta, ACQUIRE_SECONDS), 1000, 3),
        pool_wait_ms_p99=_rounded(wait_p99, 1000, 3),
        server_refused=round(delta.get(REFUSED_TOTAL, 0.0)),
        server_p99_ms=_rounded(
            histogram_quantile(
                0.99, histogram_buckets(delta, RPC_SECONDS, grpc_method="Submit", grpc_code="OK")
            ),
            1000,
            1,
        ),
    )


def metrics_keys(capacity_delta: dict[str, float]) -> dict[str, float]:
    """The final line's metrics at saturation: ``capacity_delta`` is what the hot capacity
    runs added to the gateway's metrics, summed (0.0: not scraped or nothing observed)."""
    at_capacity = step_metrics(capacity_delta)
    return {
        "batch_size_read_mean_at_capacity": at_capacity.batch_size_read_mean or 0.0,
        "batch_size_write_mean_at_capacity": at_capacity.batch_size_write_mean or 0.0,
        "pool_wait_ms_p99_at_capacity": at_capacity.pool_wait_ms_p99 or 0.0,
    }


def summarize(
    results: list[RateResult],
    *,
    echo: float,
    commit: float,
    at_1000: RateResult,
    peak_memory_mb: float,
    workers: int,
    quick: bool,
    capacity_metrics: dict[str, float] | None = None,
    front: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The final JSON line's keys (duration_s is added last). ``capacity_metrics``: what the
    hot capacity runs added to the gateway's metrics (scrape deltas, summed); ``front``: the
    HAProxy front's calls in flight and queue wait (ms), when it ran (its keys only then)."""
    hot_capacity = mean_capacity(results, CAPACITY_HOT)
    cold_capacity = mean_capacity(results, CAPACITY_NO_HOT)
    best = best_rate(results, HOT)
    # less sensitive to the machine's own stalls than p99 (see the floor's p99 at the same rates)
    p90_good = [r for r in results if r.mix == HOT and r.holds_p90]
    floor = min(echo, commit)
    return {
        "claims_per_s_at_p99_10ms": best,
        "claims_per_s_at_p90_10ms": max((r.achieved_per_s for r in p90_good), default=0.0),
        "p99_ms_at_1000": at_1000.p99_ms,
        # every failed call, as before refusals were told apart; and the refusals alone
        "errors_at_1000": at_1000.errors + at_1000.refused,
        "refused_at_1000": at_1000.refused,
        "floor_echo_rps": echo,
        "floor_commit_tps": commit,
        "ratio_to_floor": ratio(best, floor),
        "errors": sum(
            r.errors + r.refused for r in results if r.mix == HOT and r.offered_per_s <= best
        ),
        "hot_capacity_per_s": hot_capacity,
        "no_hot_capacity_per_s": cold_capacity,
        "hot_vs_no_hot": ratio(hot_capacity, cold_capacity),
        "capacity_runs_per_s": {
            "hot": capacity_runs(results, CAPACITY_HOT),
            "no-hot": capacity_runs(results, CAPACITY_NO_HOT),
            "floor-claim": capacity_runs(results, CAPACITY_FLOOR),
        },
        "floor_p99_ms": {
            f"{r.mix.removeprefix('floor: ')}@{r.offered_per_s}": r.p99_ms
            for r in results
            if r.mix in (FLOOR_ECHO, FLOOR_COMMIT)
        },
        "server_peak_memory_mb": peak_memory_mb,
        "workers": workers,
        "mode": "quick" if quick else "full",
        **floor_keys(results),
        "cpu_ms_per_claim_by_worker": cpu_ms_per_call_by_worker(results, CAPACITY_HOT),
        **overload_keys(results),
        **(front_keys(results, *front) if front is not None else {}),
        **metrics_keys(capacity_metrics or {}),
    }
