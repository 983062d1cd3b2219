"""The report: bench-report.md (a table per step and the summary), bench-results.json and
bench-latency.png (latency versus offered rate: the gateway and the claim-shaped floor on the
same axes, with the bare floor's p99 and both capacities)."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rx_gateway.tools.bench.meter import TARGET_P99_MS, RateResult
from rx_gateway.tools.bench.summary import (
    CAPACITY_FLOOR,
    CAPACITY_HOT,
    FLOOR_CLAIM,
    FLOOR_COMMIT,
    FLOOR_ECHO,
    HOT,
    mean_capacity,
)


def write_report(out: Path, summary: dict[str, Any], results: list[RateResult]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# rx-gateway benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}; load generator, gateway and PostgreSQL share it.",
        f"Mode: {summary['mode']}, {summary['workers']} server process(es),"
        f" {summary['duration_s']} s in all. Latency from each claim's intended send time.",
        "CPU columns are % of one core: the server process(es) (the gateway's; for `floor:"
        " claim` and `capacity: floor claim`, the claim-shaped floor's), the benchmark's"
        " PostgreSQL (its postmaster and every process it started) and the load generator;"
        " CPU ms per call is the server's and PostgreSQL's CPU over the completed calls.",
        "`floor: claim` is the claim-shaped floor: a bare grpc.aio server like the gateway whose"
        " Submit decodes the same ClaimRequest and makes one asyncpg call inserting a claim's"
        " rows in one statement. `capacity: ...` rows are closed loop (32 calls in flight,"
        " latency from each call's own send).",
        "",
        "| mix | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms"
        " | errors | server CPU % | PostgreSQL CPU % | load generator CPU %"
        " | server CPU ms/call | PostgreSQL CPU ms/call | server RSS MB | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.mix, r.offered_per_s)):
        top = ", ".join(f"{k} {v}" for k, v in list(r.statuses.items())[:5])
        offered = r.offered_per_s or "closed"
        lines.append(
            f"| {r.mix} | {offered} | {r.achieved_per_s} | {r.p50_ms} | {r.p90_ms}"
            f" | {r.p99_ms} | {r.p999_ms} | {r.max_ms} | {r.errors} | {r.server_cpu_percent}"
            f" | {r.postgres_cpu_percent} | {r.client_cpu_percent} | {r.server_cpu_ms_per_call}"
            f" | {r.postgres_cpu_ms_per_call} | {r.server_rss_mb} | {top} |"
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

    figure, axes = plt.subplots(figsize=(8, 6))
    # one colour per percentile: the gateway solid with dots, the claim floor dashed with squares
    colours = ("tab:blue", "tab:orange", "tab:red")
    for mix, name, style in ((HOT, "gateway", "-"), (FLOOR_CLAIM, "claim floor", "--")):
        steps = sorted((r for r in results if r.mix == mix), key=lambda r: r.offered_per_s)
        if not steps:
            continue
        for (attribute, label), colour in zip(
            (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9")), colours, strict=True
        ):
            axes.plot(
                [r.offered_per_s for r in steps],
                [max(0.1, getattr(r, attribute)) for r in steps],
                marker="o" if mix == HOT else "s",
                markersize=4,
                linestyle=style,
                color=colour,
                label=f"{name} {label}",
            )
    for name, marker in ((FLOOR_ECHO, "x"), (FLOOR_COMMIT, "+")):
        bare = sorted((r for r in results if r.mix == name), key=lambda r: r.offered_per_s)
        if bare:
            axes.scatter(
                [r.offered_per_s for r in bare],
                [max(0.1, r.p99_ms) for r in bare],
                marker=marker,
                color="black",
                label=f"bare {name.removeprefix('floor: ')} p99",
            )
    for mix, name, style in ((CAPACITY_HOT, "gateway", ":"), (CAPACITY_FLOOR, "claim floor", "-.")):
        capacity = mean_capacity(results, mix)
        if capacity:
            axes.axvline(
                capacity,
                color="dimgrey",
                linestyle=style,
                label=f"{name} capacity {capacity:.0f}/s (closed loop)",
            )
    axes.axhline(TARGET_P99_MS, color="grey", linestyle="--", label="10 ms target")
    axes.set_yscale("log")
    axes.set_xlabel("claims/s offered (open loop)")
    axes.set_ylabel("latency from intended send (ms)")
    axes.set_title("rx-gateway against its claim-shaped floor: latency versus offered rate")
    # below the axes: the curves fill the plot
    axes.legend(fontsize="x-small", ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
