"""The final JSON line's keys, from what the run measured (pure arithmetic, no I/O).

The runs are RateResults named by their mix: "hot" (the gateway's open-loop steps), "floor:
claim" (the claim-shaped floor's, the same rates), "floor: echo" and "floor: commit" (the bare
stack, open loop), and the closed-loop saturation runs "capacity: hot", "capacity: no-hot" and
"capacity: floor claim" (offered_per_s 0)."""

from __future__ import annotations

from typing import Any

from rx_gateway.tools.bench.meter import RateResult

HOT = "hot"
FLOOR_CLAIM = "floor: claim"
FLOOR_ECHO = "floor: echo"
FLOOR_COMMIT = "floor: commit"
CAPACITY_HOT = "capacity: hot"
CAPACITY_NO_HOT = "capacity: no-hot"
CAPACITY_FLOOR = "capacity: floor claim"


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


def summarize(
    results: list[RateResult],
    *,
    echo: float,
    commit: float,
    at_1000: RateResult,
    peak_memory_mb: float,
    workers: int,
    quick: bool,
) -> dict[str, Any]:
    """The final JSON line's keys (duration_s is added last)."""
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
        "errors_at_1000": at_1000.errors,
        "floor_echo_rps": echo,
        "floor_commit_tps": commit,
        "ratio_to_floor": ratio(best, floor),
        "errors": sum(r.errors for r in results if r.mix == HOT and r.offered_per_s <= best),
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
    }
