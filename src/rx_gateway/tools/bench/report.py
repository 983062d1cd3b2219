"""The report: bench-report.md (a table per step and the summary), bench-results.json and
bench-latency.png (latency versus throughput, with the floor)."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rx_gateway.tools.bench.meter import TARGET_P99_MS, RateResult


def write_report(out: Path, summary: dict[str, Any], results: list[RateResult]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# rx-gateway benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}; load generator, gateway and PostgreSQL share it.",
        f"Mode: {summary['mode']}, {summary['workers']} server process(es),"
        f" {summary['duration_s']} s in all. Latency from each claim's intended send time.",
        "CPU columns are % of one core: the gateway process(es), the benchmark's PostgreSQL"
        " (its postmaster and every process it started) and the load generator.",
        "",
        "| mix | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms"
        " | errors | gateway CPU % | PostgreSQL CPU % | load generator CPU % | gateway RSS MB"
        " | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.mix, r.offered_per_s)):
        top = ", ".join(f"{k} {v}" for k, v in list(r.statuses.items())[:5])
        lines.append(
            f"| {r.mix} | {r.offered_per_s} | {r.achieved_per_s} | {r.p50_ms} | {r.p90_ms}"
            f" | {r.p99_ms} | {r.p999_ms} | {r.max_ms} | {r.errors} | {r.server_cpu_percent}"
            f" | {r.postgres_cpu_percent} | {r.client_cpu_percent} | {r.server_rss_mb} | {top} |"
        )
    lines += ["", "```json", json.dumps(summary, indent=2), "```", ""]
    (out / "bench-report.md").write_text("\n".join(lines))
    (out / "bench-results.json").write_text(
        json.dumps({"summary": summary, "rates": [asdict(r) for r in results]}, indent=2)
    )
    _plot(out / "bench-latency.png", results)


def _plot(path: Path, results: list[RateResult]) -> None:
    import matplotlib as mpl  # noqa: PLC0415 - optional: rx-gateway[bench]

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    hot = sorted((r for r in results if r.mix == "hot"), key=lambda r: r.offered_per_s)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for attribute, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")):
        axes.plot(
            [r.achieved_per_s for r in hot],
            [max(0.1, getattr(r, attribute)) for r in hot],
            marker="o",
            label=f"claims {label}",
        )
    for name, marker in (("floor: echo", "x"), ("floor: commit", "+")):
        floor = sorted((r for r in results if r.mix == name), key=lambda r: r.offered_per_s)
        if floor:
            axes.scatter(
                [r.achieved_per_s for r in floor],
                [max(0.1, r.p99_ms) for r in floor],
                marker=marker,
                color="black",
                label=f"{name.removeprefix('floor: ')} floor p99",
            )
    axes.axhline(TARGET_P99_MS, color="grey", linestyle="--", label="10 ms target")
    axes.set_yscale("log")
    axes.set_xlabel("calls/s achieved (open loop)")
    axes.set_ylabel("latency from intended send (ms)")
    axes.set_title("rx-gateway: latency versus throughput")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
