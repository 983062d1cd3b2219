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
    OVERLOAD,
    OVERLOAD_FRONT,
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
        " latency from each call's own send). `overload: hot` is the gateway offered twice its"
        " hot capacity, open loop. `refused` counts calls answered RESOURCE_EXHAUSTED (admission"
        " control): they are not errors, and only admitted calls are in the latencies. CPU ms"
        " per call by worker: each server process's CPU over all the completed calls (the"
        " workers of `--workers N`, not their parent): they add up to the server's.",
        "",
        "| mix | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms"
        " | errors | refused | server CPU % | PostgreSQL CPU % | load generator CPU %"
        " | server CPU ms/call | PostgreSQL CPU ms/call | server CPU ms/call by worker"
        " | server RSS MB | statuses |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(results, key=lambda r: (r.mix, r.offered_per_s))
    for r in ordered:
        top = ", ".join(f"{k} {v}" for k, v in list(r.statuses.items())[:5])
        offered = r.offered_per_s or "closed"
        by_worker = " / ".join(str(ms) for ms in r.server_cpu_ms_per_call_by_worker) or "-"
        lines.append(
            f"| {r.mix} | {offered} | {r.achieved_per_s} | {r.p50_ms} | {r.p90_ms}"
            f" | {r.p99_ms} | {r.p999_ms} | {r.max_ms} | {r.errors} | {r.refused}"
            f" | {r.server_cpu_percent} | {r.postgres_cpu_percent} | {r.client_cpu_percent}"
            f" | {r.server_cpu_ms_per_call} | {r.postgres_cpu_ms_per_call} | {by_worker}"
            f" | {r.server_rss_mb} | {top} |"
        )
    lines += _metrics_table(ordered)
    lines += _overload_lines(summary)
    lines += _front_lines(summary)
    lines += ["", "```json", json.dumps(summary, indent=2), "```", ""]
    (out / "bench-report.md").write_text("\n".join(lines))
    (out / "bench-results.json").write_text(
        json.dumps({"summary": summary, "rates": [asdict(r) for r in results]}, indent=2)
    )
    _plot(out / "bench-latency.png", results)


def _shown(value: float | None) -> str:
    return "-" if value is None else str(value)


def _metrics_table(results: list[RateResult]) -> list[str]:
    """The gateway's runs beside what its metrics said (scraped before and after each run)."""
    scraped = [r for r in results if r.server_refused is not None]
    if not scraped:
        return []
    lines = [
        "",
        "## What the gateway's metrics said, run by run",
        "",
        "Scraped from the gateway's Prometheus listener before and after each run: claims per"
        " database round trip (mean of `rxgw_db_batch_size` by kind), the wait for a pooled"
        " connection (`rxgw_db_acquire_seconds`: mean, and p99 estimated from the histogram's"
        " buckets), the calls the gateway refused (`rxgw_refused_requests_total`) and the p99"
        " of the answered Submits' time inside the handler (`grpc_server_handling_seconds`,"
        " code OK): the client's p99 less this is time spent before the handler.",
        "",
        "| mix | offered/s | achieved/s | p50 ms | p99 ms | handler p99 ms | refused (client)"
        " | refused (metrics) | read batch mean | write batch mean | pool wait mean ms"
        " | pool wait p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in scraped:
        lines.append(
            f"| {r.mix} | {r.offered_per_s or 'closed'} | {r.achieved_per_s} | {r.p50_ms}"
            f" | {r.p99_ms} | {_shown(r.server_p99_ms)} | {r.refused} | {r.server_refused}"
            f" | {_shown(r.batch_size_read_mean)} | {_shown(r.batch_size_write_mean)}"
            f" | {_shown(r.pool_wait_ms_mean)} | {_shown(r.pool_wait_ms_p99)} |"
        )
    return lines


def _overload_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("overload_offered_per_s"):
        return []
    by_worker = summary.get("cpu_ms_per_claim_by_worker") or []
    return [
        "",
        "## Overload and the workers",
        "",
        f"Offered {summary['overload_offered_per_s']} claims/s (twice the hot capacity of"
        f" {summary['hot_capacity_per_s']}/s), the gateway answered"
        f" {summary['overload_goodput_per_s']} admitted claims/s"
        f" ({summary['overload_goodput_ratio']} of capacity; target >= 0.9) with p99"
        f" {summary['overload_p99_admitted_ms']} ms for the admitted ones (target < 50 ms),"
        f" refused {summary['overload_refused']} at once (RESOURCE_EXHAUSTED) and had"
        f" {summary['overload_errors']} other errors. Inside the handler the admitted claims'"
        f" p99 was {summary.get('overload_server_p99_ms', 0.0)} ms: the rest of their latency"
        " was spent before a handler ran; of it, the load generator itself began its calls late"
        f" by up to {summary.get('overload_send_lag_p99_ms', 0.0)} ms (p99).",
        "",
        f"CPU ms per claim at saturation, by gateway worker process:"
        f" {' / '.join(str(ms) for ms in by_worker) or '-'}"
        f" (the gateway's, all processes: {summary['cpu_ms_per_claim_gateway']}).",
    ]


def _front_lines(summary: dict[str, Any]) -> list[str]:
    if "front_capacity_per_s" not in summary:
        return []
    return [
        "",
        "## HAProxy in front (`--front haproxy`, deploy/haproxy/haproxy.cfg)",
        "",
        f"At most {summary['front_inflight']} calls in the gateway, a call refused after"
        f" waiting {summary['front_queue_ms']} ms for a slot. Closed loop through it with that"
        f" many in flight: {summary['front_capacity_per_s']} claims/s. Offered"
        f" {summary['overload_front_offered_per_s']} claims/s (the same overload as the"
        f" gateway's own), it answered {summary['overload_front_goodput_per_s']} admitted"
        f" claims/s ({summary['overload_front_goodput_ratio']} of the gateway's own hot"
        f" capacity, {summary['overload_front_goodput_ratio_to_front_capacity']} of the"
        f" capacity through the front) with p99 {summary['overload_front_p99_admitted_ms']} ms"
        f" for the admitted ones, refused {summary['overload_front_refused']} and had"
        f" {summary['overload_front_errors']} other errors. HAProxy's own CPU:"
        f" {summary['cpu_ms_per_admitted_call_front']} ms per admitted call, its refusals"
        " included.",
    ]


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
    for r in (r for r in results if r.mix in (OVERLOAD, OVERLOAD_FRONT)):
        alone = r.mix == OVERLOAD
        axes.scatter(
            [r.offered_per_s],
            [max(0.1, r.p99_ms)],
            marker="*" if alone else "P",
            s=80,
            color="tab:red" if alone else "tab:green",
            label=f"{'gateway' if alone else 'behind HAProxy'} overload p99"
            f" (admitted; {r.refused} refused)",
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
