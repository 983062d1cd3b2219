"""`rx-gateway bench` runs end to end (a tiny configuration): real server process, real
database, the bare floor and the claim-shaped floor, the overload run, the gateway's metrics
scraped around each of its runs, the report, the plot and the final JSON line. Speed itself is
measured by the benchmark, not asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from rx_gateway.tools.bench.stack import front_problem

REQUIRED_KEYS = {
    "claims_per_s_at_p99_10ms",
    "p99_ms_at_1000",
    "floor_echo_rps",
    "floor_commit_tps",
    "ratio_to_floor",
    "errors",
    "hot_vs_no_hot",
    "floor_p99_ms",
    "server_peak_memory_mb",
}
FLOOR_KEYS = {
    "floor_claim_capacity_per_s",
    "floor_claim_per_s_at_p99_10ms",
    "capacity_ratio",
    "p99_rate_ratio",
    "cpu_ms_per_claim_gateway",
    "cpu_ms_per_claim_postgres",
    "cpu_ms_per_call_floor_server",
    "cpu_ms_per_call_floor_postgres",
    "cpu_ratio_gateway",
    "cpu_ratio_postgres",
}
OVERLOAD_KEYS = {
    "overload_offered_per_s",
    "overload_goodput_per_s",
    "overload_goodput_ratio",
    "overload_p99_admitted_ms",
    "overload_refused",
    "overload_errors",
    "overload_server_p99_ms",
    "overload_send_lag_p99_ms",
}
FRONT_KEYS = {
    "front_inflight",
    "front_queue_ms",
    "front_capacity_per_s",
    *(key.replace("overload_", "overload_front_") for key in OVERLOAD_KEYS),
    "overload_front_goodput_ratio_to_front_capacity",
    "cpu_ms_per_admitted_call_front",
}
# HAProxy in front too, where HAProxy 2.4+ is installed (.ci/run installs it)
FRONT = front_problem() is None
METRICS_KEYS = {
    "batch_size_read_mean_at_capacity",
    "batch_size_write_mean_at_capacity",
    "pool_wait_ms_p99_at_capacity",
    "cpu_ms_per_claim_by_worker",
}


def quotient(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else 0.0


async def test_bench_writes_report_plot_and_final_json_line(
    server_url: str, tmp_path: Path
) -> None:
    env = dict(os.environ, RX_GATEWAY_LOG_LEVEL="WARNING")
    if "RX_GATEWAY_DATABASE_URL" not in env:
        env["RX_GATEWAY_DATABASE_URL"] = server_url
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rx_gateway",
            "bench",
            "--rates",
            "20",
            "--seconds",
            "1",
            "--members",
            "300",
            "--out",
            str(tmp_path),
            *(["--front", "haproxy", "--front-inflight", "8"] if FRONT else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary.keys() >= REQUIRED_KEYS | FLOOR_KEYS | OVERLOAD_KEYS | METRICS_KEYS
    if FRONT:
        assert summary.keys() >= FRONT_KEYS
        assert (summary["front_inflight"], summary["front_queue_ms"]) == (8, 20)
        assert summary["front_capacity_per_s"] > 0
        # the same overload as the gateway's own, through HAProxy
        assert summary["overload_front_offered_per_s"] == summary["overload_offered_per_s"]
        assert summary["overload_front_goodput_per_s"] > 0
        assert summary["overload_front_goodput_ratio"] == quotient(
            summary["overload_front_goodput_per_s"], summary["hot_capacity_per_s"]
        )
        assert summary["overload_front_goodput_ratio_to_front_capacity"] == quotient(
            summary["overload_front_goodput_per_s"], summary["front_capacity_per_s"]
        )
        assert summary["overload_front_errors"] == 0
        assert summary["cpu_ms_per_admitted_call_front"] > 0
    else:
        assert not summary.keys() & FRONT_KEYS
    assert summary["floor_echo_rps"] > 0
    assert summary["floor_commit_tps"] > 0
    # the floor open loop at the offered rate and at 1,000/s, each for gRPC and the database
    assert set(summary["floor_p99_ms"]) == {"echo@20", "commit@20", "echo@1000", "commit@1000"}
    assert summary["hot_capacity_per_s"] > 0
    assert summary["no_hot_capacity_per_s"] > 0
    # the claim-shaped floor: its capacity, CPU per call at saturation, and the quotients
    assert summary["floor_claim_capacity_per_s"] > 0
    assert summary["capacity_ratio"] == quotient(
        summary["hot_capacity_per_s"], summary["floor_claim_capacity_per_s"]
    )
    assert summary["p99_rate_ratio"] == quotient(
        summary["claims_per_s_at_p99_10ms"], summary["floor_claim_per_s_at_p99_10ms"]
    )
    for side in ("gateway", "postgres"):
        gateway = summary[f"cpu_ms_per_claim_{side}"]
        floor = summary[f"cpu_ms_per_call_floor_{'server' if side == 'gateway' else side}"]
        assert gateway > 0
        assert floor > 0
        assert summary[f"cpu_ratio_{side}"] == quotient(gateway, floor)
    assert len(summary["capacity_runs_per_s"]["floor-claim"]) == 2
    # overload: twice the hot capacity offered; goodput of the admitted claims against it
    assert summary["overload_offered_per_s"] == max(1, round(2 * summary["hot_capacity_per_s"]))
    assert summary["overload_goodput_per_s"] > 0
    assert summary["overload_goodput_ratio"] == quotient(
        summary["overload_goodput_per_s"], summary["hot_capacity_per_s"]
    )
    assert summary["overload_p99_admitted_ms"] > 0
    assert summary["overload_refused"] >= 0
    assert summary["overload_errors"] >= 0
    # the admitted claims' p99 inside the handler, from the gateway's own histogram
    assert 0 < summary["overload_server_p99_ms"] <= 5_000
    # how late the generator itself sent its calls (p99 over every call, refused ones too)
    assert 0 <= summary["overload_send_lag_p99_ms"] < 2_000
    # the gateway's metrics at saturation: claims per round trip, the pool's wait (None when no
    # call acquired: the batches keep their connections, only calls that do not batch acquire)
    assert summary["batch_size_read_mean_at_capacity"] >= 1
    assert summary["batch_size_write_mean_at_capacity"] >= 1
    assert summary["pool_wait_ms_p99_at_capacity"] is None or (
        summary["pool_wait_ms_p99_at_capacity"] >= 0
    )
    # one worker: its CPU per claim is the gateway's (read from the same process a moment
    # apart, each rounded: 5.0 against 4.975 was seen, so not an exact comparison)
    (worker,) = summary["cpu_ms_per_claim_by_worker"]
    assert worker > 0
    assert worker == pytest.approx(summary["cpu_ms_per_claim_gateway"], rel=0.03)
    rows = json.loads((tmp_path / "bench-results.json").read_text())["rates"]
    gateway_rows = [r for r in rows if r["mix"] in {"hot", "capacity: hot", "overload: hot"}]
    assert {r["mix"] for r in gateway_rows} == {"hot", "capacity: hot", "overload: hot"}
    for row in gateway_rows:
        assert row["batch_size_write_mean"] >= 1, row
        assert row["pool_wait_ms_p99"] is None or row["pool_wait_ms_p99"] >= 0, row
        assert row["server_p99_ms"] is not None and row["server_p99_ms"] > 0, row
        assert row["server_refused"] >= 0, row
        assert len(row["server_cpu_ms_per_call_by_worker"]) == 1
    assert all(r["server_refused"] is None for r in rows if r["mix"].startswith("floor"))
    report = (tmp_path / "bench-report.md").read_text()
    assert "| hot | 20 |" in report
    assert "| floor: commit | 1000 |" in report
    assert "| floor: claim | 20 |" in report
    assert "| capacity: floor claim | closed |" in report
    assert f"| overload: hot | {summary['overload_offered_per_s']} |" in report
    assert "| read batch mean | write batch mean | pool wait mean ms | pool wait p99 ms |" in report
    if FRONT:
        assert "| capacity: front | closed |" in report
        assert f"| overload: front | {summary['overload_offered_per_s']} |" in report
        assert "## HAProxy in front" in report
    assert (tmp_path / "bench-latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the bench's own database on the configured server is dropped afterwards
    conn = await asyncpg.connect(env["RX_GATEWAY_DATABASE_URL"])
    try:
        left = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'rxgw_bench%'")
    finally:
        await conn.close()
    assert left == []
