"""docs/grafana/rx-gateway.json: valid dashboard JSON whose every query names metrics the
gateway exports (issue 16)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

from rx_gateway.observability.metrics import _metrics

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "rx-gateway.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported() -> set[str]:
    _metrics()  # the gateway's metrics, registered on first use
    names = set()
    for family in REGISTRY.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def test_every_panel_queries_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "rx-gateway"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exported = _exported()
    used = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            names = set(re.findall(r"\b(?:rxgw|grpc_server)_[a-z_]+", target["expr"]))
            assert names, (panel["title"], target["expr"])
            assert names <= exported, (panel["title"], names - exported)
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            used |= names
    # the list: RPC rate and latency, claims, rejects, pool, batches, in flight,
    # refused, reference version
    for name in (
        "grpc_server_handling_seconds_bucket",
        "grpc_server_handling_seconds_count",
        "rxgw_claims_total",
        "rxgw_rejects_total",
        "rxgw_db_pool_connections",
        "rxgw_db_acquire_seconds_bucket",
        "rxgw_db_batch_size_bucket",
        "rxgw_inflight_requests",
        "rxgw_refused_requests_total",
        "rxgw_reference_data_version_info",
    ):
        assert name in used, name


def test_heatmaps_of_histogram_buckets_ask_for_the_heatmap_format() -> None:
    """A heatmap over a histogram's `_bucket` series needs the target's format "heatmap":
    Grafana then takes each bucket less the one below (Prometheus buckets are cumulative)
    and orders them by `le`; without it every bucket at or above the real size lights up."""
    dashboard = json.loads(DASHBOARD.read_text())
    heatmaps = [p for p in dashboard["panels"] if p["type"] == "heatmap"]
    assert heatmaps
    for panel in heatmaps:
        for target in panel["targets"]:
            if "_bucket" in target["expr"]:
                assert target.get("format") == "heatmap", panel["title"]
                assert "by (le)" in target["expr"].replace("  ", " "), panel["title"]
