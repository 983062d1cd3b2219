"""The metrics API the claim path calls: bounded labels, no PHI, the settings that turn it on,
and the scrape parser (issue 16)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from rx_gateway import config
from rx_gateway.config import Settings
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.observability import (
    record_batch,
    record_claim,
    record_pool_wait,
    record_refused,
    scrape,
    set_reference_version,
    watch_pool,
)
from rx_gateway.observability.metrics import sample_key, start_metrics_listener


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_claims_and_rejects_are_counted_by_bounded_codes() -> None:
    """Known codes are their own label; anything else (a cardholder ID passed by mistake, an
    unknown code) is `other`, so no caller can put PHI or an unbounded value in a label."""
    paid = _value("rxgw_claims_total", txn="B1", status="P")
    rejected = _value("rxgw_claims_total", txn="B1", status="R")
    code_75 = _value("rxgw_rejects_total", reject_code="75")
    other = _value("rxgw_rejects_total", reject_code="other")
    odd = _value("rxgw_claims_total", txn="other", status="other")
    record_claim("B1", "P", ())
    record_claim("B1", "R", ["75", "ZZZ-123456789"])
    record_claim("X9", "Jane Doe", [])
    assert _value("rxgw_claims_total", txn="B1", status="P") == paid + 1
    assert _value("rxgw_claims_total", txn="B1", status="R") == rejected + 1
    assert _value("rxgw_rejects_total", reject_code="75") == code_75 + 1
    assert _value("rxgw_rejects_total", reject_code="other") == other + 1
    assert _value("rxgw_claims_total", txn="other", status="other") == odd + 1
    assert _value("rxgw_rejects_total", reject_code="ZZZ-123456789") == 0


def test_batches_pool_waits_and_refusals() -> None:
    reads = _value("rxgw_db_batch_size_count", kind="read")
    small = _value("rxgw_db_batch_size_bucket", kind="write", le="4.0")
    waits = _value("rxgw_db_acquire_seconds_count")
    refused = _value("rxgw_refused_requests_total")
    record_batch("read", 7)
    record_batch("write", 3)
    record_batch("member 123", 2)  # not a kind: "other"
    record_pool_wait(0.0004)
    record_refused()
    assert _value("rxgw_db_batch_size_count", kind="read") == reads + 1
    assert _value("rxgw_db_batch_size_bucket", kind="write", le="4.0") == small + 1
    assert _value("rxgw_db_batch_size_count", kind="other") >= 1
    assert _value("rxgw_db_acquire_seconds_count") == waits + 1
    assert _value("rxgw_refused_requests_total") == refused + 1


def test_the_reference_version_series_follows_the_loaded_version() -> None:
    set_reference_version("41")
    set_reference_version("42")
    set_reference_version("42")
    assert _value("rxgw_reference_data_version_info", version="42") == 1
    assert REGISTRY.get_sample_value("rxgw_reference_data_version_info", {"version": "41"}) is None


def test_the_pool_gauge_reads_the_pool_at_scrape_time() -> None:
    class Pool:
        size, idle = 10, 7

        def get_size(self) -> int:
            return self.size

        def get_idle_size(self) -> int:
            return self.idle

    pool = Pool()
    watch_pool(pool)
    assert _value("rxgw_db_pool_connections", state="in_use") == 3
    pool.idle = 10
    assert _value("rxgw_db_pool_connections", state="in_use") == 0
    assert _value("rxgw_db_pool_connections", state="idle") == 10


async def test_scrape_reads_a_listener_into_samples() -> None:
    """`scrape` is what `rx-gateway bench` reads: name{labels sorted} → value."""
    record_claim("E1", "A", ())
    listener = start_metrics_listener("127.0.0.1:0")
    try:
        samples = await asyncio.to_thread(scrape, f"http://127.0.0.1:{listener.port}/metrics")
    finally:
        listener.close()
    assert samples['rxgw_claims_total{status="A",txn="E1"}'] >= 1
    assert not [key for key in samples if key.endswith("_created") or "_created{" in key]
    assert sample_key("x", {"b": "2", "a": 'q"1'}) == 'x{a="q\\"1",b="2"}'
    with pytest.raises(InvalidRequest):
        scrape("file:///etc/passwd")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", None), ("127.0.0.1:9464", "127.0.0.1:9464"), ("[::1]:0", "[::1]:0")],
)
def test_metrics_listen_setting(raw: str, expected: str | None) -> None:
    assert Settings.from_env({"RX_GATEWAY_METRICS_LISTEN": raw}).metrics_listen_address == expected


@pytest.mark.parametrize("raw", ["9464", "localhost:http", "127.0.0.1:70000", ":9464"])
def test_a_bad_metrics_listen_setting_names_the_variable(raw: str) -> None:
    with pytest.raises(InvalidRequest, match=r"RX_GATEWAY_METRICS_LISTEN.*HOST:PORT"):
        Settings.from_env({"RX_GATEWAY_METRICS_LISTEN": raw})


def test_development_mode_keeps_the_metrics_listener_on_loopback(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"RX_GATEWAY_DEV_MODE": "1", "RX_GATEWAY_METRICS_LISTEN": "0.0.0.0:9464"}
    )
    assert "RX_GATEWAY_METRICS_LISTEN" in (settings.security_problem() or "")
    assert Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}).metrics_multiprocess_dir
    with pytest.raises(InvalidRequest, match="PROMETHEUS_MULTIPROC_DIR"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})


def test_otel_without_the_extra_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "OTEL_MODULES", ("opentelemetry_not_installed.sdk",))
    with pytest.raises(InvalidRequest, match=r"RX_GATEWAY_OTEL: needs the otel extra"):
        Settings.from_env({"RX_GATEWAY_OTEL": "1"})
    assert not Settings.from_env({"RX_GATEWAY_OTEL": "0"}).otel_enabled
